"""After the search: the baseline, and the emitted pipeline against it on TEST.

The baselines are, for each model, one greedy call (temperature 0, one sample) with the prompt
settings of the space's first point — the same node id and prompt, so on dev they are the same
calls as trial 0 and come from the cache. When there are several models, the baseline compared
against is the one with the best *dev* score (choosing by test would flatter it).

What is emitted is decided before test is touched (archon.search.selection). Test then scores
the emitted pipeline, the best trial by dev when that is another one (so the report shows what
taking the raw dev maximum would have given), the Pareto set with several objectives, and the
baseline. The comparison is paired on the same test records: McNemar's exact test for 0/1
scores, a paired bootstrap otherwise; records whose calls failed for good are left out of both
sides. Test evaluation reserves its worst case in the ledger like any trial; if the search
budget cannot cover it, it is skipped and the summary says so.
"""

from __future__ import annotations

import copy
from typing import Any

from archon.errors import InputError, SearchError
from archon.search.ledger import Spend
from archon.search.stats import paired_test, preference, wilson

__all__ = ["baseline_specs", "choose_baseline", "final_test", "evaluate_all"]

MAX_PARETO_ON_TEST = 5


def _components(pipeline_data: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for layer in pipeline_data.get("layers", []) for c in layer]


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


def evaluate_all(driver: Any, label: str, spec_data: dict[str, Any], split: str, indices: list[int]) -> list[dict[str, Any]] | None:
    """Evaluate one pipeline on ``indices`` of ``split`` through the dispatcher; None if the
    budget cannot cover it (nothing is dispatched then)."""
    from archon.graph import compile_pipeline
    from archon.search.driver import worst_case
    from archon.search.evaluation import ShardJob
    from archon.spec.schema import Spec

    static = compile_pipeline(Spec.model_validate(spec_data)).static_cost(query_tokens=driver.qtokens)
    per_query = worst_case(static)
    size = driver.shard_size
    chunks = [indices[i : i + size] for i in range(0, len(indices), size)]
    keys = []
    for k, chunk in enumerate(chunks):
        key = f"{driver.ledger.session}/{label}/{split}/{chunk[0]}-{chunk[-1]}/shard-{k}"
        if driver.ledger.reserve(key, per_query.scaled(len(chunk))) is None:
            for done in keys:
                driver.ledger.release(done)
            return None
        keys.append(key)
    for key, chunk in zip(keys, chunks):
        job = ShardJob(key=key, trial=-1, rung=0, shard=0, split=split, indices=tuple(chunk), spec_data=spec_data,
                       cache_path=driver.cache_path, preload=driver.preload, sys_path=driver.sys_path, trace=False,
                       replay=driver.replay)
        driver.dispatcher.submit(job, driver.task_opts)
    pending = set(keys)
    rows: dict[str, list[dict[str, Any]]] = {}
    while pending:
        for res in driver.dispatcher.wait(timeout=0.5):
            if res.key not in pending:
                continue
            pending.discard(res.key)
            driver.ledger.settle(res.key, Spend(float(res.spent.get("dollars", 0.0)), int(res.spent.get("tokens", 0)), int(res.spent.get("calls", 0))))
            from archon.search.driver import _add

            _add(driver.totals_spent, res.spent)
            if res.error:
                driver.dispatcher.cancel(list(pending))
                for key in pending:
                    driver.ledger.settle(key, driver_reserved(driver, key))
                if res.fatal:
                    raise InputError(f"{label} on {split}: {res.error}")
                raise SearchError(f"{label} on {split}: {res.error}")
            rows[res.key] = res.rows
    return [r for key in keys for r in rows[key]]


def driver_reserved(driver: Any, key: str) -> Spend:
    with driver.ledger._lock:
        row = driver.ledger._db.execute("SELECT dollars, tokens, calls FROM reservations WHERE key = ?", (key,)).fetchone()
    return Spend(*row) if row else Spend()


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in rows if r.get("score") is not None]
    n = len(scored)
    total = sum(r["score"] for r in scored)
    lo, hi = wilson(total, n)
    return {"accuracy": total / n if n else 0.0, "ci": [lo, hi], "n": n, "call_failed": len(rows) - n}


def _first_pipeline(driver: Any) -> dict[str, Any] | None:
    trials = sorted(driver.study.get_trials(deepcopy=False), key=lambda t: t.number)
    first = next((t for t in trials if "pipeline" in t.user_attrs), None)
    return first.user_attrs["pipeline"] if first else None


