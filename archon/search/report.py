"""What a search leaves in its run directory: best.yaml, pareto/, leaderboard, plots, report.

Trials are read back from the Optuna study (each trial's user attributes carry its status, dev
score, interval, cost and resolved pipeline), so a resumed search rewrites every output with all
sessions' trials. The facts are gathered once (:mod:`archon.search.report_data`) and then written
as summary.json, report.html (:mod:`archon.search.report_html`), the leaderboard and plots/*.svg.
"""

from __future__ import annotations

import copy
import csv
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archon.search.outcome import SearchResult, TrialSummary
from archon.search.report_data import build, escalation_text, short_value
from archon.search.report_html import render, standalone_charts
from archon.search.stats import preference
from archon.spec.schema import Settings, Spec

if TYPE_CHECKING:
    from optuna.study import Study

    from archon.search.rundir import RunDir

__all__ = ["collect", "emitted_lines", "summaries", "test_lines", "write_report"]

_ORDER = {"complete": 0, "pruned": 1, "infeasible": 2, "failed": 3, "budget": 4, "wall_time": 4, "interrupted": 5}


def summaries(study: Study) -> list[TrialSummary]:
    from optuna.trial import TrialState  # optuna loads lazily (see archon.search)

    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.RUNNING, TrialState.WAITING):
            continue
        ua = t.user_attrs
        status = ua.get("status") or t.state.name.lower()
        ci = ua.get("ci")
        out.append(
            TrialSummary(
                number=t.number,
                status=status,
                params=dict(t.params),
                score=ua.get("dev_score"),
                ci=tuple(ci) if ci else None,
                n=int(ua.get("n_queries", 0)),
                cost=dict(ua.get("cost_per_query") or {}),
                spent=dict(ua.get("spent") or {}),
                reason=ua.get("reason"),
                spec_data=ua.get("pipeline"),
                values=list(t.values) if t.values is not None else None,
                call_failed=int(ua.get("call_failed_queries", 0)),
                escalation=ua.get("escalation"),
            )
        )
    out.sort(key=lambda s: (_ORDER.get(s.status, 9), -(s.score if s.score is not None else -1), s.number))
    return out


def collect(result: SearchResult, study: Study) -> None:
    """Fill ``result.trials``, ``result.best`` and ``result.pareto`` from the study."""
    from optuna.trial import TrialState  # optuna loads lazily (see archon.search)

    result.trials = summaries(study)
    by_number = {s.number: s for s in result.trials}
    complete = [s for s in result.trials if s.status == "complete"]
    if not complete:
        return
    if len(result.objectives) == 1:
        result.best = max(complete, key=lambda s: preference(s.values[0] if s.values else -1, s.cost, s.number))
    else:
        try:
            front = [t for t in study.best_trials if t.state == TrialState.COMPLETE]
        except Exception:  # noqa: BLE001 - no feasible trial
            front = []
        result.pareto = sorted((by_number[t.number] for t in front if t.number in by_number), key=lambda s: (-(s.values or [0])[0], s.number))
        result.best = result.pareto[0] if result.pareto else max(complete, key=lambda s: (s.values[0], -s.number))  # type: ignore[index]  # complete: has values


def _write_yaml(path: Path, settings: Settings, pipeline_data: dict[str, Any], header: str) -> None:
    """Write a self-contained export (archon.benchmarks.export) of one pipeline of the search."""
    from archon.benchmarks.export import write_export  # loads the benchmark: only when writing

    data = settings.model_dump(mode="json")
    data["pipeline"] = copy.deepcopy(pipeline_data)
    data.pop("task", None)  # trials ran with the benchmark's examples: the export carries those
    # a relative benchmark path in the settings is relative to the working directory (the
    # driver made it absolute when it sits beside the spec); the export rewrites it for its folder
    write_export(path, Spec.model_validate(data), base_dir=None, header=header)


def _fmt_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={short_value(v, 40)}" for k, v in params.items())


