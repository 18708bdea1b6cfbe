"""report.html: one self-contained page from which a user decides whether to ship the winner.

Top to bottom: the verdict in one sentence; what best.yaml holds, drawn as a graph beside the
baseline; accuracy against cost per query for every trial; dev against selection against test
for the candidates that reached held-out data; the search's progress; a leaderboard that sorts
and filters; and a drill-down per trial to a few example queries with every node's candidates.

The page fetches nothing: styles, charts (inline SVG) and the small script that sorts, filters
and toggles are written here. Everything shown comes from :class:`ReportData`; this module only
lays it out. Text from models and benchmarks is escaped wherever it lands.
"""

from __future__ import annotations

import html
from typing import Any

from archon.graph import compile_pipeline
from archon.graph.svg import to_svg
from archon.search import charts
from archon.search.report_data import Example, ReportData, Score, TrialView, escalation_text, fmt_p, short_value

__all__ = ["render", "standalone_charts"]

_e = html.escape


_CSS = """
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;--blue:#2563eb;--green:#16a34a;--amber:#d97706;--red:#dc2626}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
header.top .brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
h1{font-size:26px;margin:2px 0 4px}
h2{font-size:18px;margin:0 0 4px}
.sub{color:var(--muted);margin:0 0 12px}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:10px 0 18px}
.chip{background:#fff;border:1px solid var(--line);border-radius:999px;padding:2px 10px;font-size:12.5px;color:#334155}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:18px 20px;margin:0 0 18px}
.verdict{border-width:2px;border-left-width:8px}
.verdict .label{font-size:12px;font-weight:700;letter-spacing:.06em;text-transform:uppercase}
.verdict .headline{font-size:20px;line-height:1.4;font-weight:600;margin:6px 0 8px}
.verdict ul{margin:6px 0 10px;padding-left:20px;color:#334155}
.verdict.kind-win{border-color:var(--green);background:#f0fdf4}.verdict.kind-win .label{color:var(--green)}
.verdict.kind-no_win{border-color:var(--blue);background:#eff6ff}.verdict.kind-no_win .label{color:var(--blue)}
.verdict.kind-win_unconfirmed,.verdict.kind-win_untested,.verdict.kind-unchecked{border-color:var(--amber);background:#fffbeb}
.verdict.kind-win_unconfirmed .label,.verdict.kind-win_untested .label,.verdict.kind-unchecked .label{color:var(--amber)}
.verdict.kind-nothing{border-color:var(--red);background:#fef2f2}.verdict.kind-nothing .label{color:var(--red)}
.run{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;background:#0f172a;color:#e2e8f0;border-radius:8px;padding:8px 12px;overflow-x:auto;white-space:pre}
.files a{margin-right:14px}
a{color:var(--blue);text-decoration:none}a:hover{text-decoration:underline}
.cards{display:flex;flex-direction:column;gap:14px}
.card{display:flex;flex-wrap:wrap;gap:6px 18px;border:1px solid var(--line);border-radius:10px;padding:12px 14px;min-width:0}
.card .info{flex:0 0 300px;min-width:0}
.card .graph{flex:1 1 480px;min-width:0;display:flex;align-items:center}
.card h3{font-size:15px;margin:0 0 2px}
.card.emitted{border-color:var(--green);box-shadow:0 0 0 1px var(--green) inset}
table.mini{width:auto;margin:8px 0 4px;font-size:13px}table.mini td{border:0;padding:1px 10px 1px 0}
.card .cost{margin:4px 0;font-weight:600;font-size:13px}.card .cost .note{font-weight:400}
.graph{overflow-x:auto;padding:4px 0}
.graph svg,figure svg{max-width:100%;height:auto}
figure{margin:8px 0 4px;overflow-x:auto}
.legend{font-size:12.5px;color:#475569;margin:4px 0 0}
.legend span{margin-right:14px;white-space:nowrap}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;vertical-align:-1px;margin-right:4px}
.toggle{display:inline-flex;border:1px solid var(--line);border-radius:8px;overflow:hidden;margin:6px 0}
.toggle button{border:0;background:#fff;padding:4px 12px;font:inherit;font-size:12.5px;cursor:pointer;color:#334155}
.toggle button.on{background:var(--ink);color:#fff}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{font-size:12px;color:#475569;font-weight:600;background:#f8fafc;position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.choice,td.why{white-space:nowrap;max-width:230px;overflow:hidden;text-overflow:ellipsis}
td.why{max-width:300px;color:var(--muted);font-size:12.5px}
#board th{cursor:pointer;user-select:none;white-space:nowrap}
#board th[aria-sort=ascending]::after{content:" \\25B2";font-size:9px}
#board th[aria-sort=descending]::after{content:" \\25BC";font-size:9px}
#board tbody tr{cursor:pointer}#board tbody tr:hover{background:#f1f5f9}
.board-wrap{max-height:640px;overflow:auto;border:1px solid var(--line);border-radius:8px}
.controls{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin:8px 0}
.controls input,.controls select{font:inherit;font-size:13px;padding:4px 8px;border:1px solid #cbd5e1;border-radius:6px}
.controls input{min-width:280px}
.badge{display:inline-block;font-size:11px;padding:0 6px;border-radius:999px;margin:0 3px 2px 0;border:1px solid #cbd5e1;color:#334155;background:#fff;white-space:nowrap}
.badge.emitted{background:var(--green);border-color:var(--green);color:#fff}
.badge.baseline{background:var(--ink);border-color:var(--ink);color:#fff}
.badge.best-by-dev{border-color:#ea580c;color:#c2410c}
.badge.pareto{border-color:#ea580c;background:#fff7ed;color:#c2410c}
.badge.dropped{color:var(--muted);text-decoration:line-through}
.status{font-size:12px}.status.complete{color:var(--green)}.status.pruned{color:var(--muted)}
.status.failed,.status.budget,.status.wall_time,.status.interrupted{color:var(--red)}.status.infeasible{color:var(--amber)}
.bar{display:inline-block;position:relative;width:70px;height:8px;background:#f1f5f9;border-radius:4px;vertical-align:middle;margin-left:6px}
.bar i{position:absolute;top:0;height:8px;background:#bfdbfe;border-radius:4px}
.bar b{position:absolute;top:-2px;width:2px;height:12px;background:var(--blue)}
.choices{font-size:12.5px;color:#334155}
details.trial{border:1px solid var(--line);border-radius:10px;margin:0 0 10px;background:#fff}
details.trial>summary{padding:8px 12px;cursor:pointer;list-style-position:inside}
details.trial[open]>summary{border-bottom:1px solid var(--line);background:#f8fafc;border-radius:10px 10px 0 0}
details.trial .body{padding:10px 14px}
.ex{border:1px solid var(--line);border-radius:8px;margin:8px 0;padding:8px 10px}
.ex.right{border-left:4px solid var(--green)}.ex.wrong{border-left:4px solid var(--red)}.ex.lost{border-left:4px solid var(--amber)}
.ex .q{white-space:pre-wrap;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;background:#f8fafc;border-radius:6px;padding:6px 8px;margin:4px 0;max-height:160px;overflow:auto}
.ex .node{font-size:12px;color:#475569;margin:6px 0 2px}
.ex ol{margin:0;padding-left:22px;font-size:12.5px}
.ex li{white-space:pre-wrap;word-break:break-word}
.ex .final{font-size:13px;margin-top:6px}
.tag{font-size:11.5px;border-radius:4px;padding:0 5px;margin-left:6px}
.tag.right{background:#dcfce7;color:#166534}.tag.wrong{background:#fee2e2;color:#991b1b}.tag.neutral{background:#f1f5f9;color:#475569}
.note{color:var(--muted);font-size:12.5px}
footer{color:var(--muted);font-size:12.5px}
footer code,.note code{font-size:12px}
@media print{.controls,.toggle{display:none}.board-wrap{max-height:none}}
"""

