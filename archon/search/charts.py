"""The search report's charts, drawn as inline SVG from plain numbers.

Hand-written rather than plotted: the report must open offline with nothing fetched, stay small,
and stay sharp at any zoom, and each mark carries a tooltip and a link to the trial it shows.
Every function takes plain data and returns an ``<svg>`` string; none reads a study or a file.

- :func:`cost_accuracy`: dev accuracy against cost per query for every trial, the Pareto front
  (best accuracy for the cost) as a step line, the baseline and the emitted pipeline marked.
- :func:`generalization`: dev -> selection -> test for the candidates that reached the
  selection split, one line each: the winner's curse is the drop from dev to held-out data.
- :func:`history`: dev accuracy by trial number, with the best so far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Sequence

__all__ = ["Point", "Line", "cost_accuracy", "generalization", "history", "pareto_front", "ticks"]

_FONT = "font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'"
INK, MUTED, GRID = "#0f172a", "#64748b", "#e2e8f0"
TRIAL, PRUNED, FRONT, BASE, WIN = "#2563eb", "#94a3b8", "#ea580c", "#0f172a", "#16a34a"


@dataclass
class Point:
    """One trial on the cost/accuracy plane (``cost`` in the chart's unit)."""

    trial: int
    cost: float
    accuracy: float
    low: float | None = None
    high: float | None = None
    complete: bool = True  # False: pruned, scored on a first rung only
    tip: str = ""


@dataclass
class Line:
    """One candidate across splits: values (None where it was not scored) and their intervals."""

    label: str
    values: list[float | None]
    lows: list[float | None] = field(default_factory=list)
    highs: list[float | None] = field(default_factory=list)
    role: str = "other"  # emitted | baseline | best | other
    tip: str = ""
    href: str | None = None


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        if v >= lo - step * 1e-9:
            out.append(round(v, 10))
        v += step
    return out


def _fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:g}"
    return f"{v:.3g}" if abs(v) < 0.01 else f"{v:.2f}".rstrip("0").rstrip(".")


def _accuracy_range(values: Sequence[float]) -> tuple[float, float]:
    """A range around ``values`` within [0, 1] whose ends are tick marks (0.1 or 0.2 apart)."""
    lo, hi = max(0.0, min(values) - 0.03), min(1.0, max(values) + 0.03)
    step = 0.1 if hi - lo <= 0.6 else 0.2
    lo, hi = math.floor(lo / step + 1e-9) * step, min(1.0, math.ceil(hi / step - 1e-9) * step)
    if hi - lo < step:
        hi = min(1.0, lo + step)
        lo = hi - step
    return round(lo, 10), round(hi, 10)


def _accuracy_ticks(lo: float, hi: float) -> list[float]:
    step = 0.1 if hi - lo <= 0.6 + 1e-9 else 0.2
    return [round(lo + k * step, 10) for k in range(int(round((hi - lo) / step)) + 1)]


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """Complete points that no other complete point beats on accuracy without costing more."""
    done = [p for p in points if p.complete]
    front = [p for p in done if not any(
        q.accuracy >= p.accuracy and q.cost <= p.cost and (q.accuracy > p.accuracy or q.cost < p.cost) for q in done)]
    return sorted(front, key=lambda p: (p.cost, -p.accuracy, p.trial))


def _open(width: int, height: int, label: str, cls: str) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' class='chart {cls}' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(label)}' {_FONT}>")


def _frame(out: list[str], x0: float, y0: float, x1: float, y1: float, xt: list[tuple[float, str]], yt: list[tuple[float, str]],
           xlabel: str, ylabel: str) -> None:
    for y, text in yt:
        out.append(f"<line x1='{x0}' y1='{y:.1f}' x2='{x1}' y2='{y:.1f}' stroke='{GRID}'/>"
                   f"<text x='{x0 - 6}' y='{y + 4:.1f}' font-size='11' text-anchor='end' fill='{MUTED}'>{escape(text)}</text>")
    for x, text in xt:
        out.append(f"<line x1='{x:.1f}' y1='{y1}' x2='{x:.1f}' y2='{y1 + 4}' stroke='{MUTED}'/>"
                   f"<text x='{x:.1f}' y='{y1 + 17}' font-size='11' text-anchor='middle' fill='{MUTED}'>{escape(text)}</text>")
    out.append(f"<line x1='{x0}' y1='{y1}' x2='{x1}' y2='{y1}' stroke='{MUTED}'/>")
    out.append(f"<text x='{(x0 + x1) / 2:.1f}' y='{y1 + 34}' font-size='12' text-anchor='middle' fill='{INK}'>{escape(xlabel)}</text>")
    out.append(f"<text transform='translate(14,{(y0 + y1) / 2:.1f}) rotate(-90)' font-size='12' text-anchor='middle' fill='{INK}'>{escape(ylabel)}</text>")