def _cost_text(cost: dict[str, Any]) -> str:
    if not cost:
        return ""
    parts = [f"{cost.get('calls', 0):.1f} calls", f"{cost.get('tokens', 0):.0f} tok"]
    if cost.get("dollars"):
        parts.append(f"${cost['dollars']:.5f}")
    return ", ".join(parts)


def _leaderboard(trials: list[TrialSummary], path_md: Path, path_csv: Path) -> None:
    header = ["trial", "status", "dev score", "95% CI", "n", "lost", "cost / query", "escalated", "calls spent", "reason", "choices"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    with path_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["trial", "status", "dev_score", "ci_low", "ci_high", "n_queries", "call_failed_queries", "calls_per_query",
                    "tokens_per_query", "dollars_per_query", "escalation_rate", "calls_spent", "cached_calls", "reason", "params"])
        for s in trials:
            score = f"{s.score:.3f}" if s.score is not None else ""
            ci = f"[{s.ci[0]:.2f}, {s.ci[1]:.2f}]" if s.ci else ""
            reason = (s.reason or "").replace("|", "/").replace("\n", " ")[:160]
            lines.append(
                f"| {s.number} | {s.status} | {score} | {ci} | {s.n or ''} | {s.call_failed or ''} | {_cost_text(s.cost)} | "
                f"{escalation_text(s.escalation)} | "
                f"{s.spent.get('calls', '') if s.spent else ''} | {reason} | {_fmt_params(s.params).replace('|', '/')} |"
            )
            w.writerow([s.number, s.status, s.score if s.score is not None else "", s.ci[0] if s.ci else "",
                        s.ci[1] if s.ci else "", s.n, s.call_failed, s.cost.get("calls", ""), s.cost.get("tokens", ""),
                        s.cost.get("dollars", ""), s.escalation["rate"] if s.escalation else "",
                        s.spent.get("calls", "") if s.spent else "",
                        s.spent.get("cached_calls", "") if s.spent else "", s.reason or "", json.dumps(s.params)])
    path_md.write_text("# Leaderboard\n\nEvery trial, best first. Dev scores are on the queries the trial reached "
                       "(pruned trials stopped at a smaller rung). Lost: queries left out of the score because a "
                       "model call failed for good after its retries (a trial losing more than 10% fails). Costs are "
                       "per query, counting cached calls as if paid (the architecture's cost, independent of the cache). "
                       "Escalated: for a cascade, the share of queries its first stage passed on (answered by a later "
                       "stage: how many per stage); its cost per query is measured, so it is what those escalations cost.\n\n" + "\n".join(lines) + "\n",
                       encoding="utf-8")


def emitted_lines(result: SearchResult) -> list[str]:
    """What was emitted and why, in plain words (CLI summary, report)."""
    lines = []
    if result.no_result:
        lines.append(f"nothing emitted: {result.no_result}")
    em = result.emitted
    if em is not None:
        # a winner's reason starts with its name ("trial 12 beat one greedy call ...")
        lines.append(f"emitted: the baseline (one greedy call): {em['reason']}" if em.get("trial") is None
                     else f"emitted: {em['reason']}")
    if result.power:
        lines.append(result.power)
    return lines


