"""After the search: the winner (and the Pareto set) and the single-call baselines on TEST.

The baselines are, for each model, one greedy call (temperature 0, one sample) with the prompt
settings of the space's first point — the same node id and prompt, so on dev they are the same
calls as trial 0 and come from the cache. When there are several models, the baseline compared
against is the one with the best *dev* score (choosing by test would flatter it). The comparison
is paired on the same test records: McNemar's exact test for 0/1 scores, a paired bootstrap
otherwise. Test evaluation reserves its worst case in the ledger like any trial; if the search
budget cannot cover it, it is skipped and the summary says so.
"""

from __future__ import annotations

import copy
from typing import Any

from archon.search.ledger import Spend
from archon.search.stats import paired_test, preference, wilson

__all__ = ["baseline_specs", "final_test", "evaluate_all"]

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
    kinds = settings_data.get("models") or {}
    models = [m for m in models if (kinds.get(m) or {}).get("kind") != "fake" or True]
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
        key = f"{driver.ledger.session}/{label}/{split}/shard-{k}"
        if driver.ledger.reserve(key, per_query.scaled(len(chunk))) is None:
            for done in keys:
                driver.ledger.release(done)
            return None
        keys.append(key)
    for key, chunk in zip(keys, chunks):
        job = ShardJob(key=key, trial=-1, rung=0, shard=0, split=split, indices=tuple(chunk), spec_data=spec_data,
                       cache_path=driver.cache_path, preload=driver.preload, sys_path=driver.sys_path, trace=False)
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
                raise RuntimeError(f"{label} on {split}: {res.error}")
            rows[res.key] = res.rows
    return [r for key in keys for r in rows[key]]


def driver_reserved(driver: Any, key: str) -> Spend:
    with driver.ledger._lock:
        row = driver.ledger._db.execute("SELECT dollars, tokens, calls FROM reservations WHERE key = ?", (key,)).fetchone()
    return Spend(*row) if row else Spend()


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    total = sum(r["score"] for r in rows)
    lo, hi = wilson(total, n)
    return {"accuracy": total / n if n else 0.0, "ci": [lo, hi], "n": n}


def final_test(driver: Any, *, benchmark: Any, splits: Any, console: Any = None, progress: bool = True) -> dict[str, Any] | None:
    from optuna.trial import TrialState

    from archon.search.driver import _say, _spec_data

    study = driver.study
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE and "pipeline" in t.user_attrs]
    if not complete or not splits.test:
        return None
    if len(driver.objectives) == 1:
        best = max(complete, key=lambda t: preference(t.values[0], t.user_attrs.get("cost_per_query"), t.number))
        chosen = [best]
    else:
        front = study.best_trials
        front = [t for t in front if "pipeline" in t.user_attrs]
        front.sort(key=lambda t: (-t.values[0], t.number))
        chosen = front[:MAX_PARETO_ON_TEST]
        best = chosen[0] if chosen else max(complete, key=lambda t: (t.values[0], -t.number))
        if best not in chosen:
            chosen.insert(0, best)
    settings_data = _spec_data(driver.settings, driver.spec_dir)
    first = next((t for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number) if "pipeline" in t.user_attrs), None)
    baselines = baseline_specs(settings_data, first.user_attrs["pipeline"] if first else None)
    test_idx = list(range(len(splits.test)))
    dev_idx = list(range(len(splits.dev)))
    out: dict[str, Any] = {"split": "test", "n": len(test_idx), "pipelines": [], "baselines": []}
    _say(console, progress, f"scoring the best pipeline{'s' if len(chosen) > 1 else ''} and the baselines on test ({len(test_idx)} records)...")
    # pick the baseline by dev score when there are several
    chosen_baseline = None
    if len(baselines) > 1:
        best_dev = None
        for model, data in baselines.items():
            rows = evaluate_all(driver, f"baseline-{model}", data, "dev", dev_idx)
            if rows is None:
                out["skipped"] = "the search budget cannot cover scoring the baselines on dev"
                return out
            s = _summary(rows)
            out["baselines"].append({"model": model, "dev": s})
            if best_dev is None or s["accuracy"] > best_dev:
                best_dev, chosen_baseline = s["accuracy"], model
    elif baselines:
        chosen_baseline = next(iter(baselines))
    results: dict[str, list[dict[str, Any]]] = {}
    for t in chosen:
        data = copy.deepcopy(settings_data)
        data["pipeline"] = t.user_attrs["pipeline"]
        rows = evaluate_all(driver, f"trial-{t.number}", data, "test", test_idx)
        if rows is None:
            out["skipped"] = "the search budget cannot cover scoring on test"
            break
        results[f"trial-{t.number}"] = rows
        out["pipelines"].append({"trial": t.number, "dev": t.user_attrs.get("dev_score"), "test": _summary(rows),
                                 "cost_per_query": t.user_attrs.get("cost_per_query")})
    base_rows = None
    if chosen_baseline is not None and "skipped" not in out:
        base_rows = evaluate_all(driver, f"baseline-{chosen_baseline}", baselines[chosen_baseline], "test", test_idx)
        if base_rows is None:
            out["skipped"] = "the search budget cannot cover scoring the baseline on test"
        else:
            entry = next((b for b in out["baselines"] if b["model"] == chosen_baseline), None)
            if entry is None:
                entry = {"model": chosen_baseline}
                out["baselines"].append(entry)
            entry["test"] = _summary(base_rows)
            entry["chosen"] = True
            out["baseline"] = {"model": chosen_baseline, "test": entry["test"], "pipeline": baselines[chosen_baseline]["pipeline"]}
    if base_rows is not None:
        by_id = {r["id"]: r["score"] for r in base_rows}
        for p in out["pipelines"]:
            rows = results[f"trial-{p['trial']}"]
            a = [r["score"] for r in rows if r["id"] in by_id]
            b = [by_id[r["id"]] for r in rows if r["id"] in by_id]
            test = paired_test(a, b)
            p["vs_baseline"] = {"method": test.method, "p_value": test.p_value, "difference": test.difference,
                                "wins": test.a_only, "losses": test.b_only, "significant": test.significant}
    out["best_trial"] = best.number
    return out