def _diamond(x: float, y: float, r: float, fill: str, stroke: str = "#fff") -> str:
    return f"<path d='M{x:.1f},{y - r:.1f} L{x + r:.1f},{y:.1f} L{x:.1f},{y + r:.1f} L{x - r:.1f},{y:.1f} z' fill='{fill}' stroke='{stroke}' stroke-width='1.5'/>"


def _star(x: float, y: float, r: float, fill: str) -> str:
    pts = []
    for k in range(10):
        a = -math.pi / 2 + k * math.pi / 5
        rr = r if k % 2 == 0 else r * 0.45
        pts.append(f"{x + rr * math.cos(a):.1f},{y + rr * math.sin(a):.1f}")
    return f"<polygon points='{' '.join(pts)}' fill='{fill}' stroke='#fff' stroke-width='1.2'/>"


def cost_accuracy(points: Sequence[Point], *, unit_label: str, baseline: Point | None = None, emitted: int | None = None,
                  width: int = 1040, height: int = 400) -> str:
    """Accuracy (dev) against cost per query; see the module docstring."""
    out = [_open(width, height, f"dev accuracy against {unit_label}", "cost-accuracy")]
    shown = list(points) + ([baseline] if baseline is not None else [])
    if not shown:
        out.append(f"<text x='20' y='40' fill='{MUTED}'>no trial was scored</text></svg>")
        return "".join(out)
    x0, x1, y0, y1 = 58.0, width - 24.0, 14.0, height - 48.0
    costs = [p.cost for p in shown]
    lo_c, hi_c = min(costs), max(costs)
    log = lo_c > 0 and hi_c / lo_c > 8
    if log:
        a, b = math.log10(lo_c) - 0.1, math.log10(hi_c) + 0.1
        fx = lambda c: x0 + (math.log10(max(c, 1e-12)) - a) / (b - a) * (x1 - x0)  # noqa: E731
        xt = [m * 10.0 ** e for e in range(math.floor(a), math.ceil(b) + 1) for m in (1, 2, 5) if a <= math.log10(m * 10.0 ** e) <= b]
    else:
        pad = (hi_c - lo_c) * 0.06 or max(hi_c * 0.1, 0.5)
        a, b = max(0.0, lo_c - pad), hi_c + pad
        xt = ticks(a, b)
        a, b = min(a, xt[0]), max(b, xt[-1])
        fx = lambda c: x0 + (c - a) / (b - a) * (x1 - x0)  # noqa: E731
    ya, yb = _accuracy_range([p.accuracy for p in shown] + [p.low for p in shown if p.low is not None and p.complete]
                             + [p.high for p in shown if p.high is not None and p.complete])
    fy = lambda v: y1 - (v - ya) / (yb - ya) * (y1 - y0)  # noqa: E731
    _frame(out, x0, y0, x1, y1, [(fx(v), _fmt_tick(v)) for v in xt], [(fy(v), f"{v:.1f}") for v in _accuracy_ticks(ya, yb)],
           unit_label + (" (log scale)" if log else ""), "dev accuracy")
    front = pareto_front(points)
    if baseline is not None:
        by = fy(baseline.accuracy)
        out.append(f"<line x1='{x0}' y1='{by:.1f}' x2='{x1}' y2='{by:.1f}' stroke='{BASE}' stroke-dasharray='4 4' stroke-opacity='0.5'/>")
    for p in points:  # intervals first, under every marker
        if p.complete and p.low is not None and p.high is not None:
            out.append(f"<line x1='{fx(p.cost):.1f}' y1='{fy(p.low):.1f}' x2='{fx(p.cost):.1f}' y2='{fy(p.high):.1f}' stroke='{TRIAL}' stroke-opacity='0.18' stroke-width='3'/>")
    if len(front) > 1:
        # a staircase: each step is what more cost per query buys in accuracy
        d = f"M{fx(front[0].cost):.1f},{fy(front[0].accuracy):.1f}" + "".join(f" H{fx(p.cost):.1f} V{fy(p.accuracy):.1f}" for p in front[1:])
        out.append(f"<path class='front' d='{d}' fill='none' stroke='{FRONT}' stroke-width='2' stroke-opacity='0.8'/>")
    on_front = {p.trial for p in front}
    for p in sorted(points, key=lambda p: (p.complete, p.trial in on_front)):
        x, y = fx(p.cost), fy(p.accuracy)
        tip = f"<title>{escape(p.tip)}</title>" if p.tip else ""
        if not p.complete:
            mark = f"<circle cx='{x:.1f}' cy='{y:.1f}' r='4' fill='#fff' stroke='{PRUNED}' stroke-width='1.5'/>"
        elif p.trial in on_front:
            mark = f"<circle cx='{x:.1f}' cy='{y:.1f}' r='6' fill='{FRONT}' stroke='#fff' stroke-width='1.5'/>"
        else:
            mark = f"<circle cx='{x:.1f}' cy='{y:.1f}' r='5' fill='{TRIAL}' fill-opacity='0.75' stroke='#fff'/>"
        out.append(f"<a href='#trial-{p.trial}' class='point' data-trial='{p.trial}'>{tip}{mark}</a>")
    if emitted is not None:
        star = next((q for q in points if q.trial == emitted), None)
        if star is not None:
            x, y = fx(star.cost), fy(star.accuracy)
            out.append(f"<a href='#trial-{star.trial}'><title>{escape(star.tip)}</title>{_star(x, y, 11, WIN)}</a>"
                       f"<text x='{x + 13:.1f}' y='{y - 9:.1f}' font-size='11' font-weight='600' fill='{WIN}'>best.yaml</text>")
    if baseline is not None:
        x, y = fx(baseline.cost), fy(baseline.accuracy)
        tip = f"<title>{escape(baseline.tip)}</title>" if baseline.tip else ""
        out.append(f"<g class='baseline'>{tip}{_diamond(x, y, 8, BASE)}</g>"
                   f"<text x='{x + 11:.1f}' y='{y + 16:.1f}' font-size='11' font-weight='600' fill='{BASE}'>baseline</text>")
    out.append("</svg>")
    return "".join(out)


