"""The static cost model: exact model calls per query, estimated tokens and dollars.

Call counts are exact: they count what each component really sends (a verifier costs two calls per
candidate, a vote none). The runtime reads the same table (:func:`calls_for`,
:func:`candidates_out`) so a budget checked before a run and the calls made during it agree.

Candidate counts are the static upper bound: filters (verify, unit_test) are assumed to keep every
candidate, which is the worst case for everything downstream.

Token numbers are estimates for budgeting, not promises: each call's prompt is an instruction
overhead plus the query plus the candidates it shows; each call's output is its ``max_tokens``
(or ``answer_tokens`` when given, capped by ``max_tokens``); short judgement outputs (a ranking, a
verdict, a score) use small fixed sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "JUDGEMENT_TOKENS",
    "PROMPT_OVERHEAD_TOKENS",
    "CODE_BENCHMARKS",
    "CallEstimate",
    "ModelCost",
    "NodeCost",
    "StaticCost",
    "calls_by_model",
    "calls_for",
    "candidates_out",
    "generate_calls",
    "estimate_calls",
    "unit_test_judges",
]

#: Tokens of instructions around the query and candidates in every prompt (an estimate).
PROMPT_OVERHEAD_TOKENS = 60
#: Output size of a short judgement: a verdict, a 1-10 score (an estimate).
JUDGEMENT_TOKENS = 16
#: Benchmarks whose answers are code: ``unit_test`` with ``mode: auto`` executes tests there.
CODE_BENCHMARKS = frozenset({"humaneval", "mbpp", "code_contests", "apps", "livecodebench"})


def unit_test_judges(component: Any, *, code_task: bool = False) -> bool:
    """Whether a unit_test node asks a model to judge each candidate (instead of executing tests)."""
    return component.mode == "judge" or (component.mode == "auto" and not code_task)


def calls_for(component: Any, n_inputs: int, *, code_task: bool = False) -> int:
    """Exact model calls one query costs at ``component`` when it receives ``n_inputs`` candidates.

    generate: models x samples (at temperature 0 one per distinct model: greedy samples of one
    prompt are the same call, sent once); critique: one per candidate; rank: one; fuse: ``samples``;
    verify: two per candidate (reasoning, then verdict); unit_test: one to write the tests, plus one
    per candidate when judged by a model; refine: two per round per candidate; select: one per
    candidate when ``by: judge``; vote: none.
    """
    kind = component.type
    n = max(0, int(n_inputs))
    if kind == "generate":
        return sum(generate_calls(component).values())
    if kind == "critique":
        return n
    if kind == "rank":
        return 1 if n else 0
    if kind == "fuse":
        return component.samples if n else 0
    if kind == "verify":
        return 2 * n
    if kind == "unit_test":
        return (1 + (n if unit_test_judges(component, code_task=code_task) else 0)) if n else 0
    if kind == "refine":
        return 2 * component.rounds * n
    if kind == "select":
        return n if component.by == "judge" else 0
    if kind == "vote":
        return 0
    raise ValueError(f"unknown component type {kind!r}")


def candidates_out(component: Any, n_inputs: int) -> int:
    """Static upper bound of the candidates ``component`` outputs from ``n_inputs`` inputs."""
    kind = component.type
    n = max(0, int(n_inputs))
    if kind == "generate":
        return len(component.model_list()) * component.samples
    if kind in ("critique", "verify", "refine"):
        return n
    if kind == "rank":
        return min(component.top_k, n)
    if kind == "fuse":
        return component.samples if n else 0
    if kind == "unit_test":
        return min(component.top_k, n) if component.top_k else n
    if kind == "select":
        return min(component.top_k, n)
    if kind == "vote":
        return 1 if n else 0
    raise ValueError(f"unknown component type {kind!r}")


def generate_calls(component: Any) -> dict[str, int]:
    """Distinct calls a generate node sends per query, by model."""
    out: dict[str, int] = {}
    greedy = component.temperature == 0
    for name in component.model_list():
        out[name] = 1 if greedy else out.get(name, 0) + component.samples
    return out


def calls_by_model(component: Any, n_inputs: int, *, code_task: bool = False) -> dict[str, int]:
    """:func:`calls_for` split by model name (a generator may call several models)."""
    if component.type == "generate":
        return generate_calls(component)
    calls = calls_for(component, n_inputs, code_task=code_task)
    if not calls:
        return {}
    return {component.model: calls}


@dataclass(frozen=True)
class CallEstimate:
    """A group of identical calls: how many, and tokens in and out of each."""

    model: str
    calls: int
    input_tokens: int
    output_tokens: int


def _out(component: Any, answer_tokens: int | None) -> int:
    limit = component.max_tokens
    return min(limit, answer_tokens) if answer_tokens else limit


def estimate_calls(
    component: Any,
    n_inputs: int,
    candidate_tokens: int,
    critique_tokens: int,
    *,
    query_tokens: int,
    answer_tokens: int | None = None,
    code_task: bool = False,
) -> tuple[list[CallEstimate], int, int]:
    """Calls of one node with token estimates.

    ``candidate_tokens``: estimated size of one input candidate; ``critique_tokens``: size of the
    critique each candidate carries (0 when the node does not use critiques). Returns the call
    groups, the estimated size of one output candidate, and of one critique it writes (0 if none).
    """
    kind = component.type
    n = max(0, int(n_inputs))
    base = PROMPT_OVERHEAD_TOKENS + query_tokens
    per_cand = candidate_tokens + critique_tokens
    groups: list[CallEstimate] = []
    out_size = candidate_tokens
    crit_size = 0

    def add(model: str, calls: int, tin: int, tout: int) -> None:
        if calls:
            groups.append(CallEstimate(model, calls, tin, tout))

    if kind == "generate":
        out = _out(component, answer_tokens)
        shots = component.few_shot * (query_tokens + out)
        for name, calls in calls_by_model(component, 0).items():
            add(name, calls, base + shots, out)
        out_size = out
    elif kind == "critique":
        crit_size = _out(component, answer_tokens)
        add(component.model, n, base + candidate_tokens, crit_size)
    elif kind == "rank":
        add(component.model, calls_for(component, n), base + n * per_cand, min(component.max_tokens, 8 + 4 * n))
    elif kind == "fuse":
        out_size = _out(component, answer_tokens)
        add(component.model, calls_for(component, n), base + n * per_cand, out_size)
    elif kind == "verify":
        reasoning = _out(component, answer_tokens)
        add(component.model, n, base + candidate_tokens, reasoning)
        add(component.model, n, base + candidate_tokens + reasoning, min(component.max_tokens, JUDGEMENT_TOKENS))
    elif kind == "unit_test":
        tests = _out(component, answer_tokens)
        if n:
            add(component.model, 1, base, tests)
            if unit_test_judges(component, code_task=code_task):
                add(component.model, n, base + tests + candidate_tokens, min(component.max_tokens, JUDGEMENT_TOKENS * component.num_tests))
    elif kind == "refine":
        out_size = _out(component, answer_tokens)
        size = candidate_tokens
        for _ in range(component.rounds):
            add(component.model, n, base + size, out_size)  # critique of the current draft
            add(component.model, n, base + size + out_size, out_size)  # the revision
            size = out_size
    elif kind == "select":
        if component.by == "judge":
            add(component.model, n, base + candidate_tokens, min(component.max_tokens, JUDGEMENT_TOKENS))
    elif kind == "vote":
        pass
    else:
        raise ValueError(f"unknown component type {kind!r}")
    return groups, out_size, crit_size


@dataclass
class ModelCost:
    """Calls and tokens one model receives per query, and their price when known."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    dollars: float | None = None


@dataclass
class NodeCost:
    """Per-node share of the cost, plus the node's static candidate counts."""

    calls: int
    input_tokens: int
    output_tokens: int
    candidates_in: int
    candidates_out: int
    prompt_tokens_max: int  # the largest single prompt this node sends (for context limits)


@dataclass
class StaticCost:
    """Per-query cost of a pipeline: exact ``calls``, estimated tokens, dollars when priced.

    ``dollars`` is None when some model that is called has no known price.
    """

    calls: int
    input_tokens: int
    output_tokens: int
    dollars: float | None
    per_model: dict[str, ModelCost] = field(default_factory=dict)
    per_node: dict[str, NodeCost] = field(default_factory=dict)
