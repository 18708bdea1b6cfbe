"""Composition rules checked on a compiled graph (each has an id; see docs/composition-rules.md).

Structure (unique ids, references, acyclicity) is checked while the graph is built, in
:mod:`archon.graph.pipeline`; everything here runs on an acyclic graph and reports every problem
at once.
"""

from __future__ import annotations

from typing import Any

from archon.graph.kinds import KINDS, kind_of
from archon.spec.schema import LOCAL_MODEL_NAME, LOGPROB_BACKENDS

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
    "cascade-stages": "every cascade stage is a chain of layers ending in one node; all stages read the same input "
                      "(the query or the cascade's candidates); no cascade inside a stage",
    "cascade-signal": "every stage but the last has a signal and a threshold, and a signal its nodes can produce; "
                      "the last stage has neither",
}

#: What each confidence signal needs of its stage, for the messages.
_SIGNAL_NEEDS = {
    "vote_margin": "two or more candidates to compare",
    "verdict": "a verify node whose verdicts reach the stage's answer",
    "logprob": "an answer written by a generate, fuse or refine node of the stage on a backend that returns log-probabilities",
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
        _check_models(comp, defined, _path(p, node), rep)
        # generators-first / has-inputs
        if kind_of(comp).is_source(comp):
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

    for node, stages in p.stages.items():
        _check_cascade(p, node, stages, avail, rep)

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
        if not nc.calls or comp.type == "cascade":  # a cascade's nodes are checked in its stages
            continue
        _check_window(spec, node, comp, nc.prompt_tokens_max, nc.candidates_in, _path(p, node, "model"), rep)
    limit = spec.budget.per_query.calls
    if limit is not None and cost.calls > limit:
        rep.add(
            "budget-calls",
            ("budget", "per_query", "calls"),
            f"the pipeline makes {cost.calls} model calls per query, over budget.per_query.calls = {limit}",
            "raise the budget or use fewer samples/candidates",
        )


def _check_window(spec: Any, node: str, comp: Any, prompt: int, n_inputs: int, path: tuple[Any, ...], rep: Any) -> None:
    for name in kind_of(comp).models(comp):
        entry = spec.models.get(name)
        window = entry.context_window if entry is not None else None
        if window is None:
            continue
        need = prompt + comp.max_tokens
        if need > window:
            rep.add(
                "context-window",
                path,
                f"'{node}' needs ~{need} tokens of context ({prompt} prompt for {n_inputs} candidates"
                f" + {comp.max_tokens} max_tokens) but model '{name}' has context_window {window}",
                "rank fewer candidates into it (top_k), lower max_tokens, or use a longer-context model",
            )


def _check_models(comp: Any, defined: set[str], path: tuple[Any, ...], rep: Any) -> None:
    if comp.type == "generate" and comp.models:
        for k, name in enumerate(comp.models):
            if name not in defined:
                rep.add("models", path + ("models", k), f"undefined model '{name}'", "define it under models:")
    elif hasattr(comp, "model") and comp.model not in defined:
        rep.add("models", path + ("model",), f"undefined model '{comp.model}'", "define it under models:")


def _check_cascade(p: Any, cascade: str, stages: list[Any], avail: dict[str, frozenset[str]], rep: Any) -> None:
    """The rules inside a cascade's stages, and its signals (see :mod:`archon.graph.cascade`)."""
    spec = p.spec
    defined = set(spec.models) | {LOCAL_MODEL_NAME}
    outer = p.inputs(cascade)
    incoming = frozenset.intersection(*(avail[i] for i in outer)) if outer else frozenset()
    first_reads_query = stages[0].reads_query
    for si, stage in enumerate(stages):
        spec_stage = p.component(cascade).stages[si]

        def at(node: str, *rest: Any) -> tuple[Any, ...]:
            li, ci = stage.positions[node]
            return _path(p, cascade, "stages", si, "layers", li, ci, *rest)

        where = f"stage {stage.number} of '{cascade}'"
        # structure
        seen: dict[str, str] = {}
        for node in stage.nodes:
            comp = stage.components[node]
            li, _ = stage.positions[node]
            if comp.id is not None:
                if comp.id in seen:
                    rep.add("unique-ids", at(node, "id"), f"duplicate node id '{comp.id}' in {where}", "ids must be unique within a stage")
                seen[comp.id] = node
            if comp.type == "cascade":
                rep.add("cascade-stages", at(node, "type"), f"{where} holds another cascade",
                        "give the outer cascade more stages instead of nesting one")
                continue
            if comp.inputs is not None:
                rep.add("cascade-stages", at(node, "inputs"), f"'{node}' names inputs inside {where}",
                        "inside a stage each layer consumes the layer before it; remove inputs")
            source = kind_of(comp).is_source(comp)
            if source and (li > 0 or not stage.reads_query):
                rep.add("generators-first", at(node, "type"),
                        f"generator '{node}' is in layer {li} of {where}; a stage's generators belong in its first layer, "
                        "with nothing else there",
                        "a stage starts either with generators (it reads the query) or with nodes that take the cascade's candidates")
            elif not source and li == 0 and stage.reads_query:
                rep.add("generators-first", at(node, "type"),
                        f"'{node}' ({comp.type}) is in the first layer of {where} beside generators",
                        "a stage starts either with generators (it reads the query) or with nodes that take the cascade's candidates")
            _check_models(comp, defined, at(node), rep)
        if stage.reads_query != first_reads_query:
            what = "the query" if stage.reads_query else "the cascade's input candidates"
            other = "the query" if first_reads_query else "the cascade's input candidates"
            rep.add("cascade-stages", _path(p, cascade, "stages", si, "layers", 0),
                    f"{where} reads {what} but stage 1 reads {other}",
                    "every stage of a cascade takes the same input: start each with generators, or none of them")
        last_layer = spec_stage.layers[-1]
        if len(last_layer) != 1:
            rep.add("cascade-stages", _path(p, cascade, "stages", si, "layers", len(spec_stage.layers) - 1),
                    f"the last layer of {where} has {len(last_layer)} nodes; it must have exactly one (its first candidate is the stage's answer)",
                    "end the stage with one fuse, rank (top_k: 1), select or vote node")
        # annotations inside the stage
        have_at: dict[str, frozenset[str]] = {}
        for node in stage.nodes:
            comp = stage.components[node]
            ins = stage.inputs[node]
            have = incoming if (ins and stage.positions[node][0] == 0) else (
                frozenset.intersection(*(have_at[i] for i in ins)) if ins else frozenset())
            k = kind_of(comp)
            for annotation, fieldname in k.requires(comp).items():
                if annotation in have:
                    continue
                if annotation == "critique":
                    rep.add("critic-before-use", at(node, fieldname), f"'{node}' sets use_critiques: true but no critic's critiques reach it",
                            "put a critique layer before it in the stage, or drop use_critiques")
                else:
                    need = next(kk.name for kk in KINDS.values() if annotation in kk.annotates)
                    rep.add("annotations", at(node, fieldname), f"'{node}' selects by {comp.by} but its candidates carry no {annotation}s",
                            f"put a {need} node before it in the stage (with nothing that replaces candidates in between)")
            have_at[node] = (frozenset() if k.creates else have) | frozenset(k.annotates)
            if "critique" in k.annotates and not _critiques_used_in_stage(stage, node):
                rep.add("critiques-used", at(node, "type"), f"the critiques written by '{node}' are never used",
                        "follow the critic with a rank or fuse of the same stage that uses critiques")
        # context limits (the cost model sizes every stage node, the cascade's input included)
        cost = p.static_cost()
        for node in stage.nodes:
            comp, nc = stage.components[node], cost.per_node.get(node)
            if nc is None or comp.type == "cascade":
                continue
            if comp.type == "fuse" and comp.max_candidates is not None and nc.candidates_in > comp.max_candidates:
                rep.add("max-candidates", at(node, "max_candidates"),
                        f"'{node}' receives up to {nc.candidates_in} candidates but max_candidates is {comp.max_candidates}",
                        "put a rank (top_k) before it, or sample fewer candidates")
            if nc.calls:
                _check_window(spec, node, comp, nc.prompt_tokens_max, nc.candidates_in, at(node, "model"), rep)
        # the gate after the stage
        spath = _path(p, cascade, "stages", si)
        if stage.number == len(stages):
            for name in ("signal", "threshold"):
                if getattr(spec_stage, name) is not None:
                    rep.add("cascade-signal", spath + (name,), f"the last stage of '{cascade}' has a {name}",
                            "the last stage answers every query that reaches it; remove its signal and threshold")
            continue
        if spec_stage.signal is None or spec_stage.threshold is None:
            missing = " and ".join(n for n in ("signal", "threshold") if getattr(spec_stage, n) is None)
            rep.add("cascade-signal", spath, f"{where} has no {missing}",
                    "say when a query goes on to the next stage, e.g. signal: vote_margin, threshold: 0.5")
            continue
        problem = _signal_problem(spec, stage, have_at.get(stage.output, frozenset()))
        if problem:
            rep.add("cascade-signal", spath + ("signal",), f"{where} cannot produce signal '{stage.signal}': {problem}",
                    f"'{stage.signal}' needs {_SIGNAL_NEEDS.get(stage.signal, '')}; choose another signal or change the stage")


def _signal_problem(spec: Any, stage: Any, have: frozenset[str]) -> str | None:
    """Why ``stage`` cannot produce its signal (None: it can)."""
    if stage.signal == "vote_margin" and stage.margin_candidates < 2:
        return f"it has at most {stage.margin_candidates} candidate{'s' if stage.margin_candidates != 1 else ''} to vote over"
    if stage.signal == "verdict" and "verdict" not in have:
        return "no verdict reaches its answer"
    if stage.signal == "logprob":
        if not stage.logprob_writers or stage.answer_from_outside:
            return "its answer can be a candidate written before the cascade"
        for node in sorted(stage.logprob_writers):
            comp = stage.components[node]
            for name in kind_of(comp).models(comp):
                entry = spec.models.get(name)
                backend = "local" if entry is None and name == LOCAL_MODEL_NAME else (entry.kind if entry else None)
                if backend is not None and backend not in LOGPROB_BACKENDS:
                    return (f"'{node}' calls model '{name}' (kind {backend}), which returns no log-probabilities "
                            f"(kinds that do: {', '.join(LOGPROB_BACKENDS)})")
    return None


def _critiques_used_in_stage(stage: Any, start: str) -> bool:
    consumers = {n: [m for m in stage.nodes if n in stage.inputs[m]] for n in stage.nodes}
    stack, seen = list(consumers[start]), set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        comp = stage.components[node]
        kind = kind_of(comp)
        if kind.shows_critiques(comp):
            return True
        if not kind.creates:
            stack.extend(consumers[node])
    return False


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