def test_lines(test: dict[str, Any]) -> list[str]:
    """The test comparison as plain lines (CLI summary, report)."""
    if test.get("skipped") and not test.get("pipelines"):
        return [f"test: skipped ({test['skipped']})"]
    lines = []
    base = test.get("baseline")
    base_said = False
    for p in test.get("pipelines", []):
        s = p["test"]
        role = "emitted" if p.get("emitted") else "best by dev, not emitted" if p.get("best_by_dev") else ""
        name = f"trial {p['trial']}"
        if p.get("trial") is None:  # the baseline is one of the pipelines (emitted): one line says both
            name, base_said = "baseline", True
            if base is not None:
                what = f"{base['model']}, one greedy call"
                role = f"{role}: {what}" if role else what
        line = f"{name}{f' ({role})' if role else ''}: test {s['accuracy']:.3f} [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}] (n={s['n']})"
        vs = p.get("vs_baseline")
        if vs is not None and base is not None and p.get("trial") is not None:
            verdict = "significant" if vs["significant"] else "not significant"
            line += (f"; vs baseline {vs['difference']:+.3f} ({vs['wins']} wins / {vs['losses']} losses, "
                     f"{vs['method']} p={vs['p_value']:.3g}: {verdict} at 0.05)")
        lines.append(line)
    if base is not None and not base_said:
        s = base["test"]
        lines.append(f"baseline ({base['model']}, one greedy call): test {s['accuracy']:.3f} [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}]")
    failed = sum(p["test"].get("call_failed", 0) for p in test.get("pipelines", []))
    if not base_said:
        failed += (base or {}).get("test", {}).get("call_failed", 0)
    if failed:
        lines.append(f"({failed} test queries left out: a model call failed for good)")
    if test.get("skipped"):
        lines.append(f"(partly skipped: {test['skipped']})")
    return lines


def write_report(result: SearchResult, study: Study, rundir: RunDir, settings: Settings) -> dict[str, str]:
    """Write every output file; returns name -> path of what was written."""
    out: dict[str, str] = {}
    trials = result.trials or summaries(study)
    path = rundir.path
    emitted = result.emitted
    if emitted is None and result.best is not None and result.best.spec_data:
        # a report rebuilt from the storage alone: the selection stage's decision is not in it
        emitted = {"label": f"trial-{result.best.number}", "trial": result.best.number, "spec_data": {"pipeline": result.best.spec_data},
                   "reason": "best by dev score (the selection stage did not run)"}
    if result.emitted is None and emitted is not None:
        result.emitted = emitted  # what best.yaml holds, so every summary of this run says the same
    (path / "best.yaml").unlink(missing_ok=True)
    if emitted is not None:
        what = "the baseline (one greedy call)" if emitted.get("trial") is None else f"trial {emitted['trial']}"
        header = (f"# Emitted by `archon search`: {what}.\n# Why: {emitted['reason']}\n"
                  f"# Run it: archon run {path / 'best.yaml'} --query \"your question\"\n")
        _write_yaml(path / "best.yaml", settings, emitted["spec_data"]["pipeline"], header)
        out["best"] = str(path / "best.yaml")
    if result.pareto:
        pdir = rundir.pareto
        pdir.mkdir(exist_ok=True)
        for old in pdir.glob("*.yaml"):
            old.unlink()
        for s in result.pareto:
            if not s.spec_data:
                continue
            header = f"# Pareto-optimal trial {s.number}: dev score {s.score:.3f}, cost/query {_cost_text(s.cost)}\n"
            _write_yaml(pdir / f"trial-{s.number}.yaml", settings, s.spec_data, header)
        out["pareto"] = str(pdir)
    _leaderboard(trials, path / "leaderboard.md", path / "leaderboard.csv")
    out["leaderboard"] = str(path / "leaderboard.md")
    out["leaderboard_csv"] = str(path / "leaderboard.csv")
    out["summary"] = str(path / "summary.json")
    out["report"] = str(path / "report.html")
    data = build(result, settings, trials=trials)
    data.outputs = {k: os.path.relpath(v, path) for k, v in out.items()}
    plots = rundir.plots
    plots.mkdir(exist_ok=True)
    for old in list(plots.glob("*.svg")) + list(plots.glob("*.png")):
        old.unlink()  # charts of an earlier session (or an earlier archon) would contradict this one
    for name, svg in standalone_charts(data).items():
        (plots / f"{name}.svg").write_text(svg, encoding="utf-8")
        out[f"plot_{name}"] = str(plots / f"{name}.svg")
    (path / "report.html").write_text(render(data), encoding="utf-8")
    (path / "summary.json").write_text(json.dumps(data.summary(), indent=2, default=str), encoding="utf-8")
    return out
