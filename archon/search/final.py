"""After the search: the baseline, and the emitted pipeline against it on TEST.

The baselines are, for each model, one greedy call (temperature 0, one sample) with the prompt
settings of the space's first point — the same node id and prompt, so on dev they are the same
calls as trial 0 and come from the cache. When there are several models, the baseline compared
against is the one with the best *dev* score (choosing by test would flatter it).

What is emitted is decided before test is touched (:func:`choose_emitted`, which runs the
selection stage of archon.search.selection). Test then scores
the emitted pipeline, the best trial by dev when that is another one (so the report shows what
taking the raw dev maximum would have given), the Pareto set with several objectives, and the
baseline. The comparison is paired on the same test records: McNemar's exact test for 0/1
scores, a paired bootstrap otherwise; records whose calls failed for good are left out of both
sides. Test evaluation reserves its worst case in the ledger like any trial; if the search
budget cannot cover it, it is skipped and the summary says so.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archon.search.scoring import SplitScorer
from archon.search.selection import Contender, first_objective, power_note, select_winner
from archon.search.stats import paired_test, preference, wilson

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial

    from archon.benchmarks import Splits

__all__ = ["Emission", "baseline_specs", "choose_baseline", "choose_emitted", "final_test"]

MAX_PARETO_ON_TEST = 5


def _components(pipeline_data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every component, those in cascade stages included (a cascade's first generator is the
    baseline's template, as a plain pipeline's first generator is)."""
    out = []
    for layer in pipeline_data.get("layers", []):
        for c in layer:
            out.append(c)
            for stage in c.get("stages") or [] if c.get("type") == "cascade" else []:
                out.extend(_components(stage))
    return out


