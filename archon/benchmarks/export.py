"""Self-contained pipeline files: a resolved spec plus what its benchmark lends it at run time.

Why: a pipeline that was evaluated on a benchmark takes three things from it whenever it runs:
the few-shot pool, the way vote reads an answer, and whether inputs are code tasks. A search's
``best.yaml`` is only worth having if it runs without that benchmark's data, from any folder, on
another machine. So an export

- writes those three into a ``task:`` section (the runtime then never loads the benchmark);
- pins node ids (every call's seed derives from its node id and sample index) and the sampling
  settings, and inlines the prompt templates its components use, so a later release's defaults
  cannot change what it runs;
- keeps ``benchmark:`` for ``archon eval``, with its file paths rewritten relative to the
  export's own folder (they were relative to the original spec).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, cast

from archon.benchmarks.base import Benchmark
from archon.benchmarks.builtin import AntonymScorer, CapitalScorer
from archon.benchmarks.evaluate import shot_examples
from archon.benchmarks.registry import load_benchmark
from archon.benchmarks.scorers import SCORERS, ChoiceScorer, Scorer, make_scorer
from archon.components.prompting import PROMPT_NAMES, PromptBook
from archon.errors import BenchmarkError
from archon.graph import compile_pipeline
from archon.spec.dump import dump_yaml
from archon.spec.schema import ANSWER_FORMATS, AnswerFormat, ShotSpec, Spec, TaskSpec, walk_components

__all__ = ["PINNED_FIELDS", "executor_options", "export_spec", "extractor", "task_from_benchmark", "write_export"]

#: Component fields an export writes even at their defaults.
PINNED_FIELDS = ("id", "model", "temperature", "top_p", "max_tokens")

#: Benchmark option keys that hold a file path (resolved like ``path:``).
_PATH_OPTIONS = ("reference_path",)

_OWN_SCORERS: dict[str, Callable[[], Scorer]] = {"capital": CapitalScorer, "antonym": AntonymScorer}


def extractor(answer: str, options: Mapping[str, Any] | None = None) -> Callable[[str], str | None]:
    """The function that reads a final answer the way scorer ``answer`` does (for vote)."""
    if answer in _OWN_SCORERS:
        scorer = _OWN_SCORERS[answer]()
    elif answer in SCORERS:
        scorer = make_scorer(answer, **dict(options or {}))
    else:
        raise BenchmarkError(f"unknown answer format {answer!r} (one of {', '.join(ANSWER_FORMATS)})")
    return scorer.extract


def _answer_format(scorer: Scorer) -> tuple[AnswerFormat, dict[str, Any]]:
    """(name, options) that rebuild ``scorer``'s answer reading through :func:`extractor`."""
    name = getattr(scorer, "name", "")
    if name in ANSWER_FORMATS:
        options: dict[str, Any] = {}
        if isinstance(scorer, ChoiceScorer) and scorer.letters != ChoiceScorer().letters:
            options["letters"] = scorer.letters
        return cast(AnswerFormat, name), options
    if type(scorer).extract is Scorer.extract:
        return "exact", {}  # e.g. a module:function scorer: it reads answers the default way
    raise BenchmarkError(f"scorer {name or type(scorer).__name__!r} reads answers its own way, which an export cannot "
                         "write down; give the benchmark a built-in scorer")


def _uses_shots(spec: Spec) -> bool:
    return any(getattr(c, "few_shot", 0) > 0 for c in walk_components(spec.pipeline.layers))


def task_from_benchmark(benchmark: Benchmark, *, shots: bool = True) -> TaskSpec:
    """The ``task:`` section for pipelines evaluated on ``benchmark``: its kind, its answer
    reading and (with ``shots``) its shot pool, exactly as the evaluation showed them."""
    answer, options = _answer_format(benchmark.scorer)
    pool = shot_examples(benchmark, benchmark.splits().shots) if shots else []
    return TaskSpec(kind=benchmark.kind, answer=answer, answer_options=options,
                    shots=[ShotSpec(id=str(s["id"]), input=s["input"], reference=s["reference"]) for s in pool])


def executor_options(task: TaskSpec) -> dict[str, Any]:
    """``shots``, ``extract`` and ``task`` for :class:`archon.runtime.Executor` from a ``task:``."""
    return {
        "shots": [{"id": s.id, "input": s.input, "reference": s.reference} for s in task.shots],
        "extract": extractor(task.answer, task.answer_options),
        "task": "code" if task.kind == "code" else None,
    }


def _relocated(path: str, base_dir: str | os.PathLike[str] | None, out_dir: Path) -> str:
    """``path`` as written relative to ``base_dir`` -> the same file relative to ``out_dir``."""
    absolute = Path(path) if os.path.isabs(path) else Path(base_dir or ".", path)
    return os.path.relpath(absolute.resolve(), out_dir.resolve())


def export_spec(spec: Spec, *, base_dir: str | os.PathLike[str] | None, out_dir: str | os.PathLike[str]) -> Spec:
    """The self-contained form of ``spec`` for a file written into ``out_dir``.

    ``base_dir`` is the folder the spec's relative paths were written against (the original
    spec's folder; None: the working directory). Loads the benchmark (raises
    :class:`BenchmarkError` when it cannot) unless ``spec`` already has a ``task:`` section.
    The search's own settings are dropped; everything else is kept.
    """
    out = Path(out_dir)
    update: dict[str, Any] = {}
    bench = spec.benchmark
    if bench is not None:
        if spec.task is None:
            loaded = load_benchmark(bench, base_dir=None if base_dir is None else str(base_dir))
            update["task"] = task_from_benchmark(loaded, shots=_uses_shots(spec))
        moved: dict[str, Any] = {}
        if bench.path:
            moved["path"] = _relocated(bench.path, base_dir, out)
        options = {k: _relocated(v, base_dir, out) if k in _PATH_OPTIONS and isinstance(v, str) else v
                   for k, v in bench.options.items()}
        if options != bench.options:
            moved["options"] = options
        update["benchmark"] = bench.model_copy(update=moved)

    # every node's id written out (cascade stages' too): the seeds of its calls derive from it
    update["pipeline"] = compile_pipeline(spec).spec_with_ids()

    kinds = {c.type for c in walk_components(spec.pipeline.layers)}
    book = PromptBook(dict(spec.prompts))
    update["prompts"] = {name: book.template(name) for name in PROMPT_NAMES if name.split(".")[0] in kinds}
    update["search"] = type(spec.search)()
    # through validation, so the result is exactly what loading the written file gives
    data = spec.model_copy(update=update).model_dump(mode="python")
    return Spec.model_validate(data)


def write_export(path: str | os.PathLike[str], spec: Spec, *, base_dir: str | os.PathLike[str] | None,
                 header: str = "") -> Path:
    """Write the self-contained form of ``spec`` to ``path`` (``header``: comment lines on top)."""
    target = Path(path)
    exported = export_spec(spec, base_dir=base_dir, out_dir=target.parent)
    note = ("# Self-contained: the prompts, sampling settings, node ids (seeds) and the task's few-shot examples\n"
            "# and answer reading (task:) are all in this file; benchmark: is only read by `archon eval`.\n")
    target.write_text(header + note + dump_yaml(exported, explicit=PINNED_FIELDS), encoding="utf-8")
    return target
