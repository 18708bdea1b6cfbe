"""verify: judge each candidate (reasoning call, then a yes/no verdict call) and keep those
that pass.

Consumes the query and candidates. Produces the passing candidates (same ids) annotated with
``verdict`` = ``{"passed": bool, "reasoning": str, "parsed": bool}``. Calls per query: two per
input candidate, in two batched rounds (the verdict call continues the reasoning conversation).

The verdict uses structured output (``{"verdict": "yes"|"no"}``) where supported and is parsed
robustly otherwise ("Yes.", "not correct", "Verdict: no" ...). An undecidable verdict counts as
not passed and is recorded as a parse failure. When no candidate passes, ``fallback`` decides:
``keep_all`` keeps every candidate, ``keep_best`` keeps the best by an earlier ``score`` (higher
first) or ``rank`` (lower first) annotation, else the first; ``fail`` fails the query. The
fallback used is written to the trace (``notes[node]["fallback"]``).
"""

from __future__ import annotations

from typing import Any

from archon.components.base import NodeContext, build_messages, dispatch, input_candidates, make_request
from archon.components.parsing import VERDICT_SCHEMA, parse_verdict
from archon.components.types import Candidate, QueryState

__all__ = ["best_candidate", "run"]


VERDICT_MAX_TOKENS = 32


def best_candidate(cands: list[Candidate]) -> Candidate:
    """The best candidate by an earlier score (higher first), else rank (lower first), else
    the first one."""
    scored = [c for c in cands if isinstance(c.annotations.get("score"), (int, float))]
    if scored:
        return max(scored, key=lambda c: c.annotations["score"])  # max keeps the first of ties
    ranked = [c for c in cands if isinstance(c.annotations.get("rank"), int)]
    if ranked:
        return min(ranked, key=lambda c: c.annotations["rank"])
    return cands[0]


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    per_state: dict[int, list[Candidate]] = {}
    convo: dict[tuple[int, int], tuple[tuple[str, str], ...]] = {}
    items, owners = [], []
    for state in states:
        cands = input_candidates(state, ctx)
        per_state[id(state)] = cands
        system = ctx.prompts.render("verify.system", {"query": state.query}, node, "verify")
        for i, cand in enumerate(cands):
            user = ctx.prompts.render("verify.reason", {"query": state.query, "candidate": cand.text}, node, "verify")
            messages = build_messages(system, user)
            convo[(id(state), i)] = messages
            items.append((state, make_request(ctx, node, messages, tag="verify.reason")))
            owners.append(i)
    results = await dispatch(ctx, items)
    reasoning: dict[tuple[int, int], str] = {}
    for (state, _), i, result in zip(items, owners, results):
        if not result.ok:
            state.fail(ctx.node_id, f"verification call for {per_state[id(state)][i].id} failed: {result.error}")
            continue
        reasoning[(id(state), i)] = result.text

    items2, owners2 = [], []
    for state in states:
        if not state.active:
            continue
        for i, _ in enumerate(per_state[id(state)]):
            question = ctx.prompts.render("verify.verdict", {"query": state.query}, node, "verify")
            messages = convo[(id(state), i)] + (("assistant", reasoning[(id(state), i)]), ("user", question))
            max_tokens = min(node.max_tokens, VERDICT_MAX_TOKENS)
            items2.append((state, make_request(ctx, node, messages, tag="verify.verdict", response_format=VERDICT_SCHEMA, max_tokens=max_tokens)))
            owners2.append(i)
    results2 = await dispatch(ctx, items2)
    verdicts: dict[tuple[int, int], dict[str, Any]] = {}
    for (state, _), i, result in zip(items2, owners2, results2):
        cand = per_state[id(state)][i]
        if not result.ok:
            state.fail(ctx.node_id, f"verdict call for {cand.id} failed: {result.error}")
            continue
        passed = parse_verdict(result.text)
        if passed is None:
            state.parse_failure(ctx.node_id, "verdict", f"no yes/no in {result.text[:80]!r}", "counted as not passed", candidate=cand.id)
        verdicts[(id(state), i)] = {"passed": bool(passed), "reasoning": reasoning[(id(state), i)], "parsed": passed is not None}

    for state in states:
        if not state.active:
            continue
        judged = [c.annotate("verdict", verdicts[(id(state), i)]) for i, c in enumerate(per_state[id(state)])]
        kept = [c for c in judged if c.annotations["verdict"]["passed"]]
        if not kept:
            if node.fallback == "fail":
                state.note(ctx.node_id, "fallback", "fail: no candidate passed")
                state.fail(ctx.node_id, f"no candidate passed verification ({len(judged)} checked; fallback: fail)")
                continue
            if node.fallback == "keep_best":
                kept = [best_candidate(judged)]
                state.note(ctx.node_id, "fallback", f"keep_best: no candidate passed; kept {kept[0].id}")
            else:
                kept = judged
                state.note(ctx.node_id, "fallback", f"keep_all: no candidate passed; kept all {len(kept)}")
        state.note(ctx.node_id, "passed", [c.id for c in judged if c.annotations["verdict"]["passed"]])
        state.candidates[ctx.node_id] = kept
