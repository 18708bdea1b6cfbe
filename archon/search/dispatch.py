"""Where shards run: Ray tasks (the default), or an in-process event loop (tests, tiny runs).

Ray: each shard is one task named ``trial-<n>/shard-<k>`` (the dashboard's task list reads as
search progress), with ``max_retries`` so a dead worker's task runs again elsewhere. A task asks
for the resources its models need: one CPU by default, ``num_gpus`` when the pipeline's vLLM
models are run inside the task (``vllm_in_task``), and any custom resources the caller names
(``task_resources``) — that is how a cluster pins evaluation to the nodes that carry a resource.
Models that hold a GPU across tasks live in H4's shared vLLM actors; the tasks then only talk to
them.

What a task needs reaches it without the driver's filesystem (docs/cluster.md): the benchmark
is put into Ray's object store once per search, the call cache is one service for the cluster
(archon.backends.cache_service, an actor on the driver's node in front of the run directory's
cache file), user code a spec names ships in the job's ``runtime_env``
(archon.search.worker_code), and results come back as values: only the driver writes the run
directory.

Local mode starts a *private* Ray runtime bound to 127.0.0.1 with its temp dir in the run
directory (see ENVIRONMENT.md: the env vars below keep every listener on loopback, turn token
auth and usage reporting off); ``ray_address`` (``auto`` or ``host:port``) joins a cluster
instead. Only a runtime this module started is shut down by it.

Results are keyed by the shard's key; the driver ignores a key it already counted, so a task
that Ray ran twice (retry after a lost result) is never counted twice.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import tempfile
import threading
import warnings
import asyncio
from pathlib import Path
from typing import Any, Protocol

from archon.backends.cache_service import start_cache_service
from archon.search import ray_watchdog
from archon.search.evaluation import ShardContext, ShardJob, ShardResult, arun_shard, run_shard

__all__ = ["Dispatcher", "InProcessDispatcher", "RayDispatcher", "ray_env", "task_options"]

RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Ray runs workers at nice 15 by default; in a private runtime the workers *are* the search
    # (model calls), so they run at normal priority like the driver.
    "RAY_worker_niceness": "0",
}


def ray_env() -> None:
    """Environment for a loopback-only, token-less, silent private Ray runtime."""
    for k, v in RAY_ENV.items():
        os.environ.setdefault(k, v)


class Dispatcher(Protocol):
    description: str

    def submit(self, job: ShardJob, options: dict[str, Any]) -> None: ...

    def wait(self, timeout: float) -> list[ShardResult]: ...

    def in_flight(self) -> int: ...

    def cancel(self, keys: list[str] | None = None) -> None: ...

    def close(self) -> None: ...


def task_options(spec: Any, *, task_resources: dict[str, float] | None = None, vllm_in_task: bool = False) -> dict[str, Any]:
    """Ray ``.options`` for a shard of a pipeline using ``spec``'s models."""
    opts: dict[str, Any] = {"num_cpus": 1}
    gpus = 0.0
    if vllm_in_task:
        for m in spec.models.values():
            if m.kind == "vllm":
                gpus = max(gpus, (m.engine.num_gpus if m.engine else 1.0))
    if gpus:
        opts["num_gpus"] = gpus
    if task_resources:
        opts["resources"] = dict(task_resources)
    return opts


# ---------------------------------------------------------------------------- in process


