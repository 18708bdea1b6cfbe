"""select: best-of-N. Score each candidate and keep the ``top_k`` best.

``by: judge`` asks the model for a 1-10 score per candidate (one call each; structured output
where supported, else "Score: 7", "7/10", a lone number) and annotates ``score``; an unparsable
score is recorded and counts as 0. ``by: verdict`` orders by an earlier verify node's verdict
(passed first), ``by: tests`` by an earlier unit_test node's pass rate; neither calls a model,
and candidates lacking that annotation sort last (recorded). Ties keep input order.

Consumes the query and candidates. Produces the ``top_k`` kept candidates (same ids).
Calls per query: one per candidate for ``judge``, else 0.
"""

from __future__ import annotations

from typing import Any

from archon.components.base import NodeContext, build_messages, dispatch, input_candidates, make_request
from archon.components.parsing import SCORE_SCHEMA, parse_score
from archon.components.types import Candidate, QueryState

__all__ = ["run"]


SCORE_MAX_TOKENS = 64


def _key(node: Any, cand: Candidate) -> float | None:
    if node.by == "judge":
        return cand.annotations.get("score")
    if node.by == "verdict":
        verdict = cand.annotations.get("verdict")
        return (1.0 if verdict.get("passed") else 0.0) if isinstance(verdict, dict) else None
    tests = cand.annotations.get("tests")
    return float(tests.get("pass_rate", 0.0)) if isinstance(tests, dict) else None


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    per_state = {id(s): input_candidates(s, ctx) for s in states}
    if node.by == "judge":
        items, owners = [], []
        for state in states:
            system = ctx.prompts.render("select.system", {"query": state.query}, node, "select")
            for i, cand in enumerate(per_state[id(state)]):
                user = ctx.prompts.render("select.judge", {"query": state.query, "candidate": cand.text}, node, "select")
                max_tokens = min(node.max_tokens, SCORE_MAX_TOKENS)
                items.append((state, make_request(ctx, node, build_messages(system, user), tag="select", response_format=SCORE_SCHEMA, max_tokens=max_tokens)))
                owners.append(i)
        results = await dispatch(ctx, items)
        for (state, _), i, result in zip(items, owners, results):
            cands = per_state[id(state)]
            if not result.ok:
                state.fail(ctx.node_id, f"scoring call for {cands[i].id} failed: {result.error}")
                continue
            score = parse_score(result.text)
            if score is None:
                state.parse_failure(ctx.node_id, "score", f"no 1-10 score in {result.text[:80]!r}", "scored 0", candidate=cands[i].id)
                score = 0.0
            cands[i] = cands[i].annotate("score", score)
    for state in states:
        if not state.active:
            continue
        cands = per_state[id(state)]
        missing = [c.id for c in cands if _key(node, c) is None]
        if missing and node.by != "judge":
            state.parse_failure(ctx.node_id, node.by, f"no {node.by} annotation on {', '.join(missing)}", "sorted last")
        keys = [-1.0 if k is None else k for k in (_key(node, c) for c in cands)]  # unannotated sort last
        order = sorted(range(len(cands)), key=lambda i: -keys[i])
        state.candidates[ctx.node_id] = [cands[i] for i in order[: node.top_k]]
