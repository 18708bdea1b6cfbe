"""fuse: synthesise ``samples`` new candidates from the inputs (one call each).

Consumes the query, the first ``max_candidates`` input candidates (all when unset) and, with
``use_critiques``, their ``critique`` annotations. Produces ``samples`` new candidates with ids
``<node>:<model>:<sample>``, parents = the candidates shown, and empty annotations (what was said
about the inputs is not true of the fusion). Calls per query: ``samples``. Like generate, the
query fails only if every sample failed.
"""

from __future__ import annotations

from typing import Any

from archon.components.base import (
    NodeContext,
    build_messages,
    dispatch,
    input_candidates,
    make_request,
    number_candidates,
    with_logprob,
)
from archon.components.types import Candidate, QueryState

__all__ = ["run"]


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    items, shown = [], {}
    for state in states:
        cands = input_candidates(state, ctx)
        if node.max_candidates is not None:
            cands = cands[: node.max_candidates]
        shown[id(state)] = cands
        fields = {"query": state.query, "n": len(cands), "candidates": number_candidates(cands, with_critiques=node.use_critiques is not False)}
        system = ctx.prompts.render("fuse.system", fields, node, "fuse")
        user = ctx.prompts.render("fuse.user", fields, node, "fuse")
        for sample in range(node.samples):
            items.append((state, make_request(ctx, node, build_messages(system, user), tag="fuse", sample_index=sample,
                                              logprobs=ctx.logprobs)))
    results = await dispatch(ctx, items)
    out: dict[int, list[Candidate]] = {id(s): [] for s in states}
    errors: dict[int, list[str]] = {id(s): [] for s in states}
    for (state, request), result in zip(items, results):
        cid = f"{ctx.node_id}:{node.model}:{request.sample_index}"
        if not result.ok:
            errors[id(state)].append(f"{cid}: {result.error}")
            state.parse_failure(ctx.node_id, "call", str(result.error), "sample dropped", candidate=cid)
            continue
        parents = tuple(c.id for c in shown[id(state)])
        cand = Candidate(id=cid, text=result.text, node=ctx.node_id, model=node.model, sample_index=request.sample_index, parents=parents)
        out[id(state)].append(with_logprob(cand, result))
    for state in states:
        if errors[id(state)]:
            state.note(ctx.node_id, "failed_samples", errors[id(state)])
        if not out[id(state)]:
            state.fail(ctx.node_id, f"all {node.samples} fusion calls failed; first error: {errors[id(state)][0]}")
            continue
        state.candidates[ctx.node_id] = out[id(state)]
