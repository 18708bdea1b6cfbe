"""refine: critique-and-revise each candidate for ``rounds`` rounds.

Consumes the query and candidates. Produces one new candidate per input,
``<node>:<k>`` (k = position), whose parent is the version it revised (for rounds > 1 the
intermediate versions ``<node>:r<round>:<k>`` appear in the trace notes, not as outputs). New
candidates start with empty annotations. Calls per query: ``2 * rounds * candidates``, sent as
two batched calls per round (all critiques, then all revisions, across every query).
A failed call fails the query.
"""

from __future__ import annotations

from typing import Any

from archon.backends.records import CallResult
from archon.components.base import NodeContext, build_messages, dispatch, input_candidates, make_request, with_logprob
from archon.components.types import Candidate, QueryState

__all__ = ["run"]


async def _round(node: Any, states: list[QueryState], ctx: NodeContext, current: dict[int, list[Candidate]], prompt: str, tag: str,
                 extra: dict[tuple[int, int], CallResult] | None, *, logprobs: bool = False) -> dict[tuple[int, int], CallResult]:
    items, owners = [], []
    for state in states:
        if not state.active:
            continue
        system = ctx.prompts.render("refine.system", {"query": state.query}, node, "refine")
        for i, cand in enumerate(current[id(state)]):
            critique = (extra or {}).get((id(state), i))
            fields = {"query": state.query, "candidate": cand.text, "critique": critique.text if critique else ""}
            user = ctx.prompts.render(prompt, fields, node, "refine")
            items.append((state, make_request(ctx, node, build_messages(system, user), tag=tag, logprobs=logprobs)))
            owners.append(i)
    results = await dispatch(ctx, items)
    out: dict[tuple[int, int], CallResult] = {}
    for (state, _), i, result in zip(items, owners, results):
        if not result.ok:
            state.fail(ctx.node_id, f"{tag} call for {current[id(state)][i].id} failed: {result.error}")
            continue
        out[(id(state), i)] = result
    return out


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    current = {id(s): input_candidates(s, ctx) for s in states}
    for rnd in range(1, node.rounds + 1):
        critiques = await _round(node, states, ctx, current, "refine.critique", "refine.critique", None)
        revisions = await _round(node, states, ctx, current, "refine.revise", "refine.revise", critiques, logprobs=ctx.logprobs)
        for state in states:
            if not state.active:
                continue
            last = rnd == node.rounds
            new = []
            for i, cand in enumerate(current[id(state)]):
                cid = f"{ctx.node_id}:{i}" if last else f"{ctx.node_id}:r{rnd}:{i}"
                revision = revisions[(id(state), i)]
                new.append(with_logprob(Candidate(id=cid, text=revision.text, node=ctx.node_id, model=node.model, sample_index=0,
                                                  parents=(cand.id,)), revision))
            if not last:
                state.notes.setdefault(ctx.node_id, {}).setdefault("intermediate", []).extend(c.to_dict() for c in new)
            current[id(state)] = new
    for state in states:
        if state.active:
            state.candidates[ctx.node_id] = current[id(state)]
