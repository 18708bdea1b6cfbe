"""Composition rules checked on a compiled graph (each has an id; see docs/composition-rules.md).

Structure (unique ids, references, acyclicity) is checked while the graph is built, in
:mod:`archon.graph.pipeline`; everything here runs on an acyclic graph and reports every problem
at once.
"""

from __future__ import annotations

from typing import Any

from archon.graph.kinds import KINDS, kind_of
from archon.spec.schema import LOCAL_MODEL_NAME

__all__ = ["RULES", "check"]

#: Rule id -> one-line statement. The docs table and the tests are keyed by these ids.
RULES: dict[str, str] = {
    "unique-ids": "node ids are unique",
    "references": "every input names a node of the pipeline, once",
    "acyclic": "the graph has no cycle",
    "models": "every model a component names is defined in models: (or is local/smollm2)",
    "generators-first": "the first layer holds only generators, and generators appear only there, without inputs",
    "has-inputs": "every non-generator consumes at least one node",
    "single-output": "the final layer holds exactly one node (its first candidate is the answer)",
    "all-used": "every node's candidates reach the final node",
    "critic-before-use": "a rank/fuse with use_critiques: true has a critic upstream whose critiques reach it",
    "critiques-used": "a critic's critiques reach a rank or fuse that uses them",
    "annotations": "select by: verdict needs a verify upstream, by: tests a unit_test upstream",
    "max-candidates": "a fuser never receives more candidates than its max_candidates",
    "context-window": "no call's prompt plus max_tokens exceeds its model's context_window",
    "budget-calls": "the static calls per query fit budget.per_query.calls",
}


def _path(p: Any, node: str, *rest: Any) -> tuple[Any, ...]:
    layer, index = p.position(node)
    return ("pipeline", layer, index, *rest)


def _available(p: Any) -> dict[str, frozenset[str]]:
    """Annotations every output candidate of each node is guaranteed to carry."""
    avail: dict[str, frozenset[str]] = {}
    for node in p.order:
        kind = kind_of(p.component(node))
        inherited: frozenset[str] = frozenset()
        ins = p.inputs(node)
        if not kind.creates and ins:
            inherited = frozenset.intersection(*(avail[i] for i in ins))
        avail[node] = inherited | frozenset(kind.annotates)
    return avail


