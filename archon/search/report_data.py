"""The facts a finished search reports, gathered once into typed records.

:func:`build` reads a :class:`~archon.search.outcome.SearchResult` (trials, the selection stage's
decision, the test comparison, spend), the spec's settings and the per-trial traces in the run
directory, and returns a :class:`ReportData`. Everything a user reads is derived from it: the
verdict (:func:`verdict`), ``summary.json`` (:meth:`ReportData.summary`, keys documented in
docs/search.md), the HTML report (:mod:`archon.search.report_html`) and the terminal summary.
Nothing here computes a new statistic: every number comes from the selection stage, the test
comparison or a trial's record, so the three outputs cannot disagree.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archon.search.final import baseline_specs
from archon.search.stats import wilson
from archon.spec.schema import Spec

__all__ = ["Example", "ReportData", "Score", "TrialView", "Verdict", "Evidence", "SCHEMA_VERSION", "build",
           "escalation_text", "fmt_p", "short_value", "verdict"]

#: Bumped when a key of summary.json changes meaning or disappears (adding keys does not bump it).
SCHEMA_VERSION = 1
#: Example queries kept per trial for the report's drill-down.
EXAMPLES_PER_TRIAL = 6
#: Trials that get a drill-down (every trial with a role in the outcome gets one as well).
DRILL_DOWN_TRIALS = 40
_TEXT_LIMIT = 600  # characters of one candidate or answer kept for the drill-down


@dataclass(frozen=True)
class Score:
    """An accuracy on a split: mean score, 95% Wilson interval, records scored."""

    accuracy: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, accuracy: float | None, ci: Any = None, n: int | None = None) -> Score | None:
        if accuracy is None:
            return None
        n = int(n or 0)
        if ci is None or len(ci) != 2:
            ci = wilson(accuracy * n, n) if n else (0.0, 1.0)
        return cls(float(accuracy), float(ci[0]), float(ci[1]), n)

    def text(self, digits: int = 3) -> str:
        return f"{self.accuracy:.{digits}f} [{self.low:.2f}, {self.high:.2f}]"

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "ci": [self.low, self.high], "n": self.n}


@dataclass(frozen=True)
class Verdict:
    """The outcome in one sentence (``headline``) and the evidence behind it (``details``).

    ``kind``: ``win`` (emitted pipeline beat the baseline on selection and on test),
    ``win_unconfirmed`` (beat it on selection; test does not confirm it), ``win_untested``
    (beat it on selection; test not scored), ``no_win`` (nothing beat the baseline; the baseline
    is emitted), ``unchecked`` (chosen by dev alone), ``nothing`` (nothing could be emitted).
    """

    kind: str
    headline: str
    details: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The kind in a few words, for the verdict's heading."""
        return _VERDICT_TITLES.get(self.kind, self.kind)


_VERDICT_TITLES = {
    "win": "a real win",
    "win_unconfirmed": "not confirmed on test",
    "win_untested": "won on held-out selection data; test not scored",
    "no_win": "keep the baseline",
    "unchecked": "not checked on held-out data",
    "nothing": "nothing emitted",
}


@dataclass
class Evidence:
    """One candidate's scores across splits: the trials that went on to the selection split, the
    pipelines scored on test, and the baseline."""

    label: str
    trial: int | None
    roles: list[str]
    dev: Score | None = None
    selection: Score | None = None
    test: Score | None = None
    p_selection: float | None = None  # one-sided vs the baseline on selection, uncorrected
    p_selection_adjusted: float | None = None  # adjusted for every contender (weighted Holm)
    dropped: str | None = None  # why racing dropped it on the selection split
    test_vs_baseline: dict[str, Any] | None = None  # method, p_value, difference, wins, losses, significant
    cost_per_query: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("dev", "selection", "test"):
            value = getattr(self, key)
            out[key] = None if value is None else value.to_dict()
        return out


@dataclass
class Example:
    """One dev query a trial answered: what each node produced and what was scored."""

    index: int
    id: str
    query: str
    reference: str | None
    answer: str | None
    extracted: str | None
    score: float | None
    status: str | None
    error: str | None
    baseline_score: float | None  # the baseline trial's score on the same query, when known
    nodes: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # node -> candidates (id, text, model, sample)
    notes: dict[str, str] = field(default_factory=dict)  # node -> what it decided (a vote's tally)


