"""A resolved spec compiled into a DAG of nodes: :class:`Pipeline` and :func:`compile_pipeline`.

Node ids are the component's ``id`` or an automatic ``<type><n>`` (``generate1``, ``fuse2``...),
numbered per type in layer order and skipping ids the user took. By default a node consumes every
node of the previous layer; ``inputs:`` overrides that with explicit node ids (any earlier or later
node: the graph need not be layered, but it must be acyclic).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import networkx as nx

from archon.errors import Diagnostic, SpecError
from archon.graph import cost as _cost
from archon.graph.cascade import Stage, build_stages, stage_ids
from archon.graph.render import render
from archon.graph.rules import check as check_rules
from archon.util import did_you_mean

__all__ = ["DEFAULT_QUERY_TOKENS", "CompositionError", "Finding", "Locate", "Pipeline", "compile_pipeline"]

#: Query size assumed by the context-limit rules and by ``static_cost`` unless told otherwise.
DEFAULT_QUERY_TOKENS = 200

#: ``locate(("pipeline", layer_i, comp_i, field))`` -> (line, column); SpecDocument.locate fits.
Locate = Callable[[tuple[Any, ...]], tuple[int, int]]


@dataclass(frozen=True)
class Finding:
    """One broken rule: the rule's id (see docs/composition-rules.md) and its diagnostic."""

    rule: str
    diagnostic: Diagnostic


