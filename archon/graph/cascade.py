"""A cascade's stages laid out as nodes: ids, inputs, and what each confidence signal reads.

The cascade kind's contract and static cost are its entry in :mod:`archon.graph.kinds`; this
module gives the runtime and the composition rules the structure of its stages. Each stage is a
chain of layers (every layer consumes the one before it; the first layer reads the query, or the
cascade's own input candidates).

Node ids. A stage node's id is ``<cascade>.s<k>.<id>``, where ``<id>`` is what the stage
writes (or ``<type><n>``, numbered within the stage as in a pipeline). The id written in the
stage is its *seed key*: the seeds of its calls derive from it, as a top-level node's derive from
its id. So a stage's ``generate`` with id ``answer`` sends the very calls a plain pipeline's
``answer`` sends (the call cache and replay tables answer them), and a later stage sampling more
from the same prompt reuses the earlier stage's samples instead of paying for them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from archon.graph.kinds import CascadeKind, Sizes, kind_of

__all__ = ["Stage", "build_stages", "stage_ids"]


@dataclass(frozen=True)
class Stage:
    """One stage of a cascade node, ready to run.

    ``nodes``: full node ids in layer order; ``components``/``inputs``/``seed_keys``/
    ``positions`` are keyed by them (``positions``: (layer, index) in the stage). ``output``: the
    node whose first candidate is the stage's answer. ``signal``/``threshold``: the gate after the
    stage (None on the last). ``margin_from``: the nodes whose candidates ``vote_margin`` counts
    (the stage's last node with two or more candidates, else the cascade's inputs).
    ``logprob_writers``: the nodes whose calls write the answer's text, so ``logprob`` asks them
    for log-probabilities; ``answer_from_outside``: the answer may be one of the cascade's input
    candidates (written before the cascade: it has no log-probability of the stage's).
    """

    number: int
    reads_query: bool
    nodes: tuple[str, ...]
    components: Mapping[str, Any]
    inputs: Mapping[str, tuple[str, ...]]
    seed_keys: Mapping[str, str]
    positions: Mapping[str, tuple[int, int]]
    output: str
    signal: str | None = None
    threshold: float | None = None
    margin_from: tuple[str, ...] = ()
    margin_candidates: int = 0
    logprob_writers: frozenset[str] = field(default_factory=frozenset)
    answer_from_outside: bool = False

    @property
    def last(self) -> bool:
        return self.signal is None


def stage_ids(layers: list[list[Any]]) -> list[list[str]]:
    """The id each component of a stage goes by within it: its own ``id``, else ``<type><n>``
    numbered per type in layer order, skipping ids the stage took (as in a pipeline)."""
    taken = {c.id for layer in layers for c in layer if c.id is not None}
    counters: dict[str, int] = {}
    out: list[list[str]] = []
    for layer in layers:
        row = []
        for comp in layer:
            if comp.id is not None:
                row.append(comp.id)
                continue
            n = counters.get(comp.type, 0)
            while True:
                n += 1
                auto = f"{comp.type}{n}"
                if auto not in taken:
                    break
            counters[comp.type] = n
            taken.add(auto)
            row.append(auto)
        out.append(row)
    return out


def build_stages(cascade_id: str, component: Any, outer_inputs: list[str], n_inputs: int) -> list[Stage]:
    """The stages of cascade node ``cascade_id``; ``outer_inputs`` are the cascade's input nodes,
    ``n_inputs`` the static count of candidates they send it. Works on any schema-valid cascade
    (the composition rules report what is wrong with it; this never raises for that)."""
    kind = kind_of(component)
    assert isinstance(kind, CascadeKind)
    stages = []
    for k, stage in enumerate(component.stages, 1):
        local = stage_ids(stage.layers)
        reads_query = kind.stage_reads_query(stage)
        full = [[f"{cascade_id}.s{k}.{name}" for name in row] for row in local]
        nodes, comps, inputs, seeds, positions = [], {}, {}, {}, {}
        for li, layer in enumerate(stage.layers):
            before = tuple(full[li - 1]) if li else (() if reads_query else tuple(outer_inputs))
            for ci, comp in enumerate(layer):
                node = full[li][ci]
                nodes.append(node)
                comps[node] = comp
                inputs[node] = () if kind_of(comp).is_source(comp) else before
                seeds[node] = local[li][ci]
                positions[node] = (li, ci)
        static, _ = kind.stage_nodes(stage, n_inputs, Sizes(query=0))
        counts = {full[n.layer][n.index]: n.out.count for n in static}
        wide = [n for n in nodes if counts[n] >= 2]
        margin_from: tuple[str, ...]
        if wide:
            margin_from, margin_n = (wide[-1],), counts[wide[-1]]
        elif reads_query:  # nothing to compare: the rules say so, naming the widest node's count
            margin_from, margin_n = (), max(counts.values(), default=0)
        else:
            margin_from, margin_n = tuple(outer_inputs), n_inputs
        writers, outside = _writers(full[-1][0], comps, inputs, set(outer_inputs))
        stages.append(Stage(k, reads_query, tuple(nodes), comps, inputs, seeds, positions, full[-1][0],
                            stage.signal, stage.threshold, margin_from, margin_n, frozenset(writers), outside))
    return stages


def _writers(output: str, comps: Mapping[str, Any], inputs: Mapping[str, tuple[str, ...]],
             outside: set[str]) -> tuple[set[str], bool]:
    """The nodes whose calls write the text of the stage's answer: back from the output through
    nodes that pass candidates on (and through vote, whose answer is one of its inputs' texts)
    to the first that writes new text with a model; and whether the way back leaves the stage."""
    writers: set[str] = set()
    leaves = False
    stack, seen = [output], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in outside:
            leaves = True
            continue
        comp = comps[node]
        kind = kind_of(comp)
        if kind.creates and kind.models(comp):
            writers.add(node)
        else:
            stack.extend(inputs[node])
    return writers, leaves