class InProcessDispatcher:
    """Runs shards as coroutines on one event loop in a background thread, with one client."""

    def __init__(self, client: Any, benchmark: Any, *, preload: tuple[str, ...] = ()) -> None:
        self.client = client
        self.context = ShardContext(benchmark=benchmark, cache=client.cache, preload=tuple(preload))
        self.description = "in-process (no Ray)"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="archon-search-loop", daemon=True)
        self._thread.start()
        self._futures: dict[str, cf.Future[ShardResult]] = {}

    def submit(self, job: ShardJob, options: dict[str, Any]) -> None:
        fut = asyncio.run_coroutine_threadsafe(arun_shard(job, self.context, client=self.client), self._loop)
        self._futures[job.key] = fut

    def in_flight(self) -> int:
        return len(self._futures)

    def wait(self, timeout: float) -> list[ShardResult]:
        if not self._futures:
            return []
        done, _ = cf.wait(list(self._futures.values()), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for key, fut in list(self._futures.items()):
            if fut in done:
                del self._futures[key]
                if fut.cancelled():
                    continue
                out.append(fut.result())
        return out

    def cancel(self, keys: list[str] | None = None) -> None:
        for key in list(keys if keys is not None else self._futures):
            fut = self._futures.pop(key, None)
            if fut is not None:
                fut.cancel()

    def close(self) -> None:
        self.cancel()

        async def drain() -> None:
            # let cancelled shards unwind (their pending calls included) before the loop stops,
            # so nothing is destroyed while pending
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            aclose = getattr(self.client, "aclose", None)
            if aclose is not None:
                await aclose()
            await self._loop.shutdown_asyncgens()

        try:
            asyncio.run_coroutine_threadsafe(drain(), self._loop).result(timeout=30)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


# ---------------------------------------------------------------------------- ray


def _short_temp_dir(run_dir: Path) -> str:
    """Ray's unix socket paths must stay short (~107 bytes): use the run dir when it allows."""
    candidate = run_dir / "ray"
    if len(str(candidate)) <= 50:
        candidate.mkdir(parents=True, exist_ok=True)
        return str(candidate)
    return tempfile.mkdtemp(prefix="archon-ray-")


class RayDispatcher:
    """Shards as Ray tasks. ``address`` None -> a private local runtime; else join that cluster.

    ``benchmark`` is put into the object store once; ``cache_path`` (the driver's cache file, or
    a replay table) is served to every node by a cache service on this node; ``runtime_env`` (see
    archon.search.worker_code) ships user code to the workers; ``preload`` names modules each task
    imports first.
    """

    def __init__(
        self,
        *,
        address: str | None,
        run_dir: Path,
        benchmark: Any,
        cache_path: str | os.PathLike[str] | None = None,
        replay: dict[str, bool] | None = None,
        preload: tuple[str, ...] = (),
        runtime_env: dict[str, Any] | None = None,
        num_cpus: int | None = None,
        max_retries: int = 3,
    ) -> None:
        ray_env()
        import logging

        import ray

        self._ray = ray
        self.max_retries = max_retries
        self.started = False
        self.connected = False
        self._watchdog = None
        # user code travels in the job's runtime_env: Ray uploads local modules only at ray.init
        job_env = runtime_env or None
        if ray.is_initialized():
            ctx = None  # the caller's Ray: used as is, left as is
            if runtime_env:
                warnings.warn(
                    "Ray was initialised before the search: its workers get none of the search's own code "
                    f"({', '.join(runtime_env.get('py_modules', []))}); pass runtime_env={runtime_env!r} to your "
                    "ray.init(), or let the search connect (ray_address=...)", RuntimeWarning, stacklevel=3)
        elif address is None:
            ctx = ray.init(
                address="local",
                _temp_dir=_short_temp_dir(run_dir),
                include_dashboard=True,
                dashboard_host="127.0.0.1",
                num_cpus=num_cpus or os.cpu_count() or 1,
                logging_level=logging.WARNING,
                log_to_driver=False,
                runtime_env=job_env,
            )
            self.started = True
            self._watchdog = ray_watchdog.start()  # stops the runtime if this process is killed
        else:
            ctx = ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, runtime_env=job_env)
            self.connected = True
        url = getattr(ctx, "dashboard_url", None) if ctx is not None else None
        self.dashboard_url = f"http://{url}" if url and not str(url).startswith("http") else url
        where = "private local Ray" if self.started else f"Ray cluster {address or '(already initialised)'}"
        self.description = where + (f", dashboard {self.dashboard_url}" if self.dashboard_url else "")
        self.cache = None
        self._refs: dict[str, Any] = {}
        try:
            if cache_path is not None:
                self.cache = start_cache_service(cache_path)
            self.context = ShardContext(benchmark=ray.put(benchmark), cache=self.cache, replay=replay,
                                        preload=tuple(preload))
            self._remote = ray.remote(_ray_run_shard)
        except BaseException:
            self.close()
            raise

    def submit(self, job: ShardJob, options: dict[str, Any]) -> None:
        name = job.key
        ref = self._remote.options(name=name, max_retries=self.max_retries, **options).remote(job, self.context)
        self._refs[job.key] = ref

    def in_flight(self) -> int:
        return len(self._refs)

    def wait(self, timeout: float) -> list[ShardResult]:
        ray = self._ray
        if not self._refs:
            return []
        by_ref = {ref: key for key, ref in self._refs.items()}
        ready, _ = ray.wait(list(by_ref), num_returns=1, timeout=timeout)
        # collect everything else that is ready too, without waiting
        if ready:
            more, _ = ray.wait([r for r in by_ref if r not in ready], num_returns=len(by_ref) - len(ready), timeout=0)
            ready = list(ready) + list(more)
        out = []
        for ref in ready:
            key = by_ref[ref]
            del self._refs[key]
            try:
                out.append(ray.get(ref))
            except Exception as exc:  # noqa: BLE001 - a task that failed for good (retries spent)
                trial, shard = _parse_key(key)
                out.append(ShardResult(key, trial, -1, shard, "", error=f"ray task failed: {type(exc).__name__}: {exc}"))
        return out

    def cancel(self, keys: list[str] | None = None) -> None:
        for key in list(keys if keys is not None else self._refs):
            ref = self._refs.pop(key, None)
            if ref is not None:
                try:
                    self._ray.cancel(ref, force=False)
                except Exception:  # noqa: BLE001 - already finished
                    pass

    def close(self) -> None:
        self.cancel()
        if self.cache is not None:
            self.cache.shutdown()  # every result is in: the service's work is done
            self.cache = None
        if self.started or self.connected:
            # stops the private runtime we started; for a cluster we joined, only disconnects
            self._ray.shutdown()
        ray_watchdog.stop(self._watchdog)
        self._watchdog = None


def _ray_run_shard(job: ShardJob, context: ShardContext) -> ShardResult:
    result = run_shard(job, context)
    try:
        import ray

        result.node = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - informational only
        pass
    return result


def _parse_key(key: str) -> tuple[int, int]:
    """(trial, shard) from ``trial-<n>/shard-<k>``; (-1, -1) for other keys."""
    try:
        head, _, tail = key.partition("/")
        return int(head.split("-", 1)[1]), int(tail.split("-", 1)[1])
    except (IndexError, ValueError):
        return -1, -1