class CompositionError(SpecError):
    """A pipeline breaks graph or composition rules. ``findings`` names the rule of each problem."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = list(findings)
        super().__init__([f.diagnostic for f in findings])

    @property
    def rules(self) -> list[str]:
        return [f.rule for f in self.findings]


@dataclass
class Pipeline:
    """One concrete architecture.

    ``graph`` maps node id -> attributes ``component`` (the schema object), ``layer`` and ``index``
    (its place in the YAML) and ``inputs`` (predecessors in declared order). ``order`` is a
    topological order that follows the layers; ``output`` is the final node, whose first candidate
    is the answer. ``assignment`` holds the choices that produced it when it came from a space.
    ``stages`` maps each cascade node to its stages (:class:`archon.graph.cascade.Stage`), whose
    nodes are not in ``graph``: they run inside their cascade node.
    """

    spec: Any
    graph: nx.DiGraph
    order: list[str]
    output: str
    assignment: dict[str, Any] | None = None
    stages: dict[str, list[Stage]] = field(default_factory=dict)
    _cost_cache: dict[tuple[Any, ...], _cost.StaticCost] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ structure
    # Plain-dict mirrors of the node attributes: the rules and the cost model read them per node,
    # and networkx's attribute views cost ~10x more per access (counting a space compiles
    # thousands of pipelines).
    def __post_init__(self) -> None:
        g = self.graph
        self._inputs: dict[str, list[str]] = {n: a["inputs"] for n, a in g.nodes(data=True)}
        self._comp: dict[str, Any] = {n: a["component"] for n, a in g.nodes(data=True)}
        self._pos: dict[str, tuple[int, int]] = {n: (a["layer"], a["index"]) for n, a in g.nodes(data=True)}
        self._succ: dict[str, list[str]] = {n: [] for n in self.order}
        for n in self.order:
            for i in self._inputs[n]:
                self._succ[i].append(n)
        layers: list[list[str]] = []
        for n in sorted(self.order, key=self._pos.__getitem__):
            layer = self._pos[n][0]
            while len(layers) <= layer:
                layers.append([])
            layers[layer].append(n)
        self._layers = layers

    def inputs(self, node_id: str) -> list[str]:
        """Predecessors of ``node_id`` in declared order (explicit ``inputs`` or layer order)."""
        return list(self._inputs[node_id])

    def successors(self, node_id: str) -> list[str]:
        """Nodes that consume ``node_id``, in topological order."""
        return list(self._succ[node_id])

    def component(self, node_id: str) -> Any:
        return self._comp[node_id]

    def position(self, node_id: str) -> tuple[int, int]:
        """(layer index, index in layer) of the node in the spec."""
        return self._pos[node_id]

    def layers(self) -> list[list[str]]:
        """Node ids grouped by the layer they were written in."""
        return [list(layer) for layer in self._layers]

    def ancestors(self, node_id: str) -> set[str]:
        """Every node whose candidates can reach ``node_id``."""
        seen: set[str] = set()
        stack = list(self._inputs[node_id])
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self._inputs[n])
        return seen

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)

    # ------------------------------------------------------------------ cost
    @property
    def code_task(self) -> bool:
        bench = getattr(self.spec, "benchmark", None)
        return bool(bench is not None and bench.name in _cost.CODE_BENCHMARKS)

    def static_cost(
        self, query_tokens: int = DEFAULT_QUERY_TOKENS, answer_tokens: int | None = None, *, code_task: bool | None = None
    ) -> _cost.StaticCost:
        """Per-query calls (exact), tokens (estimated) and dollars (when every model has a price)."""
        code = self.code_task if code_task is None else code_task
        key = (query_tokens, answer_tokens, code)
        if key not in self._cost_cache:
            self._cost_cache[key] = _cost.static_cost(self, query_tokens, answer_tokens, code)
        return self._cost_cache[key]

    def spec_with_ids(self) -> Any:
        """The pipeline section with every node's id written out, the nodes of cascade stages
        included (an export pins them: the seeds of a node's calls derive from its id)."""
        layers = [[self._comp[n].model_copy(update={"id": n}) for n in layer] for layer in self._layers]
        layers = [[_stage_ids_written(c) for c in layer] for layer in layers]
        return self.spec.pipeline.model_copy(update={"layers": layers})

    # ------------------------------------------------------------------ rendering
    def render(self, format: str = "text", **options: Any) -> str:
        """The graph as ``text``, ``mermaid`` or ``dot`` (see :mod:`archon.graph.render`)."""
        return render(self, format, **options)




def _stage_ids_written(component: Any) -> Any:
    if component.type != "cascade":
        return component
    stages = []
    for stage in component.stages:
        ids = stage_ids(stage.layers)
        layers = [[_stage_ids_written(c.model_copy(update={"id": i})) for c, i in zip(layer, row)]
                  for layer, row in zip(stage.layers, ids)]
        stages.append(stage.model_copy(update={"layers": layers}))
    return component.model_copy(update={"stages": stages})


# ----------------------------------------------------------------------------- compiling


class _Reporter:
    def __init__(self, locate: Locate | None, file: str | None) -> None:
        self.locate = locate
        if file is None:
            owner = getattr(locate, "__self__", None)
            file = getattr(owner, "file", None)
        self.file = file or "<spec>"
        self.findings: list[Finding] = []

    def add(self, rule: str, path: tuple[Any, ...], message: str, hint: str | None = None) -> None:
        line, column = (0, 0)
        if self.locate is not None:
            try:
                line, column = self.locate(path)
            except Exception:  # noqa: BLE001 - a position is a nicety; never hide the real error
                line, column = (0, 0)
        self.findings.append(Finding(rule, Diagnostic(self.file, line, column, message, hint)))

    def raise_if_any(self) -> None:
        if self.findings:
            raise CompositionError(self.findings)


def _node_ids(layers: list[list[Any]], rep: _Reporter) -> list[list[str]]:
    taken: dict[str, tuple[int, int]] = {}
    for li, layer in enumerate(layers):
        for ci, comp in enumerate(layer):
            if comp.id is None:
                continue
            if comp.id in taken:
                first = taken[comp.id]
                rep.add(
                    "unique-ids",
                    ("pipeline", li, ci, "id"),
                    f"duplicate node id '{comp.id}'",
                    f"already used by layer {first[0]} component {first[1]}; ids must be unique",
                )
            else:
                taken[comp.id] = (li, ci)
    return stage_ids(layers)  # the same naming as inside a cascade stage


def _layered_toposort(position: dict[str, tuple[int, int]], inputs: dict[str, list[str]]) -> list[str] | None:
    """Kahn's algorithm, always taking the ready node written first; None when there is a cycle."""
    pending = {n: len(ins) for n, ins in inputs.items()}
    consumers: dict[str, list[str]] = {n: [] for n in inputs}
    for n, ins in inputs.items():
        for i in ins:
            consumers[i].append(n)
    ready = [(position[n], n) for n, k in pending.items() if k == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for c in consumers[n]:
            pending[c] -= 1
            if pending[c] == 0:
                heapq.heappush(ready, (position[c], c))
    return order if len(order) == len(inputs) else None


def compile_pipeline(spec: Any, locate: Locate | None = None, *, file: str | None = None) -> Pipeline:
    """Compile a resolved :class:`~archon.spec.schema.Spec` into a :class:`Pipeline`.

    Raises :class:`CompositionError` (a :class:`SpecError`) listing every broken rule; with
    ``locate`` (e.g. ``SpecDocument.locate``) each diagnostic points at the offending YAML.
    """
    rep = _Reporter(locate, file)
    layers = [list(layer) for layer in spec.pipeline.layers]
    ids = _node_ids(layers, rep)
    rep.raise_if_any()

    known: dict[str, tuple[int, int]] = {ids[li][ci]: (li, ci) for li, layer in enumerate(layers) for ci in range(len(layer))}
    inputs: dict[str, list[str]] = {}
    for li, layer in enumerate(layers):
        for ci, comp in enumerate(layer):
            node = ids[li][ci]
            if comp.inputs is None:
                declared = list(ids[li - 1]) if li > 0 else []
            else:
                declared = []
                for k, ref in enumerate(comp.inputs):
                    path = ("pipeline", li, ci, "inputs", k)
                    if ref not in known:
                        guess = did_you_mean(ref, sorted(known))
                        hint = f"did you mean '{guess}'?" if guess else f"nodes: {', '.join(sorted(known))}"
                        rep.add("references", path, f"input '{ref}' is not a node of this pipeline", hint)
                    elif ref == node:
                        rep.add("acyclic", path, f"node '{node}' names itself as an input", "a node cannot consume its own output")
                    elif ref in declared:
                        rep.add("references", path, f"input '{ref}' is listed twice", "name each input once")
                    else:
                        declared.append(ref)
            inputs[node] = declared
    rep.raise_if_any()

    order = _layered_toposort(known, inputs)
    if order is None:
        g = nx.DiGraph([(i, n) for n, ins in inputs.items() for i in ins])
        cycle = nx.find_cycle(g)
        members = [u for u, _ in cycle]
        first = min(members, key=known.__getitem__)
        li, ci = known[first]
        loop = " -> ".join(members + [members[0]])
        rep.add("acyclic", ("pipeline", li, ci, "inputs"), f"the inputs form a cycle: {loop}", "a pipeline must be a DAG; remove one of these inputs")
        rep.raise_if_any()
        raise AssertionError("unreachable")

    g = nx.DiGraph()
    g.add_nodes_from(
        (node, {"component": layers[li][ci], "layer": li, "index": ci, "inputs": inputs[node]}) for node, (li, ci) in known.items()
    )
    g.add_edges_from((i, n) for n, ins in inputs.items() for i in ins)
    pipeline = Pipeline(spec=spec, graph=g, order=order, output=ids[-1][0])
    cascades = [n for n in order if g.nodes[n]["component"].type == "cascade"]
    if cascades:
        incoming = pipeline.static_cost()
        for node in cascades:
            pipeline.stages[node] = build_stages(node, g.nodes[node]["component"], inputs[node],
                                                 incoming.per_node[node].candidates_in)
        pipeline._cost_cache.clear()  # the stages' nodes get their own entries now
    check_rules(pipeline, rep)
    rep.raise_if_any()
    return pipeline
