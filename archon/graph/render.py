"""Rendering a :class:`~archon.graph.pipeline.Pipeline`: text, Mermaid (``flowchart TD``), DOT, SVG.

Every format shows each node's id, kind and non-default settings, and the static calls and
candidate counts per query, so ``archon show`` answers "what will this cost?" at a glance.
"""

from __future__ import annotations

from typing import Any

from archon.errors import UsageError
from archon.graph.labels import settings
from archon.graph.svg import to_svg

__all__ = ["FORMATS", "render", "to_dot", "to_mermaid", "to_text"]

FORMATS = ("text", "mermaid", "dot", "svg")


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def _summary(p: Any, cost: Any) -> str:
    dollars = "" if cost.dollars is None else f", ~${cost.dollars:.4f}"
    return (
        f"{len(p.order)} nodes in {len(p.layers())} layers; per query: {cost.calls} calls, "
        f"~{cost.input_tokens:,} input + ~{cost.output_tokens:,} output tokens{dollars}"
    )


def to_text(p: Any, *, query_tokens: int | None = None) -> str:
    """Indented layers: one line per node with its settings, inputs when not the default, cost."""
    cost = p.static_cost() if query_tokens is None else p.static_cost(query_tokens)
    lines = [f"pipeline -> {p.output}", _summary(p, cost)]
    layers = p.layers()
    for li, layer in enumerate(layers):
        lines.append(f"layer {li}")
        default_inputs = layers[li - 1] if li > 0 else []
        for node in layer:
            comp = p.component(node)
            parts = [] if comp.type == "cascade" else [f"{k}={_fmt(v)}" for k, v in settings(comp)]
            ins = p.inputs(node)
            if ins != default_inputs:
                parts.append(f"inputs={_fmt(ins)}")
            nc = cost.per_node[node]
            lines.append(f"  {node} ({comp.type}) {' '.join(parts)}".rstrip())
            worst = " at most (every stage)" if comp.type == "cascade" else ""
            lines.append(f"      candidates {nc.candidates_in} -> {nc.candidates_out}; {nc.calls} calls{worst}")
            for stage in p.stages.get(node, []):
                gate = f"; a query goes on when {stage.signal} < {_fmt(stage.threshold)}" if stage.signal else ""
                lines.append(f"      stage {stage.number}{gate}")
                for inner in stage.nodes:
                    c = stage.components[inner]
                    ic = cost.per_node[inner]
                    detail = " ".join(f"{k}={_fmt(v)}" for k, v in settings(c))
                    lines.append(f"        {inner} ({c.type}) {detail}".rstrip())
                    lines.append(f"            candidates {ic.candidates_in} -> {ic.candidates_out}; {ic.calls} calls")
    if len(cost.per_model) > 0:
        lines.append("calls per model")
        for name, m in sorted(cost.per_model.items()):
            price = "" if m.dollars is None else f", ~${m.dollars:.4f}"
            lines.append(f"  {name}: {m.calls} calls, ~{m.input_tokens:,} in / ~{m.output_tokens:,} out tokens{price}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "#quot;").replace("<", "&lt;").replace(">", "&gt;")


def to_mermaid(p: Any) -> str:
    """A Mermaid ``flowchart TD``. Node keys are ``n0, n1, ...`` (ids may hold '-' and '.')."""
    cost = p.static_cost()
    key = {node: f"n{i}" for i, node in enumerate(p.order)}
    lines = ["flowchart TD"]
    for node in p.order:
        comp = p.component(node)
        detail = ", ".join(f"{k}={_fmt(v)}" for k, v in settings(comp))
        nc = cost.per_node[node]
        label = f"{_mermaid_text(node)}: {comp.type}<br/>{_mermaid_text(detail)}<br/>{nc.calls} calls, {nc.candidates_out} out"
        shape = ('(["', '"])') if node == p.output else ('["', '"]')
        lines.append(f"    {key[node]}{shape[0]}{label}{shape[1]}")
    for node in p.order:
        for src in p.inputs(node):
            lines.append(f"    {key[src]} --> {key[node]}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(p: Any) -> str:
    """A Graphviz ``digraph``; layers become ``rank=same`` groups so the picture keeps them."""
    cost = p.static_cost()
    lines = ["digraph pipeline {", "    rankdir=TB;", "    node [shape=box, fontname=Helvetica];"]
    for node in p.order:
        comp = p.component(node)
        detail = "\n".join(f"{k}={_fmt(v)}" for k, v in settings(comp))
        nc = cost.per_node[node]
        label = f"{node}: {comp.type}\n{detail}\n{nc.calls} calls, {nc.candidates_out} out".replace("\n\n", "\n")
        extra = ", peripheries=2" if node == p.output else ""
        lines.append(f"    {_dot_quote(node)} [label={_dot_quote(label)}{extra}];")
    for li, layer in enumerate(p.layers()):
        members = " ".join(_dot_quote(n) + ";" for n in layer)
        lines.append(f"    subgraph layer{li} {{ rank=same; {members} }}")
    for node in p.order:
        for src in p.inputs(node):
            lines.append(f"    {_dot_quote(src)} -> {_dot_quote(node)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(p: Any, format: str = "text", **options: Any) -> str:
    """Dispatch on ``format`` (one of :data:`FORMATS`)."""
    if format == "text":
        return to_text(p, **options)
    if format == "mermaid":
        return to_mermaid(p)
    if format == "dot":
        return to_dot(p)
    if format == "svg":
        return to_svg(p, **options)
    raise UsageError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
