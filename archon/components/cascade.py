"""cascade: spend more only on the queries a cheap stage is unsure of.

Runs stage 1 for every query, then, after each stage but the last, computes the stage's
confidence signal per query; a query whose confidence is below the stage's ``threshold`` goes on
to the next stage, the others keep the stage's answer. Each stage runs as one batch: the executor
(:attr:`NodeContext.run_stage`) runs the stage's nodes node by node over the queries that reached
it, so the local engine and vLLM see one batch per node, API backends their full concurrency.

Signals, each a confidence in [0, 1] (the stage layout says what each one reads:
:class:`archon.graph.cascade.Stage`):

* ``vote_margin``: among the answers extracted (the benchmark's way) from the candidates of the
  stage's widest node (its last with two or more candidates, else the cascade's inputs), the
  votes of the most common answer minus those of the runner-up, over the number of candidates (a
  candidate with no extractable answer votes for nothing). 1: all agree.
* ``verdict``: 1 when the stage's answer carries a verifier's passing verdict, else 0.
* ``logprob``: the per-token probability of the answer's text, ``exp`` of the mean token
  log-probability of the call that wrote it (for a vote's answer, the mean over the samples that
  voted for it). A call that returned none counts as 0 and is recorded as a parse failure.
* ``parses``: 1 when the benchmark's answer extraction finds an answer in the stage's answer.

Produces the answering stage's output candidates (ids of the stage's nodes,
``<cascade>.s<k>.<node>``). A query an earlier stage *fails* (e.g. a verify with ``fallback:
fail``) goes on to the next stage; a failure in the last stage, a call that failed for good and
the per-query budget end the query as anywhere else. The trace gets, per query,
``notes[node]["stages"]`` (each stage's signal, confidence and whether the query went on) and
``notes[node]["answered_by"]``; :attr:`QueryResult.answered_by` carries the stage number.
Calls per query: those of the stages the query reached (statically, all stages: the worst case).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable, Mapping

from archon.components.base import NodeContext
from archon.components.types import Candidate, QueryState

__all__ = ["answer_logprob", "confidence", "escalation", "run", "vote_margin"]


def vote_margin(cands: list[Candidate], extract: Any) -> float:
    """(votes of the most common answer - votes of the runner-up) / number of candidates."""
    if not cands:
        return 0.0
    votes = Counter(str(a) for a in (extract(c.text) for c in cands) if a is not None)
    top = votes.most_common(2) + [("", 0), ("", 0)]
    return (top[0][1] - top[1][1]) / len(cands)


def answer_logprob(answer: Candidate, state: QueryState) -> float | None:
    """The mean token log-probability of the call that wrote ``answer``'s text; for an answer
    copied from others (a vote's), the mean over the candidates it was copied from."""
    known = {c.id: c for c in state.all_candidates()}
    seen: set[str] = set()

    def of(cand: Candidate) -> float | None:
        if cand.id in seen:
            return None
        seen.add(cand.id)
        value = cand.annotations.get("logprob")
        if isinstance(value, (int, float)):
            return float(value)
        found = [v for v in (of(known[p]) for p in cand.parents if p in known) if v is not None]
        return sum(found) / len(found) if found else None

    return of(answer)


def _merged(state: QueryState, nodes: Iterable[str]) -> list[Candidate]:
    out: dict[str, Candidate] = {}
    for node in nodes:
        for cand in state.candidates.get(node, []):
            out.setdefault(cand.id, cand)
    return list(out.values())


def confidence(stage: Any, state: QueryState, ctx: NodeContext) -> float:
    """How sure ``stage`` is of its answer for ``state`` (see the module docstring)."""
    if stage.signal == "vote_margin":
        return vote_margin(_merged(state, stage.margin_from), ctx.extract)
    answer = state.candidates[stage.output][0]
    if stage.signal == "verdict":
        verdict = answer.annotations.get("verdict")
        return 1.0 if isinstance(verdict, Mapping) and verdict.get("passed") else 0.0
    if stage.signal == "parses":
        return 0.0 if ctx.extract(answer.text) is None else 1.0
    if stage.signal == "logprob":
        logprob = answer_logprob(answer, state)
        if logprob is None:
            state.parse_failure(ctx.node_id, "logprob", f"no log-probability for {answer.id}", "confidence 0: the query goes on",
                                candidate=answer.id)
            return 0.0
        return math.exp(min(0.0, logprob))
    raise ValueError(f"unknown signal {stage.signal!r}")


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    assert ctx.run_stage is not None and ctx.stages, "the executor runs a cascade's stages"
    pending = list(states)
    for k, stage in enumerate(ctx.stages):
        if not pending:
            break
        await ctx.run_stage(k, pending)
        onward = []
        for state in pending:
            record: dict[str, Any] = {"stage": stage.number}
            steps = state.notes.setdefault(ctx.node_id, {}).setdefault("stages", [])
            steps.append(record)
            if not stage.last and state.status == "failed":
                record.update(failed=state.reopen(), went_on=True)
                onward.append(state)
                continue
            if not state.active:
                continue
            if not stage.last:
                value = confidence(stage, state, ctx)
                record.update(signal=stage.signal, confidence=round(value, 6), threshold=stage.threshold)
                if value < stage.threshold:
                    record["went_on"] = True
                    onward.append(state)
                    continue
            state.candidates[ctx.node_id] = list(state.candidates[stage.output])
            state.answered_by[ctx.node_id] = stage.number
            state.note(ctx.node_id, "answered_by", stage.number)
        pending = onward


def escalation(answered: Iterable[Mapping[str, int] | None]) -> dict[str, Any] | None:
    """How far queries went: ``rate`` (share answered after stage 1), ``stages`` (stage number
    -> queries it answered) and ``n``, over queries a cascade answered (a pipeline with several
    cascades counts a query's furthest stage). None when no query has a cascade record."""
    furthest = [max(a.values()) for a in answered if a]
    if not furthest:
        return None
    counts = Counter(furthest)
    return {"rate": sum(1 for s in furthest if s > 1) / len(furthest), "n": len(furthest),
            "stages": {str(k): counts[k] for k in sorted(counts)}}