_JS = """
(function () {
  "use strict";
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  // accuracy/cost chart: one figure per cost unit, one shown at a time
  each(document.querySelectorAll("[data-unit-button]"), function (button) {
    button.addEventListener("click", function () {
      var unit = button.getAttribute("data-unit-button");
      each(document.querySelectorAll("figure[data-unit]"), function (fig) { fig.hidden = fig.getAttribute("data-unit") !== unit; });
      each(document.querySelectorAll("[data-unit-button]"), function (other) {
        other.classList.toggle("on", other === button);
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
    });
  });
  function openTrial(n, scroll) {
    var d = document.getElementById("trial-" + n);
    if (!d) { return; }
    d.open = true;
    if (scroll) { d.scrollIntoView({block: "start"}); }
  }
  function fromHash() {
    var m = /^#trial-(\\d+)$/.exec(window.location.hash);
    if (m) { openTrial(m[1], false); }
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
  var table = document.getElementById("board");
  if (!table) { return; }
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  each(heads, function (th, i) {
    th.addEventListener("click", function () {
      var dir = th.getAttribute("aria-sort") === "descending" ? 1 : -1;
      each(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[i].getAttribute("data-v"), y = b.cells[i].getAttribute("data-v");
        var nx = (x === null || x === "") ? NaN : Number(x), ny = (y === null || y === "") ? NaN : Number(y);
        if (isNaN(nx) !== isNaN(ny)) { return isNaN(nx) ? 1 : -1; }
        if (!isNaN(nx)) { return (nx - ny) * dir || (Number(a.getAttribute("data-trial")) - Number(b.getAttribute("data-trial"))); }
        return a.cells[i].textContent.localeCompare(b.cells[i].textContent) * dir;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  var input = document.getElementById("filter"), status = document.getElementById("status-filter"), shown = document.getElementById("shown");
  function apply() {
    var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean), want = status.value, count = 0;
    each(body.rows, function (r) {
      var hay = r.getAttribute("data-search");
      var ok = (want === "all" || r.getAttribute("data-status") === want || (want === "roles" && r.getAttribute("data-roles") !== ""))
        && words.every(function (w) { return hay.indexOf(w) >= 0; });
      r.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = count + " of " + body.rows.length + " trials shown";
  }
  input.addEventListener("input", apply);
  status.addEventListener("change", apply);
  apply();
  body.addEventListener("click", function (event) {
    var row = event.target.closest("tr");
    if (!row || event.target.closest("a")) { return; }
    window.location.hash = "trial-" + row.getAttribute("data-trial");
    openTrial(row.getAttribute("data-trial"), true);
  });
})();
"""