def baseline_specs(settings_data: dict[str, Any], first_pipeline: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Model name -> spec data of its single greedy call pipeline."""
    template: dict[str, Any] = {"type": "generate"}
    if first_pipeline:
        gens = [c for c in _components(first_pipeline) if c.get("type") == "generate"]
        if gens:
            template = dict(gens[0])
    models: list[str] = list(settings_data.get("models") or {})
    if first_pipeline:
        for c in _components(first_pipeline):
            for m in (c.get("models") or [c.get("model")]) if c.get("type") == "generate" else []:
                if m and m not in models:
                    models.append(m)
    out = {}
    for m in models:
        comp = dict(template)
        comp.update(model=m, models=None, samples=1, temperature=0.0, inputs=None)
        data = copy.deepcopy(settings_data)
        data["pipeline"] = {"layers": [[comp]]}
        out[m] = data
    return out


def _complete(study: Study) -> list[FrozenTrial]:
    from optuna.trial import TrialState  # optuna loads lazily (see archon.search)

    return [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE and "pipeline" in t.user_attrs]


def best_by_dev(study: Study, objectives: list[str]) -> list[FrozenTrial]:
    """The best complete trial by dev (cheaper first among ties), or with several objectives
    the Pareto front by accuracy; only trials that carry a pipeline."""
    complete = _complete(study)
    if not complete:
        return []
    if len(objectives) == 1:
        return [max(complete, key=lambda t: preference(first_objective(t), t.user_attrs.get("cost_per_query"), t.number))]
    return sorted((t for t in study.best_trials if "pipeline" in t.user_attrs), key=lambda t: (-first_objective(t), t.number))


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in rows if r.get("score") is not None]
    n = len(scored)
    total = sum(r["score"] for r in scored)
    lo, hi = wilson(total, n)
    return {"accuracy": total / n if n else 0.0, "ci": [lo, hi], "n": n, "call_failed": len(rows) - n}


def _first_pipeline(study: Study) -> dict[str, Any] | None:
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    first = next((t for t in trials if "pipeline" in t.user_attrs), None)
    return first.user_attrs["pipeline"] if first else None


def choose_baseline(study: Study, scorer: SplitScorer, *, splits: Splits) -> tuple[Contender, list[dict[str, Any]]] | None:
    """The one-greedy-call baseline as a selection :class:`Contender` (with several models, the
    best by dev), and the dev scores of every model's baseline; None if the budget cannot cover
    scoring them on dev."""
    baselines = baseline_specs(scorer.settings.model_dump(mode="json"), _first_pipeline(study))
    if not baselines:
        return None
    dev_idx = list(range(len(splits.dev)))
    scored: list[dict[str, Any]] = []
    chosen, best_dev = next(iter(baselines)), None
    if len(baselines) > 1:
        for model, data in baselines.items():
            rows = scorer.rows(f"baseline-{model}", data, "dev", dev_idx)
            if rows is None:
                return None
            s = _summary(rows)
            scored.append({"model": model, "dev": s})
            if best_dev is None or s["accuracy"] > best_dev:
                best_dev, chosen = s["accuracy"], model
    data = baselines[chosen]
    static = scorer.static_cost(data)
    cost = {"calls": float(static.calls), "tokens": float(static.input_tokens + static.output_tokens),
            "dollars": None if static.dollars is None else float(static.dollars)}  # None: a model without a price
    return Contender("baseline", data, None, best_dev, cost, model=chosen), scored


@dataclass
class Emission:
    """What best.yaml holds and why (the fields of :class:`~archon.search.outcome.SearchResult`
    of the same names), and the baseline it was compared with."""

    emitted: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None
    power: str | None = None
    no_result: str | None = None
    baseline: Contender | None = None
    baselines_dev: list[dict[str, Any]] = field(default_factory=list)


def choose_emitted(study: Study, scorer: SplitScorer, *, objectives: list[str], splits: Splits, stop_reason: str | None,
                   say: Callable[[str], None]) -> Emission:
    """Decide what best.yaml holds (archon.search.selection), before test is touched."""
    complete = _complete(study)
    if not complete:
        failed = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("reason")]
        why = f"; first reason: {failed[0].user_attrs['reason'][:300]}" if failed else ""
        return Emission(no_result=f"no trial completed ({stop_reason or 'every trial failed, was pruned or was infeasible'}){why}")
    front = best_by_dev(study, objectives)
    best = front[0] if front else max(complete, key=lambda t: (first_objective(t), -t.number))
    by_dev = {"label": f"trial-{best.number}", "trial": best.number, "spec_data": scorer.spec_data(best.user_attrs["pipeline"]),
              "verified": False, "beats_baseline": None}
    picked = choose_baseline(study, scorer, splits=splits)
    if picked is None:
        return Emission(emitted={**by_dev, "reason": "chosen by dev score alone: the search budget cannot cover scoring the baselines"})
    baseline, baselines_dev = picked
    if baseline.dev_score is None:
        key = json.dumps(baseline.spec_data["pipeline"], sort_keys=True)
        same = [t for t in complete if json.dumps(t.user_attrs["pipeline"], sort_keys=True) == key]
        first = same[0] if same else min(complete, key=lambda t: t.number)
        baseline.dev_score = first.user_attrs.get("dev_score")
    out = Emission(power=power_note(len(splits.selection), len(splits.dev), baseline.dev_score), baseline=baseline,
                   baselines_dev=baselines_dev)
    decision = select_winner(study, scorer, objectives=objectives, splits=splits, baseline=baseline, say=say)
    if decision is None:
        if not splits.selection:
            # the user turned the check off (benchmark.selection: 0): their call, labelled as such
            out.emitted = {**by_dev, "reason": "chosen by dev score alone, not checked on held-out data: "
                                               "the selection split is empty (benchmark.selection: 0)"}
            return out
        # a dev maximum nobody could check is not a win: one greedy call is the safe thing to ship
        reason = (f"the search budget cannot cover checking the best by dev ({by_dev['label']}) on the "
                  f"{len(splits.selection)} selection queries, so no win can be claimed; the baseline "
                  "(one greedy call) is emitted")
        out.emitted = {"label": baseline.label, "trial": None, "spec_data": baseline.spec_data, "reason": reason,
                       "verified": False, "beats_baseline": False}
        say(f"emitted: {reason}")
        return out
    out.selection = decision.to_dict()
    out.emitted = {"label": decision.emitted.label, "trial": decision.emitted.trial, "spec_data": decision.emitted.spec_data,
                   "reason": decision.reason, "verified": decision.n > 0, "beats_baseline": decision.beats_baseline}
    say(f"emitted: {decision.reason}")
    return out


def final_test(study: Study, scorer: SplitScorer, *, objectives: list[str], splits: Splits, emitted: dict[str, Any] | None,
               baseline: Contender | None, baselines_dev: list[dict[str, Any]], say: Callable[[str], None]) -> dict[str, Any] | None:
    """Score the emitted pipeline (and the dev-best trial, and the Pareto set) and the baseline on test."""
    complete = _complete(study)
    if not splits.test or (not complete and emitted is None):
        return None
    entries: list[tuple[str, int | None, dict[str, Any], dict[str, Any]]] = []  # label, trial, spec data, extra
    if emitted is not None:
        entries.append((emitted["label"], emitted.get("trial"), emitted["spec_data"], {"emitted": True}))
    for t in best_by_dev(study, objectives)[:MAX_PARETO_ON_TEST]:
        if any(e[1] == t.number for e in entries):
            continue
        entries.append((f"trial-{t.number}", t.number, scorer.spec_data(t.user_attrs["pipeline"]), {"best_by_dev": True}))
    test_idx = list(range(len(splits.test)))
    out: dict[str, Any] = {"split": "test", "n": len(test_idx), "pipelines": [], "baselines": list(baselines_dev)}
    say(f"scoring {'the emitted pipeline' if emitted else 'the best pipeline'}"
        f"{' and others' if len(entries) > 1 else ''} and the baseline on test ({len(test_idx)} records)...")
    results: dict[str, list[dict[str, Any]]] = {}
    for label, trial, data, extra in entries:
        if results.get(label) is not None:
            continue
        rows = scorer.rows(label, data, "test", test_idx)
        if rows is None:
            out["skipped"] = "the search budget cannot cover scoring on test"
            break
        results[label] = rows
        entry = {"label": label, "trial": trial, "test": _summary(rows), **extra}
        record = study.trials[trial] if trial is not None else None
        if record is not None:
            entry.update(dev=record.user_attrs.get("dev_score"), cost_per_query=record.user_attrs.get("cost_per_query"))
        out["pipelines"].append(entry)
    base_rows = None
    if baseline is not None and "skipped" not in out:
        base_rows = results.get(baseline.label)
        if base_rows is None:
            base_rows = scorer.rows("baseline", baseline.spec_data, "test", test_idx)
        if base_rows is None:
            out["skipped"] = "the search budget cannot cover scoring the baseline on test"
        else:
            out["baseline"] = {"model": baseline.model, "label": baseline.label, "test": _summary(base_rows),
                               "pipeline": baseline.spec_data["pipeline"]}
    if base_rows is not None and baseline is not None:
        by_id = {r["id"]: r["score"] for r in base_rows if r.get("score") is not None}
        for p in out["pipelines"]:
            if p["label"] == baseline.label:
                continue
            rows = [r for r in results[p["label"]] if r.get("score") is not None and r["id"] in by_id]
            test = paired_test([r["score"] for r in rows], [by_id[r["id"]] for r in rows])
            p["vs_baseline"] = {"method": test.method, "p_value": test.p_value, "difference": test.difference,
                                "wins": test.a_only, "losses": test.b_only, "significant": test.significant}
    return out
