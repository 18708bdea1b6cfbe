"""rank: order the candidates best-first in one listwise call and keep the ``top_k`` best.

Consumes the query, candidates and (``use_critiques``) their ``critique`` annotations. Produces
the kept candidates (same ids) annotated with ``rank`` (1 = best). Calls per query: 1.

Structured output (a JSON list of candidate numbers) is requested where the backend supports
it; otherwise the free-text reply is parsed (``[2] > [1] > [3]``, ``2, 1, 3``, numbered lines,
"answer 2 ..."). Candidates the reply leaves out are appended in their original order. A reply
with no usable ranking is recorded as a parse failure and the original order is kept.
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
)
from archon.components.parsing import RANK_SCHEMA, parse_ranking
from archon.components.types import QueryState

__all__ = ["run"]


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    items, per_state = [], {}
    for state in states:
        cands = input_candidates(state, ctx)
        per_state[id(state)] = cands
        fields = {
            "query": state.query,
            "n": len(cands),
            "candidates": number_candidates(cands, with_critiques=node.use_critiques is not False),
        }
        system = ctx.prompts.render("rank.system", fields, node, "rank")
        user = ctx.prompts.render("rank.user", fields, node, "rank")
        items.append((state, make_request(ctx, node, build_messages(system, user), tag="rank", response_format=RANK_SCHEMA)))
    results = await dispatch(ctx, items)
    for (state, _), result in zip(items, results):
        cands = per_state[id(state)]
        if not result.ok:
            state.fail(ctx.node_id, f"rank call failed: {result.error}")
            continue
        parsed = parse_ranking(result.text, len(cands))
        if not parsed.ok:
            state.parse_failure(ctx.node_id, "ranking", parsed.detail, "original order kept")
        elif parsed.detail:
            state.parse_failure(ctx.node_id, "ranking", parsed.detail, "unranked candidates appended in original order")
        ordered = [cands[i] for i in parsed.order]
        state.note(ctx.node_id, "order", [c.id for c in ordered])
        state.candidates[ctx.node_id] = [c.annotate("rank", pos) for pos, c in enumerate(ordered[: node.top_k], 1)]