def choose_baseline(driver: Any, *, splits: Any) -> tuple[Any, list[dict[str, Any]]] | None:
    """The one-greedy-call baseline as a selection :class:`Contender` (with several models, the
    best by dev), and the dev scores of every model's baseline; None if the budget cannot cover
    scoring them on dev."""
    from archon.graph import compile_pipeline
    from archon.search.driver import _spec_data, worst_case
    from archon.search.selection import Contender
    from archon.spec.schema import Spec

    settings_data = _spec_data(driver.settings, driver.spec_dir)
    baselines = baseline_specs(settings_data, _first_pipeline(driver))
    if not baselines:
        return None
    dev_idx = list(range(len(splits.dev)))
    scored: list[dict[str, Any]] = []
    chosen, best_dev = next(iter(baselines)), None
    if len(baselines) > 1:
        for model, data in baselines.items():
            rows = evaluate_all(driver, f"baseline-{model}", data, "dev", dev_idx)
            if rows is None:
                return None
            s = _summary(rows)
            scored.append({"model": model, "dev": s})
            if best_dev is None or s["accuracy"] > best_dev:
                best_dev, chosen = s["accuracy"], model
    data = baselines[chosen]
    static = compile_pipeline(Spec.model_validate(data)).static_cost(query_tokens=driver.qtokens)
    cost = {"calls": float(static.calls), "tokens": float(static.input_tokens + static.output_tokens),
            "dollars": None if static.dollars is None else float(static.dollars)}  # None: a model without a price
    return Contender("baseline", data, None, best_dev, cost, model=chosen), scored


def final_test(driver: Any, *, splits: Any, emitted: dict[str, Any] | None, baseline: Any, baselines_dev: list[dict[str, Any]],
               console: Any = None, progress: bool = True) -> dict[str, Any] | None:
    """Score the emitted pipeline (and the dev-best trial, and the Pareto set) and the baseline on test."""
    from optuna.trial import TrialState

    from archon.search.driver import _say, _spec_data
    from archon.search.stats import preference

    study = driver.study
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE and "pipeline" in t.user_attrs]
    if not splits.test or (not complete and emitted is None):
        return None
    settings_data = _spec_data(driver.settings, driver.spec_dir)
    entries: list[tuple[str, int | None, dict[str, Any], dict[str, Any]]] = []  # label, trial, spec data, extra
    if emitted is not None:
        entries.append((emitted["label"], emitted.get("trial"), emitted["spec_data"], {"emitted": True}))
    if complete:
        if len(driver.objectives) == 1:
            chosen = [max(complete, key=lambda t: preference(t.values[0], t.user_attrs.get("cost_per_query"), t.number))]
        else:
            chosen = sorted((t for t in study.best_trials if "pipeline" in t.user_attrs), key=lambda t: (-t.values[0], t.number))[:MAX_PARETO_ON_TEST]
        for t in chosen:
            if any(e[1] == t.number for e in entries):
                continue
            data = copy.deepcopy(settings_data)
            data["pipeline"] = t.user_attrs["pipeline"]
            entries.append((f"trial-{t.number}", t.number, data, {"best_by_dev": True}))
    test_idx = list(range(len(splits.test)))
    out: dict[str, Any] = {"split": "test", "n": len(test_idx), "pipelines": [], "baselines": list(baselines_dev)}
    _say(console, progress, f"scoring {'the emitted pipeline' if emitted else 'the best pipeline'}"
         f"{' and others' if len(entries) > 1 else ''} and the baseline on test ({len(test_idx)} records)...")
    results: dict[str, list[dict[str, Any]]] = {}
    for label, trial, data, extra in entries:
        if results.get(label) is not None:
            continue
        rows = evaluate_all(driver, label, data, "test", test_idx)
        if rows is None:
            out["skipped"] = "the search budget cannot cover scoring on test"
            break
        results[label] = rows
        entry = {"label": label, "trial": trial, "test": _summary(rows), **extra}
        t = study.trials[trial] if trial is not None else None
        if t is not None:
            entry.update(dev=t.user_attrs.get("dev_score"), cost_per_query=t.user_attrs.get("cost_per_query"))
        out["pipelines"].append(entry)
    base_rows = None
    if baseline is not None and "skipped" not in out:
        base_rows = results.get(baseline.label)
        if base_rows is None:
            base_rows = evaluate_all(driver, "baseline", baseline.spec_data, "test", test_idx)
        if base_rows is None:
            out["skipped"] = "the search budget cannot cover scoring the baseline on test"
        else:
            out["baseline"] = {"model": baseline.model, "label": baseline.label, "test": _summary(base_rows),
                               "pipeline": baseline.spec_data["pipeline"]}
    if base_rows is not None:
        by_id = {r["id"]: r["score"] for r in base_rows if r.get("score") is not None}
        for p in out["pipelines"]:
            if p["label"] == baseline.label:
                continue
            rows = [r for r in results[p["label"]] if r.get("score") is not None and r["id"] in by_id]
            test = paired_test([r["score"] for r in rows], [by_id[r["id"]] for r in rows])
            p["vs_baseline"] = {"method": test.method, "p_value": test.p_value, "difference": test.difference,
                                "wins": test.a_only, "losses": test.b_only, "significant": test.significant}
    return out
