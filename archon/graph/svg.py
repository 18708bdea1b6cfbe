"""A :class:`~archon.graph.pipeline.Pipeline` drawn as a standalone SVG picture.

Layers become columns read left to right, from the query to the answer. Each node is a card
with its id, kind, model and non-default settings, and its static cost per query (exact calls,
estimated tokens); a generator that draws several samples is drawn as a stack of cards. Edges
carry the number of candidates that travel along them. The picture needs no fonts, scripts or
styles from outside: the search report inlines it, and ``archon show --format svg`` prints it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from archon.graph.labels import settings

__all__ = ["KIND_COLORS", "to_svg"]

#: One colour per component kind (the report's legend uses the same table).
KIND_COLORS: dict[str, str] = {
    "generate": "#2563eb",
    "critique": "#db2777",
    "rank": "#7c3aed",
    "fuse": "#ea580c",
    "verify": "#059669",
    "unit_test": "#0d9488",
    "vote": "#475569",
    "refine": "#ca8a04",
    "select": "#4f46e5",
}

_FONT = "font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'"
_CHAR = 6.4  # average width of an 11px sans-serif character, for sizing cards without measuring
_LINE = 15
_PAD = 8
_MIN_W, _MAX_W = 150, 250
_COL_GAP = 64
_ROW_GAP = 18
_MAX_VALUE = 26  # characters of one setting's value before it is cut (the full text is in a tooltip)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    if value is None:
        return "null"
    return str(value)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _node_lines(component: Any) -> list[tuple[str, str]]:
    """(shown, full) text lines of a node card below its title."""
    lines = []
    for key, value in settings(component):
        if key in ("system_prompt", "prompt_template"):
            # the words of a prompt are often what a search chose: show their start, not "(custom)"
            value = " ".join(str(getattr(component, key)).split())
            key = "prompt" if key == "system_prompt" else "template"
            shown = f"{key}: \u201c{_cut(value, _MAX_VALUE - 2)}\u201d"
            lines.append((shown, f"{key}: \u201c{value}\u201d"))
            continue
        full = f"{key}: {_value(value)}"
        lines.append((_cut(full, _MAX_VALUE + len(key) + 2), full))
    return lines


def _cost_line(node_cost: Any) -> str:
    if not node_cost.calls:
        return "no model call"
    tokens = node_cost.input_tokens + node_cost.output_tokens
    return f"{node_cost.calls} call{'s' if node_cost.calls != 1 else ''} \u00b7 ~{tokens:,} tok"


def to_svg(p: Any, *, query_tokens: int | None = None, title: str | None = None) -> str:
    """The pipeline as an SVG document (a string). ``query_tokens`` sizes the token estimates."""
    cost = p.static_cost() if query_tokens is None else p.static_cost(query_tokens)
    layers = p.layers()
    cards: dict[str, dict[str, Any]] = {}
    for node in p.order:
        comp = p.component(node)
        lines = _node_lines(comp)
        head = f"{node} \u00b7 {comp.type}"
        foot = _cost_line(cost.per_node[node])
        longest = max([len(head), len(foot)] + [len(shown) for shown, _ in lines])
        width = min(_MAX_W, max(_MIN_W, int(longest * _CHAR) + 2 * _PAD + 8))
        height = 22 + _LINE * len(lines) + 22
        stack = 0
        if comp.type == "generate":
            fan = len(comp.model_list()) * comp.samples
            stack = 2 if fan > 2 else 1 if fan == 2 else 0
        cards[node] = {"w": width, "h": height, "lines": lines, "head": head, "foot": foot, "stack": stack, "kind": comp.type}

    pill_w, pill_h = 70, 26
    top = 34 if title else 10
    col_w = [max(cards[n]["w"] + 4 * cards[n]["stack"] for n in layer) for layer in layers]
    col_h = [sum(cards[n]["h"] + 4 * cards[n]["stack"] for n in layer) + _ROW_GAP * (len(layer) - 1) for layer in layers]
    inner_h = max(col_h + [pill_h])
    x = 10 + pill_w + _COL_GAP
    for li, layer in enumerate(layers):
        y = top + (inner_h - col_h[li]) / 2
        for n in layer:
            c = cards[n]
            c["x"], c["y"] = x + (col_w[li] - c["w"]) / 2, y
            y += c["h"] + 4 * c["stack"] + _ROW_GAP
        x += col_w[li] + _COL_GAP
    width = int(x + pill_w + 10)
    height = int(top + inner_h + 12)
    mid = top + inner_h / 2

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='pipeline-graph' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title or 'pipeline graph')}' {_FONT}>",
           "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
           "orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='#64748b'/></marker></defs>"]
    if title:
        out.append(f"<text x='10' y='20' font-size='13' font-weight='600' fill='#0f172a'>{escape(title)}</text>")

    placed: list[tuple[float, float, float]] = []

    def edge(x1: float, y1: float, x2: float, y2: float, label: str | None) -> None:
        dx = max(24.0, (x2 - x1) / 2)
        c1, c2 = (x1 + dx, y1), (x2 - dx, y2)
        out.append(f"<path d='M{x1:.1f},{y1:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} {x2 - 2:.1f},{y2:.1f}' "
                   "fill='none' stroke='#94a3b8' stroke-width='1.6' marker-end='url(#arrow)'/>")
        if label:
            # the count sits mid-way on an edge between neighbouring columns, and just before the
            # arrow on a longer one (its middle would be hidden behind the cards it passes)
            t = 0.5 if x2 - x1 <= _COL_GAP + 1 else 1 - 30 / max(60.0, x2 - x1)
            lx = (1 - t) ** 3 * x1 + 3 * (1 - t) ** 2 * t * c1[0] + 3 * (1 - t) * t * t * c2[0] + t ** 3 * x2
            ly = (1 - t) ** 3 * y1 + 3 * (1 - t) ** 2 * t * c1[1] + 3 * (1 - t) * t * t * c2[1] + t ** 3 * y2
            w = 8 + 6 * len(label)
            while any(abs(lx - px) < (w + pw) / 2 and abs(ly - py) < 17 for px, py, pw in placed):
                ly += 17  # converging edges: stack their counts instead of printing one over another
            placed.append((lx, ly, w))
            out.append(f"<rect x='{lx - w / 2:.1f}' y='{ly - 8:.1f}' width='{w}' height='16' rx='8' fill='#f1f5f9' stroke='#cbd5e1'/>"
                       f"<text x='{lx:.1f}' y='{ly + 4:.1f}' font-size='10' text-anchor='middle' fill='#334155'>{escape(label)}</text>")

    # the query enters every node that has no inputs; the output node's first candidate is the answer
    out.append(f"<rect x='10' y='{mid - pill_h / 2:.1f}' width='{pill_w}' height='{pill_h}' rx='13' fill='#0f172a'/>"
               f"<text x='{10 + pill_w / 2}' y='{mid + 4:.1f}' font-size='12' text-anchor='middle' fill='#fff'>query</text>")
    ax = width - 10 - pill_w
    out.append(f"<rect x='{ax}' y='{mid - pill_h / 2:.1f}' width='{pill_w}' height='{pill_h}' rx='13' fill='#0f172a'/>"
               f"<text x='{ax + pill_w / 2}' y='{mid + 4:.1f}' font-size='12' text-anchor='middle' fill='#fff'>answer</text>")
    for node in p.order:
        c = cards[node]
        cy = c["y"] + c["h"] / 2
        ins = p.inputs(node)
        if not ins:
            edge(10 + pill_w, mid, c["x"], cy, None)
        for src in ins:
            s = cards[src]
            n_out = cost.per_node[src].candidates_out
            edge(s["x"] + s["w"], s["y"] + s["h"] / 2, c["x"], cy, f"{n_out}")
    o = cards[p.output]
    edge(o["x"] + o["w"], o["y"] + o["h"] / 2, ax, mid, None)

    for node in p.order:
        c = cards[node]
        color = KIND_COLORS.get(c["kind"], "#334155")
        x0, y0, w, h = c["x"], c["y"], c["w"], c["h"]
        tip = "\n".join([c["head"]] + [full for _, full in c["lines"]] + [c["foot"]])
        out.append(f"<g class='node' data-node='{escape(node)}'><title>{escape(tip)}</title>")
        for k in range(c["stack"], 0, -1):  # the other samples, peeking out behind the card
            out.append(f"<rect x='{x0 + 4 * k:.1f}' y='{y0 + 4 * k:.1f}' width='{w}' height='{h}' rx='6' fill='#fff' stroke='{color}' stroke-opacity='0.45'/>")
        out.append(f"<rect x='{x0:.1f}' y='{y0:.1f}' width='{w}' height='{h}' rx='6' fill='#fff' stroke='{color}' stroke-width='1.5'/>"
                   f"<path d='M{x0:.1f},{y0 + 20:.1f} v-14 a6,6 0 0 1 6,-6 h{w - 12} a6,6 0 0 1 6,6 v14 z' fill='{color}'/>"
                   f"<text x='{x0 + _PAD:.1f}' y='{y0 + 14:.1f}' font-size='11.5' font-weight='600' fill='#fff'>{escape(_cut(c['head'], int((w - 2 * _PAD) / _CHAR)))}</text>")
        ty = y0 + 20 + 14
        for shown, _ in c["lines"]:
            out.append(f"<text x='{x0 + _PAD:.1f}' y='{ty:.1f}' font-size='11' fill='#1e293b'>{escape(_cut(shown, int((w - 2 * _PAD) / _CHAR)))}</text>")
            ty += _LINE
        out.append(f"<line x1='{x0:.1f}' y1='{y0 + h - 20:.1f}' x2='{x0 + w:.1f}' y2='{y0 + h - 20:.1f}' stroke='#e2e8f0'/>"
                   f"<text x='{x0 + _PAD:.1f}' y='{y0 + h - 6:.1f}' font-size='11' fill='#475569'>{escape(c['foot'])}</text></g>")
    out.append("</svg>")
    return "".join(out)
