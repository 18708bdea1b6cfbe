"""``load_benchmark``: a spec's ``benchmark:`` section (or a bare name) -> a :class:`Benchmark`."""

from __future__ import annotations

from typing import Any, cast

from archon.benchmarks.base import Benchmark, Kind
from archon.benchmarks.builtin import BUILTINS
from archon.benchmarks.loaders import LOADERS
from archon.benchmarks.scorers import make_scorer
from archon.errors import BenchmarkError
from archon.spec.schema import BenchmarkSpec
from archon.util import did_you_mean

__all__ = ["benchmark_names", "load_benchmark"]


def benchmark_names() -> list[str]:
    return sorted([*BUILTINS, *LOADERS])


def load_benchmark(spec: Any, *, base_dir: str | None = None, **overrides: Any) -> Benchmark:
    """Build the benchmark a ``BenchmarkSpec`` (or a name) describes.

    ``base_dir`` resolves a relative ``path:`` (the CLI passes the spec file's folder).
    ``overrides`` replace fields of the spec (e.g. ``dev=20``). Raises :class:`BenchmarkError`
    (an input error: the CLI prints it as one line) for unknown names and malformed data.
    """
    if isinstance(spec, str):
        spec = BenchmarkSpec(name=spec)
    elif isinstance(spec, dict):
        spec = BenchmarkSpec(**spec)
    if overrides:
        spec = spec.model_copy(update=overrides)
    name = spec.name
    if name in BUILTINS:
        kind, build = BUILTINS[name]
        if spec.path is not None:
            raise BenchmarkError(f"benchmark {name!r} is built in and takes no 'path:' (use name: jsonl for your own data)")
        records, scorer, prompt, desc = build(dict(spec.options))
        if spec.scorer:
            scorer = make_scorer(spec.scorer)
    elif name in LOADERS:
        kind, loader = LOADERS[name]
        records, scorer, prompt, desc = loader(name, spec, base_dir)
        if name in ("jsonl", "csv"):
            kind = {"code": "code", "choice": "choice", "math": "math", "numeric": "math",
                    "judge": "judge", "rating": "judge"}.get(spec.scorer or "exact", "qa")
    else:
        close = did_you_mean(name, benchmark_names())
        hint = f"did you mean {close!r}?" if close else f"known: {', '.join(benchmark_names())}"
        raise BenchmarkError(f"unknown benchmark {name!r} ({hint})")
    if not records:
        raise BenchmarkError(f"benchmark {name!r} has no records with options {dict(spec.options)}")
    return Benchmark(
        name=name,
        kind=cast(Kind, kind),  # the tables above hold only Kind names
        records=records,
        prompt_fn=prompt,
        scorer=scorer,
        shots=spec.shots,
        dev=spec.dev,
        test=spec.test,
        selection=spec.selection,
        seed=spec.seed,
        description=desc,
        options=dict(spec.options),
    )