# ---------------------------------------------------------------------- small pieces


def _num(value: Any, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _per_query(value: Any) -> str:
    if value is None or value == "":
        return ""
    v = float(value)
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if v < 10 else f"{v:.1f}"


def _dollars(value: Any) -> str:
    return "" if value in (None, "") else f"${float(value):.6f}".rstrip("0").rstrip(".") if value else "$0"


def cost_text(cost: dict[str, Any] | None) -> str:
    if not cost:
        return "n/a"
    calls = float(cost.get("calls", 0) or 0)
    parts = [f"{_per_query(calls)} call{'s' if calls != 1 else ''}", f"{_per_query(cost.get('tokens', 0))} tokens"]
    if cost.get("dollars"):
        parts.append(_dollars(cost["dollars"]))
    return ", ".join(parts) + " per query"


def _choices(params: dict[str, Any], limit: int = 28) -> str:
    return ", ".join(f"<span title='{_e(f'{k}={v}', quote=True)}'>{_e(k)}={_e(short_value(v, limit))}</span>" for k, v in params.items())


def _score_cell(score: Score | None, *, bar: bool = False) -> str:
    if score is None:
        return "<td class='num' data-v=''>\u2013</td>"
    extra = ""
    if bar:
        extra = (f"<span class='bar' title='95% interval {score.low:.2f} to {score.high:.2f}'>"
                 f"<i style='left:{score.low * 100:.1f}%;width:{max(1.0, (score.high - score.low) * 100):.1f}%'></i>"
                 f"<b style='left:{score.accuracy * 100:.1f}%'></b></span>")
    return (f"<td class='num' data-v='{score.accuracy:.6f}' title='95% interval [{score.low:.2f}, {score.high:.2f}], n={score.n}'>"
            f"{score.accuracy:.3f}{extra}</td>")


def _badges(roles: list[str]) -> str:
    return "".join(f"<span class='badge {r.replace(' ', '-')}'>{_e('best.yaml' if r == 'emitted' else r)}</span>" for r in roles)


def _graph(data: ReportData, pipeline: dict[str, Any] | None) -> str:
    if not pipeline:
        return "<p class='note'>no pipeline recorded for this trial</p>"
    try:
        return "<div class='graph'>" + to_svg(compile_pipeline(data.pipeline_spec(pipeline)), query_tokens=data.query_tokens) + "</div>"
    except Exception as exc:  # noqa: BLE001 - a report is still written when one picture cannot be drawn
        return f"<p class='note'>graph unavailable: {_e(str(exc)[:300])}</p>"


# ---------------------------------------------------------------------- sections


def _header(data: ReportData) -> str:
    counts = data.counts
    done = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    b = data.benchmark
    chips = [f"benchmark <b>{_e(str(b.get('name')))}</b>",
             f"dev {b.get('dev')} \u00b7 selection {b.get('selection')} \u00b7 test {b.get('test')} records",
             f"{len(data.trials)} trials ({_e(done)})" if data.trials else "no trial",
             f"sampler {_e(data.sampler)}", "objectives " + _e(" + ".join(data.objectives))]
    chips += [f"model {_e(m['name'])} ({_e(m['kind'])})" for m in data.models]
    desc = f"<p class='sub'>{_e(data.description)}</p>" if data.description else ""
    return (f"<header class='top'><div class='brand'>archon search report</div><h1>{_e(data.study)}</h1>{desc}"
            f"<div class='chips'>{''.join(f'<span class=chip>{c}</span>' for c in chips)}</div></header>")


def _verdict(data: ReportData) -> str:
    v = data.verdict
    details = "".join(f"<li>{_e(d)}</li>" for d in v.details)
    files = [(name, data.outputs[key]) for key, name in (("best", "best.yaml"), ("summary", "summary.json"),
                                                          ("leaderboard_csv", "leaderboard.csv"), ("leaderboard", "leaderboard.md"))
             if key in data.outputs]
    links = "".join(f"<a href='{_e(path, quote=True)}'>{_e(name)}</a>" for name, path in files)
    run = ""
    if "best" in data.outputs:
        run = f"<div class='run'>archon run {_e(str(data.run_dir / 'best.yaml'))} --query \"your question\"</div>"
    return (f"<section id='verdict' class='verdict kind-{v.kind}'><div class='label'>Verdict: {_e(v.title)}</div>"
            f"<p class='headline'>{_e(v.headline)}</p><ul>{details}</ul>{run}<p class='files'>{links}</p></section>")


def _card(data: ReportData, title: str, subtitle: str, pipeline: dict[str, Any] | None, label: str, cost: dict[str, Any] | None,
          params: dict[str, Any] | None, emitted: bool) -> str:
    ev = next((e for e in data.evidence if e.label == label), None)
    scores = [("dev", ev.dev if ev else None), ("selection", ev.selection if ev else None), ("test", ev.test if ev else None)]
    if ev is None and label.startswith("trial-"):
        view = data.trial(int(label.split("-")[1]))
        scores = [("dev", view.dev if view is not None else None)]
    rows = "".join(f"<tr><td>{name}</td><td class='num'><b>{score.accuracy:.3f}</b></td><td class='num'>[{score.low:.2f}, {score.high:.2f}]</td>"
                   f"<td class='num'>n={score.n}</td></tr>" for name, score in scores if score is not None)
    choices = f"<p class='choices'>{_choices(params, 60)}</p>" if params else ""
    return (f"<div class='card{' emitted' if emitted else ''}'><div class='info'><h3>{_e(title)}</h3><div class='note'>{_e(subtitle)}</div>"
            f"<table class='mini'>{rows}</table><p class='cost'>{_e(cost_text(cost))}<br><span class='note'>measured; calls answered "
            f"by the cache counted as paid</span></p>{choices}</div>{_graph(data, pipeline)}</div>")


def _pipelines(data: ReportData) -> str:
    em = data.emitted
    cards = []
    base = data.baseline
    base_title = "The baseline: one greedy call"
    base_sub = f"{base.get('model') or ''}, temperature 0, one sample" + (f"; trial {base['trial']} ran it on dev" if base and base.get("trial") is not None else "") if base else ""
    if em is not None and em.get("trial") is not None:
        view = data.trial(em["trial"])
        cards.append(_card(data, f"best.yaml: trial {em['trial']}", "what the search emitted", view.pipeline if view else None,
                           em["label"], em.get("cost_per_query"), em.get("params"), True))
        if base:
            cards.append(_card(data, base_title, base_sub, base.get("pipeline"), "baseline", base.get("cost_per_query"), None, False))
        head = "What best.yaml holds, beside the baseline"
    elif em is not None:
        if base:
            cards.append(_card(data, "best.yaml: the baseline, one greedy call", base_sub, base.get("pipeline"), "baseline",
                               base.get("cost_per_query"), None, True))
        best = data.trial(data.best_by_dev)
        if best is not None and best.number != (base or {}).get("trial"):
            cards.append(_card(data, f"Best by dev: trial {best.number} (not emitted)",
                               "the raw dev maximum; the selection split did not confirm it", best.pipeline, f"trial-{best.number}",
                               best.cost_per_query, best.params, False))
        head = "What best.yaml holds, beside the best trial by dev"
    else:
        best = data.trial(data.best_by_dev)
        if best is None:
            return ""
        cards.append(_card(data, f"Best by dev: trial {best.number}", "nothing was emitted", best.pipeline, f"trial-{best.number}",
                           best.cost_per_query, best.params, False))
        head = "The best trial by dev"
    legend = ("<p class='legend'>Each card is a node: its kind, model and settings, and its static cost per query (exact calls, "
              "estimated tokens). Numbers on the arrows are the candidates passed along; a stacked card draws several samples.</p>")
    return f"<section id='pipelines'><h2>{_e(head)}</h2><div class='cards'>{''.join(cards)}</div>{legend}</section>"


_UNITS = (("calls", "model calls per query"), ("tokens", "tokens per query"), ("dollars", "dollars per query"))


def _tip(view: TrialView) -> str:
    dev = f"dev {view.dev.text()} on {view.dev.n} queries" if view.dev else "no dev score"
    return (f"trial {view.number} \u00b7 {view.status} \u00b7 {dev} \u00b7 {cost_text(view.cost_per_query)}\n"
            + ", ".join(f"{k}={short_value(v, 60)}" for k, v in view.params.items()))


def _cost_charts(data: ReportData) -> list[tuple[str, str, str]]:
    """(unit, axis name, svg) for each cost unit the trials have."""
    scored = [v for v in data.trials if v.dev is not None and v.status in ("complete", "pruned") and v.cost_per_query]
    if not scored:
        return []
    units = [(u, name) for u, name in _UNITS if u != "dollars" or any(float(v.cost_per_query.get("dollars") or 0) > 0 for v in scored)]
    base = data.baseline
    base_view = data.trial(base.get("trial")) if base else None
    emitted = (data.emitted or {}).get("trial")
    out = []
    for unit, name in units:
        points = [charts.Point(v.number, float(v.cost_per_query.get(unit) or 0.0), v.dev.accuracy, v.dev.low, v.dev.high,
                               v.status == "complete", _tip(v)) for v in scored if v.dev is not None]
        bpoint = None
        if base_view is not None and base_view.dev is not None:
            bpoint = charts.Point(base_view.number, float(base_view.cost_per_query.get(unit) or 0.0), base_view.dev.accuracy,
                                  tip="baseline (one greedy call): " + _tip(base_view))
        out.append((unit, name, charts.cost_accuracy(points, unit_label=name, baseline=bpoint, emitted=emitted)))
    return out


def _cost_section(data: ReportData) -> str:
    made = _cost_charts(data)
    if not made:
        return ""
    default = data.cost_unit if any(u == data.cost_unit for u, _, _ in made) else "tokens"
    buttons, figures = [], []
    for unit, name, svg in made:
        on = unit == default
        buttons.append(f"<button type='button' data-unit-button='{unit}' class='{'on' if on else ''}' aria-pressed='{'true' if on else 'false'}'>{_e(name)}</button>")
        figures.append(f"<figure data-unit='{unit}'{'' if on else ' hidden'}>{svg}</figure>")
    front = "the Pareto front" + (" (the search's objectives)" if len(data.objectives) > 1 else "")
    legend = ("<p class='legend'>"
              f"<span><i class='dot' style='background:{charts.TRIAL}'></i>complete trial (bar: 95% interval)</span>"
              f"<span><i class='dot' style='border:1.5px solid {charts.PRUNED};background:#fff'></i>pruned: scored on fewer queries</span>"
              f"<span><i class='dot' style='background:{charts.FRONT}'></i>{front}: nothing else is as accurate for less</span>"
              f"<span style='color:{charts.WIN}'>\u2605 best.yaml</span><span>\u25c6 baseline (dashed line: its dev accuracy)</span></p>"
              "<p class='note'>Dev accuracy is what the search optimised, so the best of many trials is biased up; the next "
              "section shows how the top ones held up on data the search never saw. Costs are measured per query, counting "
              "calls answered by the cache as paid. Click a point for the trial's details.</p>")
    return (f"<section id='cost'><h2>Accuracy against cost per query, every trial</h2><div class='toggle' role='group'>{''.join(buttons)}</div>"
            f"{''.join(figures)}{legend}</section>")


def _generalization_chart(data: ReportData) -> str:
    columns = ["dev", "selection", "test"]
    has_sel = any(e.selection for e in data.evidence)
    has_test = any(e.test for e in data.evidence)
    keep = [c for c, ok in zip(columns, (True, has_sel, has_test)) if ok]
    lines = []
    for ev in data.evidence:
        scores = {"dev": ev.dev, "selection": ev.selection, "test": ev.test}
        role = ("emitted" if "emitted" in ev.roles else "baseline" if ev.label == "baseline"
                else "best" if "best by dev" in ev.roles else "other")
        name = "baseline" if ev.label == "baseline" else f"trial {ev.trial}"
        suffix = " (best.yaml)" if "emitted" in ev.roles else " (best by dev)" if "best by dev" in ev.roles and role == "best" else ""
        shown = [scores[c] for c in keep]
        tip = f"{name}: " + "; ".join(f"{c} {sc.text()} n={sc.n}" for c, sc in zip(keep, shown) if sc is not None)
        lines.append(charts.Line(name + suffix, [sc.accuracy if sc else None for sc in shown], [sc.low if sc else None for sc in shown],
                                 [sc.high if sc else None for sc in shown], role, tip,
                                 f"#trial-{ev.trial}" if ev.trial is not None else None))
    return charts.generalization(lines, keep)


def _evidence_section(data: ReportData) -> str:
    if not data.evidence:
        why = data.verdict.headline if data.verdict.kind in ("unchecked", "nothing") else "the selection stage did not run"
        return (f"<section id='generalization'><h2>Dev, selection, test</h2><p class='note'>No candidate reached held-out data: "
                f"{_e(why)}</p></section>")
    svg = _generalization_chart(data)
    rows = []
    for ev in data.evidence:
        name = "baseline" if ev.label == "baseline" else f"trial {ev.trial}"
        link = f"<a href='#trial-{ev.trial}'>{_e(name)}</a>" if ev.trial is not None else _e(name)
        vs = ev.test_vs_baseline
        vs_text = ("" if not vs else f"{vs['difference']:+.3f} ({vs['wins']}/{vs['losses']}, {fmt_p(vs['p_value'])}"
                   f"{', significant' if vs['significant'] else ''})")
        sel_p = "" if ev.p_selection_adjusted is None else fmt_p(ev.p_selection_adjusted)
        if ev.dropped:
            sel_p = f"dropped: {ev.dropped}"
        rows.append(f"<tr><td>{link} {_badges([r for r in ev.roles if r in ('emitted', 'best by dev', 'pareto')])}</td>"
                    f"{_score_cell(ev.dev)}{_score_cell(ev.selection)}<td class='note'>{_e(sel_p)}</td>{_score_cell(ev.test)}"
                    f"<td>{_e(vs_text)}</td><td>{_e(cost_text(ev.cost_per_query))}</td></tr>")
    n_sel = data.benchmark.get("selection")
    table = ("<table><thead><tr><th>candidate</th><th class='num'>dev</th><th class='num'>selection</th>"
             "<th>vs baseline on selection (one-sided, adjusted: weighted Holm)</th><th class='num'>test</th><th>vs baseline on test (wins/losses)</th>"
             f"<th>cost</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    explain = (f"<p class='note'>The search ranked trials by dev. The top ones and the baseline were then raced on {n_sel} selection "
               "queries no trial had seen, and only a significant win there may be emitted; test is scored last, for this report. "
               "A line that falls from dev to the held-out splits is the winner's curse: the dev score was high partly by luck.</p>")
    return f"<section id='generalization'><h2>Dev, selection, test: does the win hold on new data?</h2><figure>{svg}</figure>{explain}{table}</section>"


def _history_chart(data: ReportData) -> str | None:
    points = [charts.Point(v.number, 0.0, v.dev.accuracy, complete=v.status == "complete", tip=_tip(v))
              for v in data.trials if v.dev is not None and v.status in ("complete", "pruned")]
    if not points:
        return None
    base = (data.baseline or {}).get("dev")
    return charts.history(points, baseline=base.accuracy if isinstance(base, Score) else None)


def _history_section(data: ReportData) -> str:
    svg = _history_chart(data)
    if svg is None:
        return ""
    return (f"<section id='history'><h2>Search progress</h2><figure>{svg}</figure><p class='legend'>"
            f"<span><i class='dot' style='background:{charts.TRIAL}'></i>complete</span>"
            f"<span><i class='dot' style='border:1.5px solid {charts.PRUNED};background:#fff'></i>pruned (first rungs only)</span>"
            f"<span style='color:{charts.FRONT}'>\u2014 best complete so far</span></p></section>")


def _leaderboard(data: ReportData) -> str:
    if not data.trials:
        return ""
    names: list[str] = []
    for v in data.trials:
        for k in v.params:
            if k not in names:
                names.append(k)
    dollars = any(float(v.cost_per_query.get("dollars") or 0) > 0 for v in data.trials)
    cascades = any(v.escalation for v in data.trials)
    heads = (["trial", "status", "role", "dev", "n", "calls / q", "tokens / q"] + (["$ / q"] if dollars else [])
             + (["escalated"] if cascades else []) + names + ["note"])
    num = {"trial", "dev", "n", "calls / q", "tokens / q", "$ / q", "escalated"}
    thead = "".join(f"<th class='{'num' if h in num else ''}' title='click to sort'>{_e(h)}</th>" for h in heads)
    rows = []
    for v in data.trials:
        cells = [f"<td class='num' data-v='{v.number}'><a href='#trial-{v.number}'>{v.number}</a></td>",
                 f"<td><span class='status {_e(v.status)}'>{_e(v.status)}</span></td>",
                 f"<td data-v=''>{_badges(v.roles)}</td>", _score_cell(v.dev, bar=True),
                 f"<td class='num' data-v='{v.dev.n if v.dev else ''}'>{v.dev.n if v.dev else ''}</td>"]
        for unit in ("calls", "tokens") + (("dollars",) if dollars else ()):
            value = v.cost_per_query.get(unit)
            shown = (_dollars(value) if unit == "dollars" else _per_query(value)) if value is not None else ""
            cells.append(f"<td class='num' data-v='{'' if value is None else float(value)}'>{shown}</td>")
        if cascades:  # a cascade's share of queries answered after its first stage
            rate = v.escalation["rate"] if v.escalation else ""
            cells.append(f"<td class='num' data-v='{rate}' title='share of queries a later cascade stage answered'>"
                         f"{_e(escalation_text(v.escalation))}</td>")
        for k in names:
            value = v.params.get(k, "")
            cells.append(f"<td class='choice' title='{_e(str(value), quote=True)}'>{_e(short_value(value) if k in v.params else '')}</td>")
        note = v.reason or ("" if not v.call_failed else f"{v.call_failed} queries lost to failed calls")
        cells.append(f"<td class='why' title='{_e(note, quote=True)}'>{_e(note)}</td>")
        search = " ".join([f"trial {v.number}", v.status, " ".join(v.roles)] + [f"{k}={short_value(p, 200)}" for k, p in v.params.items()] + [note])
        rows.append(f"<tr data-trial='{v.number}' data-status='{_e(v.status)}' data-roles='{_e(' '.join(v.roles))}' "
                    f"data-search='{_e(search.lower(), quote=True)}'>{''.join(cells)}</tr>")
    statuses = sorted({v.status for v in data.trials})
    options = "<option value='all'>every status</option><option value='roles'>with a role (best.yaml, baseline, selection\u2026)</option>" + "".join(
        f"<option value='{_e(s)}'>{_e(s)} only</option>" for s in statuses)
    return (f"<section id='leaderboard'><h2>Leaderboard</h2><p class='note'>Every trial, best first. Click a column to sort, "
            f"a row for its details. Dev scores of pruned trials are on the first rungs only; costs are measured per query"
            f"{' (a cascade: what its escalations cost; escalated: the share of queries past its first stage)' if cascades else ''}.</p>"
            f"<div class='controls'><input id='filter' type='search' placeholder='filter: e.g. vote, samples=5, complete' aria-label='filter trials'>"
            f"<select id='status-filter' aria-label='status'>{options}</select><span id='shown' class='note'></span></div>"
            f"<div class='board-wrap'><table id='board'><thead><tr>{thead}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>")


def _example_html(ex: Example) -> str:
    if ex.score is None:
        cls, tag = "lost", "<span class='tag neutral'>not scored (a call failed)</span>"
    elif ex.score >= 1:
        cls, tag = "right", "<span class='tag right'>\u2713 right</span>"
    elif ex.score > 0:
        cls, tag = "wrong", f"<span class='tag wrong'>partly right ({ex.score:.2f})</span>"
    else:
        cls, tag = "wrong", "<span class='tag wrong'>\u2717 wrong</span>"
    if ex.baseline_score is not None and ex.score is not None:
        if ex.score > ex.baseline_score:
            tag += "<span class='tag right'>the baseline got it wrong</span>"
        elif ex.score < ex.baseline_score:
            tag += "<span class='tag wrong'>the baseline got it right</span>"
    parts = [f"<div class='ex {cls}'><div><b>dev query {ex.index}</b> <span class='note'>{_e(ex.id)}</span>{tag}</div>",
             f"<div class='q'>{_e(ex.query)}</div>"]
    if ex.reference is not None:
        parts.append(f"<div class='final'>expected: <b>{_e(ex.reference)}</b></div>")
    for node, cands in ex.nodes:
        note = " \u00b7 " + _e(ex.notes[node]) if node in ex.notes else ""
        parts.append(f"<div class='node'>{_e(node)}: {len(cands)} candidate{'s' if len(cands) != 1 else ''}{note}</div><ol start='0'>")
        for c in cands:
            who = f" <span class='note'>({_e(str(c.get('model')))} #{c.get('sample')})</span>" if c.get("model") else ""
            parts.append(f"<li>{_e(c.get('text') or '')}{who}</li>")
        parts.append("</ol>")
    extracted = f" \u2192 scored as <b>{_e(ex.extracted)}</b>" if ex.extracted not in (None, "") else ""
    parts.append(f"<div class='final'>final answer: <b>{_e(ex.answer or '')}</b>{extracted}</div>")
    if ex.error:
        parts.append(f"<div class='note'>error: {_e(ex.error)}</div>")
    parts.append("</div>")
    return "".join(parts)


def _trials_section(data: ReportData) -> str:
    if not data.trials:
        return ""
    blocks = []
    for v in data.trials:
        dev = f"dev {v.dev.text()} (n={v.dev.n})" if v.dev else "no dev score"
        summary = (f"<b>Trial {v.number}</b> \u00b7 <span class='status {_e(v.status)}'>{_e(v.status)}</span> \u00b7 {dev} \u00b7 "
                   f"{_e(cost_text(v.cost_per_query)) if v.cost_per_query else ''} {_badges(v.roles)}")
        body = [f"<p class='choices'>{_choices(v.params, 80)}</p>"]
        if v.reason:
            body.append(f"<p class='note'>{_e(v.reason)}</p>")
        examples = data.examples.get(v.number)
        if v.pipeline or examples:
            body.append(_graph(data, v.pipeline))
        if examples:
            src = f" (from trial {v.duplicate_of}, same choices)" if v.duplicate_of is not None else ""
            body.append(f"<h3 style='font-size:14px;margin:10px 0 0'>Example dev queries{_e(src)}</h3>"
                        "<p class='note'>Where this trial and the baseline disagree first, then its mistakes, then right answers. "
                        f"Every query is in traces/trial-{v.duplicate_of if v.duplicate_of is not None else v.number}.jsonl.</p>")
            body.extend(_example_html(ex) for ex in examples)
        elif v.status in ("complete", "pruned"):
            body.append("<p class='note'>example queries not kept in the report for this trial; see its trace file.</p>")
        blocks.append(f"<details class='trial' id='trial-{v.number}'><summary>{summary}</summary><div class='body'>{''.join(body)}</div></details>")
    return (f"<section id='trials'><h2>Trials in detail</h2><p class='note'>Open a trial to see its pipeline and a few dev queries, "
            f"with what every node produced and the final answer.</p>{''.join(blocks)}</section>")


def _footer(data: ReportData) -> str:
    spent = data.ledger.get("spent", {})
    lines = [f"Spent: {spent.get('calls', 0)} model calls, {spent.get('tokens', 0):,} tokens, ${spent.get('dollars', 0):.4f} "
             f"(calls made {data.calls_made}, answered by the cache {data.calls_cached}); wall time {data.wall_time:.0f} s."]
    if data.call_failed_queries:
        lines.append(f"Queries left out of scores because a model call failed for good: {data.call_failed_queries}.")
    if data.stopped:
        lines.append(f"Stopped: {data.stopped}.")
    if data.no_result:
        lines.append(f"Nothing emitted: {data.no_result}.")
    lines.append(f"Browse the study: <code>optuna-dashboard {_e(data.storage)} --host 127.0.0.1</code>")
    return "<footer>" + "".join(f"<p>{line if line.startswith('Browse') else _e(line)}</p>" for line in lines) + "</footer>"


def standalone_charts(data: ReportData) -> dict[str, str]:
    """The report's charts as separate SVG documents (name -> svg), for plots/."""
    out = {f"cost_accuracy_{unit}": svg for unit, _, svg in _cost_charts(data)}
    if data.evidence:
        out["generalization"] = _generalization_chart(data)
    history = _history_chart(data)
    if history is not None:
        out["history"] = history
    return out


def render(data: ReportData) -> str:
    """The whole page as one string."""
    body = [_header(data), _verdict(data), _pipelines(data), _cost_section(data), _evidence_section(data), _history_section(data),
            _leaderboard(data), _trials_section(data), _footer(data)]
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>archon search: {_e(data.study)}</title><style>{_CSS}</style></head><body><main>"
            + "".join(body) + f"</main><script>{_JS}</script></body></html>")