_ROLE_STYLE = {
    "emitted": (WIN, 3.0, "", 1.0),
    "baseline": (BASE, 2.2, " stroke-dasharray='6 4'", 1.0),
    "best": (FRONT, 2.2, "", 1.0),
    "other": (TRIAL, 1.4, "", 0.55),
}


def generalization(lines: Sequence[Line], columns: Sequence[str], *, width: int = 1040, height: int = 360) -> str:
    """Each candidate's accuracy on each split (``columns``), joined left to right."""
    out = [_open(width, height, "accuracy on dev, selection and test", "generalization")]
    vals = [v for ln in lines for v in list(ln.values) + list(ln.lows) + list(ln.highs) if v is not None]
    if not vals:
        out.append(f"<text x='20' y='40' fill='{MUTED}'>no candidate was scored on held-out data</text></svg>")
        return "".join(out)
    x0, x1, y0, y1 = 58.0, width - 170.0, 24.0, height - 40.0
    ya, yb = _accuracy_range(vals)
    fy = lambda v: y1 - (v - ya) / (yb - ya) * (y1 - y0)  # noqa: E731
    n = len(columns)
    xs = [x0 + 30 + i * (x1 - x0 - 60) / max(1, n - 1) for i in range(n)]
    for v in _accuracy_ticks(ya, yb):
        if ya <= v <= yb:
            out.append(f"<line x1='{x0}' y1='{fy(v):.1f}' x2='{x1}' y2='{fy(v):.1f}' stroke='{GRID}'/>"
                       f"<text x='{x0 - 6}' y='{fy(v) + 4:.1f}' font-size='11' text-anchor='end' fill='{MUTED}'>{v:.1f}</text>")
    for x, name in zip(xs, columns):
        out.append(f"<line x1='{x:.1f}' y1='{y0 - 6}' x2='{x:.1f}' y2='{y1}' stroke='#cbd5e1'/>"
                   f"<text x='{x:.1f}' y='{y1 + 20}' font-size='12' font-weight='600' text-anchor='middle' fill='{INK}'>{escape(name)}</text>")
    out.append(f"<text transform='translate(14,{(y0 + y1) / 2:.1f}) rotate(-90)' font-size='12' text-anchor='middle' fill='{INK}'>accuracy</text>")
    order = sorted(lines, key=lambda ln: ["other", "best", "baseline", "emitted"].index(ln.role) if ln.role in _ROLE_STYLE else 0)
    ends: list[tuple[float, Line, float]] = []
    for ln in order:
        color, w, dash, alpha = _ROLE_STYLE.get(ln.role, _ROLE_STYLE["other"])
        pts = [(xs[i], fy(v)) for i, v in enumerate(ln.values) if v is not None]
        if not pts:
            continue
        tip = f"<title>{escape(ln.tip)}</title>" if ln.tip else ""
        group = [f"<g class='line role-{ln.role}' opacity='{alpha}'>{tip}"]
        for i, value in enumerate(ln.values):  # intervals
            lo = ln.lows[i] if i < len(ln.lows) else None
            hi = ln.highs[i] if i < len(ln.highs) else None
            if value is not None and lo is not None and hi is not None and ln.role != "other":
                off = {"emitted": -5, "baseline": 5, "best": 10}.get(ln.role, 0)
                group.append(f"<line x1='{xs[i] + off:.1f}' y1='{fy(lo):.1f}' x2='{xs[i] + off:.1f}' y2='{fy(hi):.1f}' stroke='{color}' stroke-opacity='0.35' stroke-width='3'/>")
        d = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y) in enumerate(pts))
        group.append(f"<path d='{d}' fill='none' stroke='{color}' stroke-width='{w}'{dash}/>")
        for x, y in pts:
            group.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{4 if ln.role == 'other' else 5}' fill='{color}' stroke='#fff'/>")
        group.append("</g>")
        out.append(f"<a href='{escape(ln.href)}'>" + "".join(group) + "</a>" if ln.href else "".join(group))
        ends.append((pts[-1][1], ln, pts[-1][0]))
    # labels at the right, nudged apart so lines that end together stay readable
    ends.sort(key=lambda e: e[0])
    placed: list[float] = []
    for y, ln, x in ends:
        ly = max([y] + [p + 13 for p in placed[-1:]])
        placed.append(ly)
        color = _ROLE_STYLE.get(ln.role, _ROLE_STYLE["other"])[0]
        weight = "600" if ln.role != "other" else "400"
        out.append(f"<line x1='{x + 7:.1f}' y1='{y:.1f}' x2='{x1 + 8:.1f}' y2='{ly:.1f}' stroke='{color}' stroke-opacity='0.35'/>"
                   f"<text x='{x1 + 12:.1f}' y='{ly + 4:.1f}' font-size='11' font-weight='{weight}' fill='{color}'>{escape(ln.label)}</text>")
    if placed and placed[-1] + 8 > height:
        out[0] = _open(width, int(placed[-1] + 12), "accuracy on dev, selection and test", "generalization")
    out.append("</svg>")
    return "".join(out)