def check(p: Any, rep: Any) -> None:
    """Run every rule on pipeline ``p``; add findings to ``rep`` (a reporter with ``add``)."""
    spec = p.spec
    layers = p._layers
    defined = set(spec.models) | {LOCAL_MODEL_NAME}

    for node in p.order:
        comp = p.component(node)
        layer, _ = p.position(node)
        # models
        if comp.type == "generate" and comp.models:
            for k, name in enumerate(comp.models):
                if name not in defined:
                    rep.add("models", _path(p, node, "models", k), f"undefined model '{name}'", "define it under models:")
        elif hasattr(comp, "model") and comp.model not in defined:
            rep.add("models", _path(p, node, "model"), f"undefined model '{comp.model}'", "define it under models:")
        # generators-first / has-inputs
        if kind_of(comp).source:
            if layer > 0:
                rep.add(
                    "generators-first",
                    _path(p, node, "type"),
                    f"generator '{node}' is in layer {layer}; generators belong in the first layer only",
                    "to combine earlier candidates use fuse; to sample more, raise samples in the first layer",
                )
            elif comp.inputs:
                rep.add("generators-first", _path(p, node, "inputs"), f"generator '{node}' has inputs", "a generator reads only the query; remove inputs")
        elif layer == 0:
            rep.add(
                "generators-first",
                _path(p, node, "type"),
                f"'{node}' ({comp.type}) is in the first layer, which holds only generators",
                f"a {comp.type} needs candidates; put a generate layer before it",
            )
        elif not p.inputs(node):
            rep.add("has-inputs", _path(p, node, "inputs"), f"'{node}' ({comp.type}) has no inputs", "name at least one node in inputs, or leave inputs out")

    # single-output
    final = layers[-1]
    if len(final) != 1:
        rep.add(
            "single-output",
            ("pipeline", len(layers) - 1),
            f"the final layer has {len(final)} nodes ({', '.join(final)}); it must have exactly one",
            "end with one fuse, rank (top_k: 1), select or vote node",
        )
    elif not any(f.rule == "has-inputs" for f in rep.findings):
        # all-used: only meaningful once the output is unambiguous and every node is connected
        needed = {p.output} | p.ancestors(p.output)
        for node in p.order:
            if node not in needed:
                rep.add(
                    "all-used",
                    _path(p, node),
                    f"the candidates of '{node}' never reach the final node '{p.output}'",
                    "connect it (inputs:) or remove it",
                )

    # annotations, critic-before-use, critiques-used
    avail = _available(p)
    for node in p.order:
        comp = p.component(node)
        ins = p.inputs(node)
        if not ins:
            continue
        have = frozenset.intersection(*(avail[i] for i in ins))
        for annotation, fieldname in kind_of(comp).requires(comp).items():
            if annotation in have:
                continue
            if annotation == "critique":
                rep.add(
                    "critic-before-use",
                    _path(p, node, fieldname),
                    f"'{node}' sets use_critiques: true but no critic's critiques reach it",
                    "put a critique layer before it, or drop use_critiques",
                )
            else:
                need = next(k.name for k in KINDS.values() if annotation in k.annotates)
                plural = annotation if annotation.endswith("s") else annotation + "s"
                rep.add(
                    "annotations",
                    _path(p, node, fieldname),
                    f"'{node}' selects by {comp.by} but its candidates carry no {plural}",
                    f"put a {need} node before it (with nothing that replaces candidates in between)",
                )
        if "critique" in kind_of(comp).annotates:
            if not _critiques_reach_consumer(p, node):
                rep.add(
                    "critiques-used",
                    _path(p, node, "type"),
                    f"the critiques written by '{node}' are never used",
                    "follow the critic with a rank or fuse that uses critiques, with only filters in between",
                )

    # context limits and budget need the static candidate counts
    cost = p.static_cost()
    for node in p.order:
        comp = p.component(node)
        nc = cost.per_node[node]
        if comp.type == "fuse" and comp.max_candidates is not None and nc.candidates_in > comp.max_candidates:
            rep.add(
                "max-candidates",
                _path(p, node, "max_candidates"),
                f"'{node}' receives up to {nc.candidates_in} candidates but max_candidates is {comp.max_candidates}",
                "put a rank (top_k) before it, or sample fewer candidates",
            )
        if not nc.calls:
            continue
        for name in kind_of(comp).models(comp):
            entry = spec.models.get(name)
            window = entry.context_window if entry is not None else None
            if window is None:
                continue
            need = nc.prompt_tokens_max + comp.max_tokens
            if need > window:
                rep.add(
                    "context-window",
                    _path(p, node, "model"),
                    f"'{node}' needs ~{need} tokens of context ({nc.prompt_tokens_max} prompt for {nc.candidates_in} candidates"
                    f" + {comp.max_tokens} max_tokens) but model '{name}' has context_window {window}",
                    "rank fewer candidates into it (top_k), lower max_tokens, or use a longer-context model",
                )
    limit = spec.budget.per_query.calls
    if limit is not None and cost.calls > limit:
        rep.add(
            "budget-calls",
            ("budget", "per_query", "calls"),
            f"the pipeline makes {cost.calls} model calls per query, over budget.per_query.calls = {limit}",
            "raise the budget or use fewer samples/candidates",
        )


def _critiques_reach_consumer(p: Any, start: str) -> bool:
    stack = p.successors(start)
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        comp = p.component(node)
        kind = kind_of(comp)
        if kind.shows_critiques(comp):
            return True
        if not kind.creates:
            stack.extend(p.successors(node))
    return False