@dataclass
class TrialView:
    number: int
    status: str
    params: dict[str, Any]
    roles: list[str]
    dev: Score | None
    cost_per_query: dict[str, Any]
    calls_spent: int | None
    reason: str | None
    call_failed: int
    pipeline: dict[str, Any] | None
    duplicate_of: int | None = None
    escalation: dict[str, Any] | None = None  # a cascade's: rate, stages, n

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.number, "status": self.status, "roles": self.roles, "params": self.params,
                "dev": None if self.dev is None else self.dev.to_dict(), "cost_per_query": self.cost_per_query,
                "calls_spent": self.calls_spent, "reason": self.reason, "call_failed_queries": self.call_failed,
                **({"escalation": self.escalation} if self.escalation else {})}


@dataclass
class ReportData:
    study: str
    description: str | None
    storage: str
    run_dir: Path
    objectives: list[str]
    cost_unit: str
    benchmark: dict[str, Any]
    models: list[dict[str, Any]]
    sampler: str
    verdict: Verdict
    emitted: dict[str, Any] | None  # label, trial, reason, verified, beats_baseline, params, cost_per_query
    baseline: dict[str, Any] | None  # label, model, trial, pipeline, dev/selection/test scores, cost_per_query
    best_by_dev: int | None
    pareto: list[int]
    evidence: list[Evidence]
    trials: list[TrialView]
    examples: dict[int, list[Example]]
    selection: dict[str, Any] | None
    test: dict[str, Any] | None
    power: str | None
    stopped: str | None
    no_result: str | None
    ledger: dict[str, Any]
    calls_made: int
    calls_cached: int
    wall_time: float
    query_tokens: int
    outputs: dict[str, str] = field(default_factory=dict)
    settings: Any = None  # the spec's typed settings (to compile pipelines for drawing)

    # ------------------------------------------------------------------ lookups
    def trial(self, number: int | None) -> TrialView | None:
        return next((t for t in self.trials if t.number == number), None) if number is not None else None

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.status] = out.get(t.status, 0) + 1
        return out

    @property
    def call_failed_queries(self) -> int:
        return sum(t.call_failed for t in self.trials)

    def pipeline_spec(self, pipeline_data: dict[str, Any]) -> Any:
        """A :class:`~archon.spec.schema.Spec` of ``pipeline_data`` with the search's models."""
        data = self.settings.model_dump(mode="json")
        data["pipeline"] = copy.deepcopy(pipeline_data)
        data.pop("search", None)
        return Spec.model_validate(data)

    # ------------------------------------------------------------------ summary.json
    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` document (see docs/search.md, "summary.json")."""
        best = self.trial(self.best_by_dev)
        baseline = None
        if self.baseline is not None:
            baseline = {k: (v.to_dict() if isinstance(v, Score) else v) for k, v in self.baseline.items() if k != "pipeline"}
        return {
            "schema_version": SCHEMA_VERSION,
            "study": self.study,
            "description": self.description,
            "storage": self.storage,
            "objectives": self.objectives,
            "cost_unit": self.cost_unit,
            "sampler": self.sampler,
            "benchmark": self.benchmark,
            "verdict": asdict(self.verdict),
            "emitted": self.emitted,
            "baseline": baseline,
            "best": None if best is None or best.dev is None else {"trial": best.number, "dev_score": best.dev.accuracy,
                                                                    "ci": [best.dev.low, best.dev.high], "n": best.dev.n,
                                                                    "params": best.params},
            "pareto": self.pareto,
            "candidates": [e.to_dict() for e in self.evidence],
            "n_trials": len(self.trials),
            "counts": self.counts,
            "trials": [t.to_dict() for t in self.trials],
            "selection": self.selection,
            "test": self.test,
            "power": self.power,
            "stopped": self.stopped,
            "no_result": self.no_result,
            "calls_made": self.calls_made,
            "calls_cached": self.calls_cached,
            "call_failed_queries": self.call_failed_queries,
            "wall_time": self.wall_time,
            "ledger": self.ledger,
            "outputs": self.outputs,
        }


# ---------------------------------------------------------------------- formatting


def escalation_text(escalation: dict[str, Any] | None) -> str:
    """A cascade's escalation rate as a leaderboard shows it: ``25% (2: 3, 3: 1)`` = a quarter of
    the queries went past stage 1; 3 were answered by stage 2, 1 by stage 3."""
    if not escalation:
        return ""
    later = ", ".join(f"{k}: {v}" for k, v in escalation.get("stages", {}).items() if k != "1")
    return f"{100 * escalation['rate']:.0f}%" + (f" ({later})" if later else "")


def fmt_p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p = n/a"
    return f"p = {p:.2g}" if p >= 0.001 else f"p = {p:.1e}"


def short_value(value: Any, limit: int = 28) -> str:
    """A choice's value as a short name: labels stay, long strings (prompts) are cut."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    text = " ".join(str(value).split())
    if isinstance(value, str) and len(text) > limit:
        return "\u201c" + text[: limit - 3] + "\u2026\u201d"
    return text


def _test_entry(test: dict[str, Any] | None, label: str) -> dict[str, Any] | None:
    if not test:
        return None
    return next((p for p in test.get("pipelines", []) if p.get("label") == label), None)


def _score_of(entry: dict[str, Any] | None) -> Score | None:
    if not entry:
        return None
    return Score.of(entry.get("accuracy"), entry.get("ci"), entry.get("n"))


def _sel_score(summary: dict[str, Any] | None) -> Score | None:
    if not summary or not summary.get("n"):
        return None
    return Score.of(summary.get("selection"), None, summary.get("n"))


# ---------------------------------------------------------------------- the verdict


def verdict(result: Any, emitted: dict[str, Any] | None = None) -> Verdict:
    """What happened, in one sentence, from the selection decision and the test comparison.
    ``emitted`` stands in for ``result.emitted`` when best.yaml was chosen without it (an
    interrupted search emits the best trial by dev)."""
    em = emitted if emitted is not None else result.emitted
    sel = result.selection or {}
    test = result.test or {}
    details: list[str] = []
    base_test = _score_of((test.get("baseline") or {}).get("test"))
    if em is None:
        head = f"Nothing was emitted: {result.no_result or 'the search stopped before any trial completed'}."
        return Verdict("nothing", head, [result.stopped] if result.stopped else [])
    n_sel = sel.get("n") or 0
    base_sel = (sel.get("baseline") or {}).get("selection")
    if em.get("trial") is None:
        contenders = sel.get("contenders") or []
        if contenders and base_sel is not None:
            top = max(contenders, key=lambda c: (c.get("selection") or 0.0, -(c.get("trial") or 0)))
            head = (f"Nothing in this space beat one greedy call: on {n_sel} held-out selection queries the best candidate "
                    f"({top['label'].replace('-', ' ')}) scored {top['selection']:.3f} against the baseline's {base_sel:.3f}, "
                    f"{'not a significant gain' if top['selection'] > base_sel else 'no gain'} "
                    f"(adjusted {fmt_p(top.get('p_adjusted'))}). best.yaml holds the baseline.")
        else:
            head = f"best.yaml holds the baseline (one greedy call): {em.get('reason')}."
        if base_test is not None:
            line = f"On the test split the baseline scores {base_test.text()} (n={base_test.n})"
            other = next((p for p in test.get("pipelines", []) if p.get("best_by_dev") and p.get("trial") is not None), None)
            if other and other.get("vs_baseline"):
                vs = other["vs_baseline"]
                line += (f"; trial {other['trial']}, the best by dev, scores {other['test']['accuracy']:.3f} "
                         f"({vs['difference']:+.3f}, {vs['wins']} wins / {vs['losses']} losses, {vs['method']} {fmt_p(vs['p_value'])}: "
                         f"{'significant' if vs['significant'] else 'not significant'})")
            details.append(line + ".")
        kind = "no_win"
    else:
        t = em["trial"]
        entry = next((p for p in test.get("pipelines", []) if p.get("emitted")), None)
        em_test = _score_of(entry.get("test")) if entry else None
        vs = (entry or {}).get("vs_baseline")
        contender = next((c for c in sel.get("contenders") or [] if c.get("label") == em.get("label")), None)
        sel_text = ""
        if contender and base_sel is not None:
            sel_text = (f"on {n_sel} selection queries, which no trial saw, it scored {contender['selection']:.3f} against the baseline's "
                        f"{base_sel:.3f} (adjusted for every contender, {fmt_p(contender.get('p_adjusted'))})")
        if em.get("beats_baseline"):
            if em_test is not None and vs is not None and base_test is not None:
                nums = (f"{em_test.text()} against {base_test.text()} on {em_test.n} test queries "
                        f"({vs['difference']:+.3f}, {vs['wins']} wins / {vs['losses']} losses, {vs['method']} {fmt_p(vs['p_value'])})")
                if vs["significant"] and vs["difference"] > 0:
                    kind, head = "win", f"Trial {t} beats one greedy call on held-out test data: {nums}."
                elif vs["significant"]:
                    kind, head = "win_unconfirmed", f"Trial {t} won on the selection split but is worse than one greedy call on test: {nums}."
                else:
                    kind, head = "win_unconfirmed", f"Trial {t} won on the selection split, but the test split does not confirm it: {nums}, not significant."
                details.append(f"Chosen before test was touched: {sel_text}." if sel_text else f"Chosen because: {em.get('reason')}.")
            else:
                kind = "win_untested"
                head = f"Trial {t} beat one greedy call on held-out data: {sel_text or em.get('reason')}; the test split was not scored."
                if test.get("skipped"):
                    details.append(f"Test: {test['skipped']}.")
        else:
            kind = "unchecked"
            head = f"Trial {t} is the best by dev score, not checked on held-out data: {em.get('reason')}."
            if em_test is not None and base_test is not None and vs is not None:
                details.append(f"On the test split it scores {em_test.text()} against the baseline's {base_test.text()} "
                               f"({vs['difference']:+.3f}, {vs['method']} {fmt_p(vs['p_value'])}: "
                               f"{'significant' if vs['significant'] else 'not significant'}).")
        reason = em.get("reason") or ""
        if "the cheapest of" in reason:
            details.append("It is " + reason[reason.index("the cheapest of"):] + ".")
    if result.power:
        details.append(result.power[0].upper() + result.power[1:] + ".")
    if result.stopped:
        details.append(f"The search stopped early: {result.stopped}.")
    return Verdict(kind, head, details)


# ---------------------------------------------------------------------- building


def _key(pipeline: Any) -> str:
    return json.dumps(pipeline, sort_keys=True)


def _baseline_pipeline(result: Any, settings: Any, trials: list[Any], model: str | None) -> dict[str, Any] | None:
    test_base = (result.test or {}).get("baseline")
    if test_base and test_base.get("pipeline"):
        return test_base["pipeline"]
    em = result.emitted
    if em is not None and em.get("trial") is None and em.get("spec_data"):
        return em["spec_data"].get("pipeline")
    first = min((t for t in trials if t.spec_data), key=lambda t: t.number, default=None)
    if first is None or settings is None:
        return None
    specs = baseline_specs(settings.model_dump(mode="json"), first.spec_data)
    if not specs:
        return None
    chosen = specs.get(model) if model else None
    return (chosen or next(iter(specs.values())))["pipeline"]


def _read_trace(path: Path) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    if not path.exists():
        return rows
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut short by a killed search: the rest of the file is still good
            if isinstance(row, dict) and isinstance(row.get("index"), int):
                rows[row["index"]] = row  # a resumed trial's later rows replace earlier ones
    return rows


def _cut(text: Any, limit: int = _TEXT_LIMIT) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"\u2026 ({len(text) - limit} more characters)"


def _reference(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return " | ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _example(row: dict[str, Any], base: dict[int, dict[str, Any]] | None) -> Example:
    outer = row.get("trace") or {}
    inner = outer.get("trace") or {}
    nodes = []
    for node, cands in (inner.get("nodes") or {}).items():
        nodes.append((str(node), [{"id": c.get("id"), "text": _cut(c.get("text")), "model": c.get("model"),
                                   "sample": c.get("sample_index")} for c in cands if isinstance(c, dict)]))
    notes = {}
    for node, note in (inner.get("notes") or {}).items():
        if isinstance(note, dict) and "tally" in note:
            tally = sorted(note["tally"].items(), key=lambda kv: -kv[1])
            notes[str(node)] = "votes: " + ", ".join(f"{_cut(k, 40)} \u00d7{v:g}" for k, v in tally)
        elif isinstance(note, dict) and isinstance(note.get("stages"), list):
            notes[str(node)] = _cascade_note(note)
        else:
            notes[str(node)] = _cut(json.dumps(note, ensure_ascii=False, default=str), 300) or ""
    b = (base or {}).get(row["index"])
    return Example(index=row["index"], id=str(row.get("id")), query=_cut(outer.get("query"), 1500) or "",
                   reference=_cut(_reference(row.get("reference")), 300), answer=_cut(row.get("answer")),
                   extracted=_cut(row.get("extracted"), 200), score=row.get("score"), status=row.get("status"),
                   error=_cut(row.get("error"), 300), baseline_score=None if b is None else b.get("score"),
                   nodes=nodes, notes=notes)


def _cascade_note(note: dict[str, Any]) -> str:
    """What a cascade decided for one query: each stage's confidence against its threshold."""
    parts = []
    for step in note["stages"]:
        if not isinstance(step, dict):
            continue
        if step.get("failed"):
            parts.append(f"stage {step.get('stage')} failed ({_cut(step['failed'], 80)}): on")
        elif step.get("signal") is not None:
            went = "on" if step.get("went_on") else "kept"
            parts.append(f"stage {step.get('stage')}: {step['signal']} {step.get('confidence', 0):.2f} vs {step.get('threshold')}: {went}")
    answered = note.get("answered_by")
    head = f"answered by stage {answered}" if answered else "no stage answered"
    return head + ("; " + "; ".join(parts) if parts else "")


def _pick(rows: dict[int, dict[str, Any]], base: dict[int, dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A few telling queries: where the trial and the baseline disagree first (wins, then
    losses), then its mistakes, then queries it got right."""
    ordered = [rows[i] for i in sorted(rows)]
    picked: list[dict[str, Any]] = []

    def take(cands: list[dict[str, Any]], limit: int) -> None:
        for r in cands:
            if len(picked) >= EXAMPLES_PER_TRIAL or limit <= 0:
                return
            if r not in picked:
                picked.append(r)
                limit -= 1

    if base:
        scored = [r for r in ordered if r.get("score") is not None and (base.get(r["index"]) or {}).get("score") is not None]
        take([r for r in scored if r["score"] > base[r["index"]]["score"]], 2)
        take([r for r in scored if r["score"] < base[r["index"]]["score"]], 2)
    take([r for r in ordered if not r.get("score")], 3)
    take(ordered, EXAMPLES_PER_TRIAL)
    return picked


def build(result: Any, settings: Any, *, trials: list[Any] | None = None, emitted: dict[str, Any] | None = None) -> ReportData:
    """Gather the report's facts from a finished (or interrupted) search. ``trials`` (trial
    summaries) default to ``result.trials``; ``emitted`` to ``result.emitted``."""
    trials_in = list(result.trials if trials is None else trials)
    sel = result.selection or {}
    test = result.test or {}
    em = emitted if emitted is not None else result.emitted
    model = (sel.get("baseline") or {}).get("model") or (test.get("baseline") or {}).get("model")
    base_pipeline = _baseline_pipeline(result, settings, trials_in, model)
    base_key = _key(base_pipeline) if base_pipeline is not None else None
    base_trial = min((t.number for t in trials_in if t.spec_data is not None and _key(t.spec_data) == base_key
                      and t.status == "complete"), default=None)
    contenders = {c["label"]: c for c in sel.get("contenders") or []}
    tested = {p["label"]: p for p in test.get("pipelines", [])}
    pareto = [s.number for s in result.pareto]
    best_by_dev = result.best.number if result.best is not None else None

    views: list[TrialView] = []
    for s in trials_in:
        roles = []
        if em is not None and em.get("trial") == s.number:
            roles.append("emitted")
        if s.number == base_trial:
            roles.append("baseline")
        if s.number == best_by_dev:
            roles.append("best by dev")
        if s.number in pareto:
            roles.append("pareto")
        c = contenders.get(f"trial-{s.number}")
        if c is not None:
            roles.append("dropped" if c.get("dropped") else "selection")
        if f"trial-{s.number}" in tested:
            roles.append("test")
        dup = None
        if s.reason and s.reason.startswith("same choices as trial "):
            try:
                dup = int(s.reason.split()[4].rstrip(":"))
            except (IndexError, ValueError):
                dup = None
        views.append(TrialView(number=s.number, status=s.status, params=dict(s.params), roles=roles,
                               dev=Score.of(s.score, s.ci, s.n), cost_per_query=dict(s.cost or {}),
                               calls_spent=(s.spent or {}).get("calls"), reason=s.reason, call_failed=s.call_failed,
                               pipeline=s.spec_data, duplicate_of=dup, escalation=s.escalation))
    by_number = {v.number: v for v in views}

    # dev -> selection -> test, for every candidate that reached held-out data
    evidence: list[Evidence] = []
    base_sel = sel.get("baseline")
    base_test = test.get("baseline")
    if base_sel or base_test:
        bt = by_number.get(base_trial) if base_trial is not None else None
        evidence.append(Evidence(
            label="baseline", trial=base_trial, roles=["baseline"] + (["emitted"] if em is not None and em.get("trial") is None else []),
            dev=bt.dev if bt is not None else Score.of((base_sel or {}).get("dev"), None, None),
            selection=_sel_score(base_sel), test=_score_of((base_test or {}).get("test")),
            cost_per_query=(bt.cost_per_query if bt is not None else (base_sel or {}).get("cost_per_query") or {})))
    labels = list(contenders) + [label for label in tested if label not in contenders and label != "baseline"]
    for label in labels:
        c = contenders.get(label) or {}
        p = tested.get(label) or {}
        number = c.get("trial", p.get("trial"))
        view = by_number.get(number) if number is not None else None
        evidence.append(Evidence(
            label=label, trial=number, roles=[r for r in (view.roles if view else []) if r != "test"],
            dev=view.dev if view is not None else Score.of(c.get("dev"), None, None),
            selection=_sel_score(c) if c else None, test=_score_of(p.get("test")),
            p_selection=c.get("p_vs_baseline"), p_selection_adjusted=c.get("p_adjusted"), dropped=c.get("dropped"),
            test_vs_baseline=p.get("vs_baseline"),
            cost_per_query=(view.cost_per_query if view is not None else c.get("cost_per_query") or p.get("cost_per_query") or {})))

    # the baseline as one record: pipeline, and its scores on each split
    baseline = None
    if base_pipeline is not None:
        ev = evidence[0] if evidence and evidence[0].label == "baseline" else None
        baseline = {"label": "baseline", "model": model, "trial": base_trial, "pipeline": base_pipeline,
                    "dev": ev.dev if ev else (by_number[base_trial].dev if base_trial in by_number else None),
                    "selection": ev.selection if ev else None, "test": ev.test if ev else None,
                    "cost_per_query": (by_number[base_trial].cost_per_query if base_trial in by_number else
                                       (ev.cost_per_query if ev else {}))}
    emitted = None
    if em is not None:
        em_trial = em.get("trial")
        v = by_number.get(em_trial) if em_trial is not None else None
        emitted = {"label": em.get("label"), "trial": em.get("trial"), "reason": em.get("reason"),
                   "verified": em.get("verified"), "beats_baseline": em.get("beats_baseline"),
                   "params": v.params if v else None,
                   "cost_per_query": v.cost_per_query if v else (baseline or {}).get("cost_per_query")}

    # example queries from the traces, for the trials that matter and the best of the rest
    traces = Path(result.run_dir) / "traces"
    wanted = [v.number for v in views if v.roles] + [v.number for v in views if v.status in ("complete", "pruned")]
    chosen: list[int] = []
    for n in wanted:
        if n not in chosen and (len(chosen) < DRILL_DOWN_TRIALS or by_number[n].roles):
            chosen.append(n)
    base_rows = _read_trace(traces / f"trial-{base_trial}.jsonl") if base_trial is not None else {}
    examples: dict[int, list[Example]] = {}
    longest_query = 0
    for n in chosen:
        source = by_number[n].duplicate_of if by_number[n].duplicate_of is not None else n
        rows = base_rows if source == base_trial and base_rows else _read_trace(traces / f"trial-{source}.jsonl")
        if not rows:
            continue
        longest_query = max([longest_query] + [len(str((r.get("trace") or {}).get("query") or "")) for r in rows.values()])
        examples[n] = [_example(r, None if n == base_trial else base_rows) for r in _pick(rows, None if n == base_trial else base_rows)]

    bench = settings.benchmark if settings is not None else None
    benchmark = {"name": getattr(bench, "name", None),
                 "dev": max((v.dev.n for v in views if v.dev is not None), default=0),
                 "selection": sel.get("n") or 0, "test": test.get("n") or 0}
    models = [{"name": name, "kind": m.kind, "model": m.model} for name, m in (settings.models.items() if settings else [])]
    cost_unit = "dollars" if settings is not None and any(m.price is not None for m in settings.models.values()) else "tokens"
    return ReportData(
        study=result.study_name, description=getattr(settings, "description", None), storage=result.storage,
        run_dir=Path(result.run_dir), objectives=list(result.objectives), cost_unit=cost_unit, benchmark=benchmark,
        models=models, sampler=getattr(getattr(settings, "search", None), "sampler", ""), verdict=verdict(result, em),
        emitted=emitted, baseline=baseline, best_by_dev=best_by_dev, pareto=pareto, evidence=evidence, trials=views,
        examples=examples, selection=result.selection, test=result.test, power=result.power, stopped=result.stopped,
        no_result=result.no_result, ledger=dict(result.ledger or {}), calls_made=result.calls_made,
        calls_cached=result.calls_cached, wall_time=result.wall_time,
        query_tokens=max(32, longest_query // 3 + 1) if longest_query else 200, settings=settings)
