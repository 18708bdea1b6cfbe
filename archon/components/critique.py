"""critique: write strengths and weaknesses of each candidate (one call per candidate).

Consumes the query and candidates. Produces the same candidates (same ids) annotated with
``critique`` (the critique text). Calls per query: one per input candidate. A failed call fails
the query: a missing critique would silently change what later nodes see.
"""

from __future__ import annotations

from typing import Any

from archon.components.base import NodeContext, build_messages, dispatch, input_candidates, make_request
from archon.components.types import QueryState

__all__ = ["run"]


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    items, owners = [], []
    per_state = {}
    for state in states:
        cands = input_candidates(state, ctx)
        per_state[id(state)] = cands
        system = ctx.prompts.render("critique.system", {"query": state.query}, node, "critique")
        for index, cand in enumerate(cands):
            user = ctx.prompts.render("critique.user", {"query": state.query, "candidate": cand.text}, node, "critique")
            items.append((state, make_request(ctx, node, build_messages(system, user), tag="critique")))
            owners.append(index)
    results = await dispatch(ctx, items)
    critiques: dict[int, dict[int, str]] = {id(s): {} for s in states}
    for (state, _), index, result in zip(items, owners, results):
        if not result.ok:
            state.fail(ctx.node_id, f"critique call for {per_state[id(state)][index].id} failed: {result.error}")
            continue
        critiques[id(state)][index] = result.text
    for state in states:
        if not state.active:
            continue
        cands = per_state[id(state)]
        state.candidates[ctx.node_id] = [c.annotate("critique", critiques[id(state)][i]) for i, c in enumerate(cands)]
