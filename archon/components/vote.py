"""vote: majority (self-consistency) vote over the candidates' extracted answers; no calls.

Consumes candidates (and, for ``method: weighted`` without ``weights``, their ``score``
annotations). Produces one new candidate ``<node>:0`` whose text is the first (in input order)
candidate giving the winning answer; its parents are the candidates that voted for it and its
annotations start empty. The tally goes to the trace (``notes[node]["tally"]``).

Answers come from the benchmark's extractor (``ctx.extract``), by default
:func:`archon.components.parsing.default_extract`. Weighted voting weighs each vote by
``weights[model]`` (models not listed weigh 1) or, with no ``weights``, by the candidate's
``score`` annotation (1 when absent). Ties go to the answer seen first. When no candidate has
an extractable answer, that is recorded and the first candidate is the representative.
Calls per query: 0.
"""

from __future__ import annotations

from typing import Any

from archon.components.base import NodeContext, input_candidates
from archon.components.types import Candidate, QueryState

__all__ = ["run", "tally"]


def _weight(node: Any, cand: Candidate) -> float:
    if node.method != "weighted":
        return 1.0
    if node.weights:
        return float(node.weights.get(cand.model or "", 1.0))
    score = cand.annotations.get("score")
    return float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else 1.0


def tally(node: Any, cands: list[Candidate], extract: Any) -> tuple[dict[str, float], dict[str, list[Candidate]]]:
    """Votes per answer (insertion order = first seen) and the voters of each answer."""
    votes: dict[str, float] = {}
    voters: dict[str, list[Candidate]] = {}
    for cand in cands:
        answer = extract(cand.text)
        if answer is None:
            continue
        answer = str(answer)
        votes[answer] = votes.get(answer, 0.0) + _weight(node, cand)
        voters.setdefault(answer, []).append(cand)
    return votes, voters


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    for state in states:
        cands = input_candidates(state, ctx)
        votes, voters = tally(node, cands, ctx.extract)
        parents: tuple[str, ...]
        if not votes:
            state.parse_failure(ctx.node_id, "answer", f"no answer extracted from any of {len(cands)} candidates", "first candidate used")
            chosen, parents, winner = cands[0], (cands[0].id,), None
        else:
            winner = max(votes, key=lambda a: votes[a])  # max returns the first of equal maxima
            chosen = voters[winner][0]
            parents = tuple(c.id for c in voters[winner])
        state.note(ctx.node_id, "tally", votes)
        state.note(ctx.node_id, "winner", winner)
        state.candidates[ctx.node_id] = [
            Candidate(id=f"{ctx.node_id}:0", text=chosen.text, node=ctx.node_id, model=chosen.model, sample_index=0, parents=parents)
        ]