def history(points: Sequence[Point], *, baseline: float | None = None, width: int = 1040, height: int = 260) -> str:
    """Dev accuracy by trial number (``Point.cost`` is ignored), with the best complete so far."""
    out = [_open(width, height, "dev accuracy by trial", "history")]
    if not points:
        out.append(f"<text x='20' y='40' fill='{MUTED}'>no trial was scored</text></svg>")
        return "".join(out)
    x0, x1, y0, y1 = 58.0, width - 24.0, 14.0, height - 48.0
    last = max(p.trial for p in points)
    xt = ticks(0, max(1, last), min(10, max(1, last)))
    xt = [v for v in xt if float(v).is_integer()]
    b = max(last, xt[-1] if xt else last, 1) + 0.5
    fx = lambda t: x0 + (t + 0.5) / (b + 0.5) * (x1 - x0)  # noqa: E731
    ya, yb = _accuracy_range([p.accuracy for p in points] + ([baseline] if baseline is not None else []))
    fy = lambda v: y1 - (v - ya) / (yb - ya) * (y1 - y0)  # noqa: E731
    _frame(out, x0, y0, x1, y1, [(fx(v), f"{v:g}") for v in xt], [(fy(v), f"{v:.1f}") for v in _accuracy_ticks(ya, yb)],
           "trial", "dev accuracy")
    if baseline is not None:
        out.append(f"<line x1='{x0}' y1='{fy(baseline):.1f}' x2='{x1}' y2='{fy(baseline):.1f}' stroke='{BASE}' stroke-dasharray='4 4' stroke-opacity='0.5'/>"
                   f"<text x='{x1 - 4}' y='{fy(baseline) - 5:.1f}' font-size='10' text-anchor='end' fill='{BASE}'>baseline</text>")
    best: float | None = None
    steps = []
    for p in sorted(points, key=lambda p: p.trial):
        if p.complete and (best is None or p.accuracy > best):
            best = p.accuracy
            steps.append((fx(p.trial), fy(best)))
    if steps:
        d = f"M{steps[0][0]:.1f},{steps[0][1]:.1f} " + " ".join(f"H{x:.1f} V{y:.1f}" for x, y in steps[1:]) + f" H{fx(last):.1f}"
        out.append(f"<path d='{d}' fill='none' stroke='{FRONT}' stroke-width='2' stroke-opacity='0.8'/>")
    for p in points:
        x, y = fx(p.trial), fy(p.accuracy)
        mark = (f"<circle cx='{x:.1f}' cy='{y:.1f}' r='4.5' fill='{TRIAL}' fill-opacity='0.8' stroke='#fff'/>" if p.complete
                else f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3.5' fill='#fff' stroke='{PRUNED}' stroke-width='1.5'/>")
        out.append(f"<a href='#trial-{p.trial}'>{f'<title>{escape(p.tip)}</title>' if p.tip else ''}{mark}</a>")
    out.append("</svg>")
    return "".join(out)
