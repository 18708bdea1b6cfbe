"""The static cost model: exact model calls per query, estimated tokens and dollars.

Each kind's calls, candidate counts and token estimates are its entry in
:mod:`archon.graph.kinds`; this module adds them up over a pipeline (:func:`static_cost`) and
offers the per-node counts by component (:func:`calls_for`, :func:`candidates_out`), which the
runtime reads too, so a budget checked before a run and the calls made during it agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from archon.graph.kinds import CascadeKind, Flow, NodeEstimate, Sizes, kind_of, merge_flows, step
from archon.spec.schema import LOCAL_MODEL_NAME

__all__ = [
    "CODE_BENCHMARKS",
    "CostedGraph",
    "ModelCost",
    "NodeCost",
    "StaticCost",
    "calls_by_model",
    "calls_for",
    "candidates_out",
    "static_cost",
]

#: Benchmarks whose answers are code: ``unit_test`` with ``mode: auto`` executes tests there.
CODE_BENCHMARKS = frozenset({"humaneval", "mbpp", "code_contests", "apps", "livecodebench"})


def calls_for(component: Any, n_inputs: int, *, code_task: bool = False) -> int:
    """Exact model calls one query costs at ``component`` when it receives ``n_inputs`` candidates."""
    return kind_of(component).calls(component, max(0, int(n_inputs)), code_task=code_task)


def calls_by_model(component: Any, n_inputs: int, *, code_task: bool = False) -> dict[str, int]:
    """:func:`calls_for` split by model name (a generator may call several models)."""
    return kind_of(component).calls_by_model(component, max(0, int(n_inputs)), code_task=code_task)


def candidates_out(component: Any, n_inputs: int) -> int:
    """Static upper bound of the candidates ``component`` outputs from ``n_inputs`` inputs."""
    return kind_of(component).candidates_out(component, max(0, int(n_inputs)))


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

    ``dollars`` is None when some model that is called has no known price. ``per_node`` has an
    entry per node, and per node of a cascade's stages (a cascade's own entry sums all its
    stages: the worst case, when every stage runs).
    """

    calls: int
    input_tokens: int
    output_tokens: int
    dollars: float | None
    per_model: dict[str, ModelCost] = field(default_factory=dict)
    per_node: dict[str, NodeCost] = field(default_factory=dict)


def _price(spec: Any, model: str) -> tuple[float, float] | None:
    """Dollars per million input and output tokens, when known before any call is made."""
    entry = spec.models.get(model)
    if entry is None:
        return (0.0, 0.0) if model == LOCAL_MODEL_NAME else None
    if entry.price is not None:
        return entry.price.input_per_mtok, entry.price.output_per_mtok
    if entry.kind in ("local", "fake"):
        return (0.0, 0.0)
    return None


class CostedGraph(Protocol):
    """What :func:`static_cost` reads of a pipeline (:class:`archon.graph.Pipeline` is one)."""

    spec: Any

    @property
    def order(self) -> Sequence[str]: ...

    def inputs(self, node_id: str) -> list[str]: ...

    def component(self, node_id: str) -> Any: ...


def _node_cost(est: NodeEstimate, n_in: int, n_out: int) -> NodeCost:
    return NodeCost(
        calls=sum(g.calls for g in est.calls),
        input_tokens=sum(g.calls * g.input_tokens for g in est.calls),
        output_tokens=sum(g.calls * g.output_tokens for g in est.calls),
        candidates_in=n_in,
        candidates_out=n_out,
        prompt_tokens_max=max((g.input_tokens for g in est.calls), default=0),
    )


def _stage_costs(comp: Any, stages: Sequence[Any], inflow: Flow, query_tokens: int, answer_tokens: int | None,
                 code_task: bool) -> dict[str, NodeCost]:
    """Per-node costs of a cascade's stage nodes (by their ids; the cascade's own entry is their
    sum over all stages: its worst case)."""
    kind = kind_of(comp)
    assert isinstance(kind, CascadeKind)
    sizes = Sizes(query=query_tokens, candidate=inflow.size,
                  critique=inflow.critique if kind.shows_critiques(comp) else 0, answer=answer_tokens)
    out: dict[str, NodeCost] = {}
    for layout, stage in zip(stages, comp.stages):
        at = {pos: node for node, pos in layout.positions.items()}
        nodes, _ = kind.stage_nodes(stage, inflow.count, sizes, code_task=code_task)
        for sn in nodes:
            out[at[(sn.layer, sn.index)]] = _node_cost(sn.estimate, sn.n_inputs, sn.out.count)
    return out


def static_cost(p: CostedGraph, query_tokens: int, answer_tokens: int | None, code_task: bool) -> StaticCost:
    """The per-query cost of pipeline ``p``, node by node in topological order."""
    flows: dict[str, Flow] = {}
    per_model: dict[str, ModelCost] = {}
    per_node: dict[str, NodeCost] = {}
    total_calls = total_in = total_out = 0
    stages = getattr(p, "stages", {})
    for node in p.order:
        comp = p.component(node)
        inflow = merge_flows([flows[i] for i in p.inputs(node)])
        est, flows[node] = step(comp, inflow, query_tokens, answer_tokens, code_task=code_task)
        if node in stages:
            per_node.update(_stage_costs(comp, stages[node], inflow, query_tokens, answer_tokens, code_task))
        calls = sum(g.calls for g in est.calls)
        tin = sum(g.calls * g.input_tokens for g in est.calls)
        tout = sum(g.calls * g.output_tokens for g in est.calls)
        for g in est.calls:
            m = per_model.setdefault(g.model, ModelCost())
            m.calls += g.calls
            m.input_tokens += g.calls * g.input_tokens
            m.output_tokens += g.calls * g.output_tokens
        per_node[node] = _node_cost(est, inflow.count, flows[node].count)
        total_calls += calls
        total_in += tin
        total_out += tout
    dollars: float | None = 0.0
    for name, m in per_model.items():
        price = _price(p.spec, name)
        if price is None:
            dollars = None
            continue
        m.dollars = (m.input_tokens * price[0] + m.output_tokens * price[1]) / 1e6
        if dollars is not None:
            dollars += m.dollars
    return StaticCost(total_calls, total_in, total_out, dollars, per_model, per_node)
