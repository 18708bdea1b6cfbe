"""Evaluate a pipeline on benchmark records: run it with the executor, score every answer.

A query the pipeline failed on (or that went over budget) scores 0 and is counted in
``n_failed``; a record the scorer could not judge scores 0 and is counted in
``n_scorer_errors``. Both stay in ``n``, so accuracy is never flattered by dropping hard cases,
and both are reported, so a 0 is never silent.

A query on which a model call failed for good after its retries (status ``call_failed``: a rate
limit, a dead server, a timeout) is different: that is the infrastructure's fault, not the
architecture's, and scoring it 0 would let an outage decide which architecture wins. Its row
keeps ``score: None``; it is left out of ``n`` and of the accuracy and counted in
``n_call_failed``. A search treats a trial with many such queries as failed (docs/search.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from archon.benchmarks.base import Benchmark, Record
from archon.runtime import Executor
from archon.util import wilson

__all__ = ["EvalReport", "evaluate", "shot_examples"]


@dataclass
class EvalReport:
    """Accuracy (mean score) over ``n`` records with its Wilson 95% interval, cost and rows.

    ``cost`` sums the pipeline's per-query costs (judge calls made while scoring are in
    ``scoring_cost`` when the client meters them). ``rows`` holds one JSON-ready dict per record.
    """

    benchmark: str
    accuracy: float
    ci_low: float
    ci_high: float
    n: int
    n_failed: int
    n_scorer_errors: int
    cost: Any
    rows: list[dict[str, Any]] = field(default_factory=list)
    scoring_cost: dict[str, Any] | None = None
    n_call_failed: int = 0  # queries left out of ``n``: a model call failed for good

    @property
    def failed(self) -> int:
        return self.n_failed

    def summary(self) -> dict[str, Any]:
        cost = dataclasses.asdict(self.cost) if dataclasses.is_dataclass(self.cost) and not isinstance(self.cost, type) else self.cost
        return {
            "benchmark": self.benchmark,
            "accuracy": self.accuracy,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "n_failed": self.n_failed,
            "n_scorer_errors": self.n_scorer_errors,
            "n_call_failed": self.n_call_failed,
            "cost": cost,
            "scoring_cost": self.scoring_cost,
        }


def shot_examples(benchmark: Benchmark, shots: Sequence[Record]) -> list[dict[str, str]]:
    """Solved examples in the form generate's few-shot prompts read (``input``, ``reference``)."""
    out = []
    for r in shots:
        answer = r.metadata.get("shot_answer") or benchmark.scorer.reference_text(r)
        out.append({"id": r.id, "input": benchmark.prompt(r), "reference": str(answer)})
    return out


def _snapshot(client: Any) -> Any:
    meter = getattr(client, "meter", None)
    snap = getattr(meter, "snapshot", None)
    return snap() if callable(snap) else None


async def evaluate(
    pipeline: Any,
    benchmark: Benchmark,
    records: Sequence[Record],
    client: Any,
    *,
    shots: Sequence[Record] | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 16,
    trace: bool = False,
    executor_options: dict[str, Any] | None = None,
) -> EvalReport:
    """Run ``pipeline`` on ``records`` and score the answers.

    ``shots`` default to the benchmark's shot pool (never scored). Queries run in batches of
    ``batch_size`` (every query of a batch goes through each node together); ``progress(done,
    total)`` is called after each batch.
    """
    records = list(records)
    shot_records = benchmark.splits().shots if shots is None else list(shots)
    opts = dict(executor_options or {})
    opts.setdefault("task", "code" if benchmark.kind == "code" else None)
    executor = Executor(pipeline, client, shots=shot_examples(benchmark, shot_records), extract=benchmark.extract, **opts)

    rows: list[dict[str, Any]] = []
    costs = []
    total_value = 0.0
    n_failed = n_scorer_errors = n_call_failed = 0
    size = max(1, int(batch_size))
    for start in range(0, len(records), size):
        batch = records[start : start + size]
        results = await executor.run_batch([benchmark.prompt(r) for r in batch], trace=trace)
        before = _snapshot(client)
        for record, result in zip(batch, results):
            costs.append(result.cost)
            row: dict[str, Any] = {
                "id": record.id,
                "query": result.query,
                "reference": record.reference,
                "answer": result.answer,
                "status": result.status,
                "error": result.error,
            }
            if result.status == "call_failed":
                n_call_failed += 1
                row.update(score=None, extracted=None, scorer_error=None)
            elif result.status != "ok" or result.answer is None:
                n_failed += 1
                row.update(score=0.0, extracted=None, scorer_error=None)
            else:
                score = await benchmark.ascore(record, result.answer, client)
                total_value += score.value
                if score.error:
                    n_scorer_errors += 1
                row.update(score=score.value, extracted=score.extracted, scorer_error=score.error)
            cost = result.cost
            row["cost"] = dataclasses.asdict(cost) if dataclasses.is_dataclass(cost) else cost
            if result.answered_by:
                row["answered_by"] = dict(result.answered_by)  # the cascade stage that answered
            if trace and result.trace is not None:
                row["trace"] = result.to_dict(trace=True)
            rows.append(row)
        after = _snapshot(client)
        if before is not None and after is not None and benchmark.kind == "judge":
            _accumulate_scoring(rows, before, after)
        if progress is not None:
            progress(len(rows), len(records))

    n = len(records) - n_call_failed
    accuracy = total_value / n if n else 0.0
    low, high = wilson(total_value, n)
    total_cost = sum(costs[1:], costs[0]) if costs else None
    scoring = _scoring_totals(rows) if benchmark.kind == "judge" else None
    for row in rows:
        row.pop("_scoring", None)
    return EvalReport(benchmark.name, accuracy, low, high, n, n_failed, n_scorer_errors, total_cost, rows, scoring,
                      n_call_failed)


def _accumulate_scoring(rows: list[dict[str, Any]], before: Any, after: Any) -> None:
    delta = {k: getattr(after, k) - getattr(before, k) for k in ("calls", "cache_hits", "dollars", "prompt_tokens", "completion_tokens")}
    rows[-1]["_scoring"] = delta


def _scoring_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for row in rows:
        for k, v in (row.get("_scoring") or {}).items():
            total[k] = total.get(k, 0) + v
    return total
