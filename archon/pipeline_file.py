"""``load_pipeline``: a pipeline file, ready to answer queries from Python.

Why this module sits above ``archon.benchmarks`` (and not in ``archon.runtime``): a pipeline file
runs on new inputs the way it ran when it was evaluated, so when it names a ``benchmark:`` its
few-shot examples, its answer extractor (for vote) and whether its task is code (for unit_test)
come from that benchmark. The runtime itself takes those as plain arguments and knows no
benchmark.

Why a private event-loop thread for the synchronous methods: the client's connection pools and
semaphores belong to one loop, so every synchronous ``run``/``run_batch`` goes to the same loop
(and works inside Jupyter, where a loop is already running in the main thread). In async code
use ``arun``/``arun_batch``; do not mix both on one ``LoadedPipeline``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from archon.backends.client import Client, LoopThread
from archon.benchmarks import load_benchmark, shot_examples
from archon.benchmarks.export import executor_options
from archon.errors import StateError
from archon.graph import compile_pipeline, compile_spec_file
from archon.graph.kinds import kind_of
from archon.runtime import Executor, QueryResult
from archon.spec.schema import Spec

__all__ = ["LoadedPipeline", "benchmark_hooks", "load_pipeline", "needs_benchmark"]


class LoadedPipeline:
    """A compiled pipeline with its client. Use as a context manager or call :meth:`close`."""

    def __init__(self, pipeline: Any, client: Any, *, path: str | None = None, **executor_options: Any) -> None:
        self.pipeline = pipeline
        self.client = client
        self.path = path
        self.executor = Executor(pipeline, client, **executor_options)
        self._loop: LoopThread | None = None
        self._closed = False

    @property
    def spec(self) -> Any:
        return self.pipeline.spec

    async def arun_batch(
        self,
        queries: Iterable[str],
        *,
        trace: bool | None = None,
        on_node: Callable[[str, int], None] | None = None,
    ) -> list[QueryResult]:
        return await self.executor.run_batch(list(queries), trace=trace, on_node=on_node)

    async def arun(self, query: str, *, trace: bool | None = None) -> QueryResult:
        return (await self.arun_batch([query], trace=trace))[0]

    def run_batch(
        self,
        queries: Sequence[str],
        *,
        trace: bool | None = None,
        on_node: Callable[[str, int], None] | None = None,
    ) -> list[QueryResult]:
        if self._closed:
            raise StateError("this pipeline was closed")
        if self._loop is None:
            self._loop = LoopThread()
        return self._loop.run(self.arun_batch(queries, trace=trace, on_node=on_node))

    def run(self, query: str, *, trace: bool | None = None) -> QueryResult:
        return self.run_batch([query], trace=trace)[0]

    async def aclose(self) -> None:
        self._closed = True
        await self.client.aclose()
        cache = getattr(self.client, "cache", None)
        if cache is not None:
            cache.close()

    def close(self) -> None:
        """Close the backends and the cache file (idempotent)."""
        if self._closed and self._loop is None:
            return
        if self._loop is not None:
            self._loop.run(self.aclose())
            self._loop.stop()
            self._loop = None
        else:
            self._closed = True
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(self.aclose())
            else:
                raise StateError("close() called from a running event loop: await aclose() instead")

    def __enter__(self) -> LoadedPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LoadedPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def needs_benchmark(pipeline: Any) -> bool:
    """Whether any node uses what a benchmark provides (shots, answer extraction, code-ness)."""
    return any(kind_of(c).uses_benchmark(c) for c in (pipeline.component(n) for n in pipeline.order))


def benchmark_hooks(pipeline: Any, base_dir: str | None) -> dict[str, Any]:
    """Shots, extractor and task, so a pipeline runs on new inputs exactly as it ran when it was
    evaluated (few-shot examples, how vote reads answers, whether unit_test executes code).

    From the spec's ``task:`` section when it has one (exports do: the benchmark's data is then
    never read), else from its ``benchmark:``. Empty when neither is there or nothing needs it.
    """
    task = getattr(pipeline.spec, "task", None)
    if task is not None:
        return executor_options(task)
    bench_spec = getattr(pipeline.spec, "benchmark", None)
    if bench_spec is None or not needs_benchmark(pipeline):
        return {}
    bench = load_benchmark(bench_spec, base_dir=base_dir)
    return {
        "shots": shot_examples(bench, bench.splits().shots),
        "extract": bench.extract,
        "task": "code" if bench.kind == "code" else None,
    }


def load_pipeline(
    path: str | os.PathLike[str] | Any,
    *,
    cache: str | os.PathLike[str] | bool | None = None,
    fake: Any = None,
    shots: Sequence[Any] | None = None,
    extract: Callable[[str], str | None] | None = None,
    task: str | None = None,
    trace: bool = False,
    use_benchmark: bool = True,
) -> LoadedPipeline:
    """Load a pipeline file (a resolved spec, e.g. a search's ``best.yaml``) for running.

    ``path`` may also be a validated :class:`archon.spec.schema.Spec` (relative paths in it are
    then read from the working directory).

    ``cache``: a cache file path, ``False`` for no cache, ``None`` for the spec's setting or the
    user-level default. ``fake``: serve every model with this fake backend or script (tests).
    ``shots``/``extract``/``task``: see :class:`archon.runtime.Executor`; by default they come
    from the spec's ``benchmark:`` when a node needs them (``use_benchmark=False`` to skip).
    """
    if isinstance(path, Spec):
        pipeline, base_dir, name = compile_pipeline(path), None, path.name or "<spec>"
    else:
        pipeline, base_dir, name = compile_spec_file(path), str(Path(path).resolve().parent), str(path)
    hooks = benchmark_hooks(pipeline, base_dir) if use_benchmark else {}
    options: dict[str, Any] = {
        "shots": shots if shots is not None else hooks.get("shots", ()),
        "extract": extract or hooks.get("extract"),
        "task": task or hooks.get("task"),
        "trace": trace,
    }
    client_cache: Any = Path(cache) if isinstance(cache, os.PathLike) else cache
    client = Client.from_spec(pipeline.spec, cache=client_cache, fake=fake)
    return LoadedPipeline(pipeline, client, path=name, **options)
