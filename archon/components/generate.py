"""generate: sample ``samples`` responses from each model for the query.

Consumes the query (and, when ``few_shot`` > 0, shots from the benchmark's shot pool, shown as
earlier user/assistant turns). Produces ``len(models) * samples`` new candidates with ids
``<node>:<model>:<sample>``. Calls per query: ``len(models) * samples``, except at temperature 0,
where the samples of one model are the same greedy call, sent and paid once.

A call that failed for good (after the client's retries) marks the query ``call_failed``: going
on with fewer samples than the architecture asks for would silently change its score, so such a
query is left out of the score and counted instead (archon.benchmarks.evaluate). Each failure is
still recorded as a call record with its error and a ``call`` parse failure entry.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Sequence

from archon.components.base import NodeContext, build_messages, dispatch, make_request, with_logprob
from archon.components.types import Candidate, QueryState

__all__ = ["candidate_id", "choose_shots", "run"]


def candidate_id(node_id: str, model: str, position: int, models: Sequence[str], sample: int) -> str:
    # The same model listed twice gets its position in the list, so ids stay unique.
    label = model if list(models).count(model) == 1 else f"{model}@{position}"
    return f"{node_id}:{label}:{sample}"


def _field(record: Any, name: str) -> Any:
    if isinstance(record, dict):
        return record.get(name)
    return getattr(record, name, None)


def choose_shots(shots: Sequence[Any], k: int, query: str) -> list[Any]:
    """``k`` shots for ``query``, chosen deterministically from the query text.

    A shot whose input is the query itself is never shown (it would give the answer away).
    """
    if k <= 0 or not shots:
        return []
    pool = [s for s in shots if str(_field(s, "input")) != query]
    seed = int.from_bytes(hashlib.sha256(query.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    return rng.sample(pool, min(k, len(pool)))


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    models = node.model_list()
    items = []
    meta = []
    for state in states:
        history: list[tuple[str, str]] = []
        for shot in choose_shots(ctx.shots, node.few_shot, state.query):
            shot_prompt = ctx.prompts.render("generate.user", {"query": _field(shot, "input")}, node, "generate")
            history.append(("user", shot_prompt))
            history.append(("assistant", str(_field(shot, "reference"))))
        system = ctx.prompts.render("generate.system", {"query": state.query}, node, "generate")
        user = ctx.prompts.render("generate.user", {"query": state.query}, node, "generate")
        messages = build_messages(system, user, history)
        for position, model in enumerate(models):
            for sample in range(node.samples):
                items.append((state, make_request(ctx, node, messages, tag="generate", model=model, sample_index=sample,
                                                  logprobs=ctx.logprobs)))
                meta.append((position, model, sample))
    results = await dispatch(ctx, items)
    produced: dict[int, list[Candidate]] = {id(s): [] for s in states}
    errors: dict[int, list[str]] = {id(s): [] for s in states}
    for (state, _), (position, model, sample), result in zip(items, meta, results):
        cid = candidate_id(ctx.node_id, model, position, models, sample)
        if not result.ok:
            errors[id(state)].append(f"{cid}: {result.error}")
            state.parse_failure(ctx.node_id, "call", str(result.error), "sample dropped", candidate=cid)
            continue
        cand = Candidate(id=cid, text=result.text, node=ctx.node_id, model=model, sample_index=sample)
        produced[id(state)].append(with_logprob(cand, result))
    for state in states:
        cands = produced[id(state)]
        if errors[id(state)]:
            state.note(ctx.node_id, "failed_samples", errors[id(state)])
        if not cands:
            state.fail(ctx.node_id, f"all {len(errors[id(state)])} samples failed; first error: {errors[id(state)][0]}")
            continue
        state.candidates[ctx.node_id] = cands
