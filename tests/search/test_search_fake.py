"""Whole searches on the scripted fake backend, in process (fast): outputs, budgets,
infeasible architectures, Pareto fronts, determinism."""

from __future__ import annotations

import re

import csv
import json
from pathlib import Path

import optuna
import pytest

from archon.search import run_search
from archon.graph import validate_pipeline
from archon.spec import load_spec_file


def _search(path: Path, run_dir: Path, **kw):
    kw.setdefault("use_ray", False)
    kw.setdefault("progress", False)
    return run_search(path, run_dir=run_dir, **kw)


def _study(run_dir: Path, name: str = "fake-search") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{run_dir / 'study.db'}")


def test_search_writes_the_run_directory(space_file, tmp_path) -> None:
    spec = space_file(trials=8, dev=24, test=12)
    run = tmp_path / "run"
    result = _search(spec, run)
    assert result.best is not None and result.best.status == "complete"
    # trial 0 is the space's first point (the single-call greedy baseline)
    first = min(result.trials, key=lambda t: t.number)
    assert first.params == {"samples": 1, "temperature": 0.0, "style": "Answer briefly.", "vote": True}
    # the winner is never worse than the baseline on dev
    assert result.best.score >= (first.score or 0.0)
    # best.yaml is a plain pipeline that validates
    best = validate_pipeline(load_spec_file(run / "best.yaml"))
    assert best.pipeline.layers[0][0].type == "generate"
    # its benchmark path is relative to best.yaml's folder, so `archon eval run/best.yaml` finds the data
    assert best.benchmark is not None and (run / best.benchmark.path).resolve() == (spec.parent / "data.jsonl").resolve()
    for name in ("leaderboard.md", "leaderboard.csv", "report.html", "summary.json", "plots/history.svg"):
        assert (run / name).exists(), name
    rows = list(csv.DictReader((run / "leaderboard.csv").open()))
    assert len(rows) == len(result.trials) == 8
    html = (run / "report.html").read_text()
    assert "class='chart cost-accuracy'" in html and "class='pipeline-graph'" in html
    traces = list((run / "traces").glob("trial-*.jsonl"))
    assert traces and all(json.loads(line)["trial"] >= 0 for line in traces[0].read_text().splitlines())
    # the test split: winner vs baseline, with a paired test
    assert result.test is not None and result.test["baseline"]["model"] == "m"
    # what is emitted was decided on the selection split, and the summary says why
    summary = json.loads((run / "summary.json").read_text())
    assert summary["emitted"]["reason"] and result.selection is not None
    assert summary["power"].startswith("power: with")
    emitted = next(p for p in result.test["pipelines"] if p.get("emitted"))
    if result.emitted["trial"] is None:
        assert emitted["label"] == "baseline" and "beat one greedy call" in result.emitted["reason"]
    else:
        assert result.emitted["beats_baseline"] and "vs_baseline" in emitted
    others = [p for p in result.test["pipelines"] if p["label"] != "baseline"]
    assert all("vs_baseline" in p for p in others)


def test_infeasible_architectures_are_recorded_not_scored(space_file, tmp_path) -> None:
    spec = space_file(trials=10, per_query_calls=3, max_samples=8, sampler="random")
    run = tmp_path / "run"
    result = _search(spec, run, final_test=False)
    infeasible = [t for t in result.trials if t.status == "infeasible"]
    assert infeasible, "the random sampler should hit samples > 3"
    study = _study(run)
    for s in infeasible:
        # greedy samples are one call (real cost), so only sampled ones can exceed 3 calls
        assert s.params["samples"] > 3 and s.params["temperature"] > 0 and s.score is None and s.reason
        t = study.trials[s.number]
        assert t.state == optuna.trial.TrialState.PRUNED and t.values is None  # no invented score
        assert max(t.constraints.values()) > 0  # the sampler sees it as infeasible
        assert t.constraints.get("per_query_budget", 0) > 0  # over budget, not an invalid architecture
        assert not (run / "traces" / f"trial-{s.number}.jsonl").exists()  # never evaluated
    for s in result.trials:
        if s.status in ("complete", "pruned"):
            assert s.params["samples"] <= 3 or s.params["temperature"] == 0
            assert all(v <= 0 for v in study.trials[s.number].constraints.values())


def test_budget_holds_with_16_trials_in_parallel(space_file, tmp_path, monkeypatch) -> None:
    log = tmp_path / "calls.log"
    monkeypatch.setenv("ARCHON_TEST_CALL_LOG", str(log))
    limit = 300
    spec = space_file(trials=40, parallel=16, search_budget=f"{{calls: {limit}}}", per_query_calls=8, fidelity="false")
    run = tmp_path / "run"
    result = _search(spec, run, shard_size=4)
    made = len(log.read_text().splitlines())
    assert result.ledger["spent"]["calls"] <= limit
    assert made <= limit  # every call that reached the backend, search and final test included
    assert result.stopped and "budget" in result.stopped
    # a stop below the limit says why: the next evaluation's worst case did not fit
    assert "at its worst case, more than is left" in result.stopped, result.stopped
    done = [t for t in result.trials if t.status == "complete"]
    assert done, "some trials complete before the budget runs out"
    assert all(t.status in ("complete", "infeasible", "budget") for t in result.trials)


def test_pareto_front_for_accuracy_and_cost(space_file, tmp_path) -> None:
    spec = space_file(trials=12, objectives="[accuracy, cost]", sampler="nsga2", parallel=3)
    run = tmp_path / "run"
    result = _search(spec, run, final_test=False)
    assert result.pareto
    pts = [(s.values[0], s.values[1]) for s in result.pareto]
    for a in pts:
        for b in pts:
            assert not (b[0] >= a[0] and b[1] <= a[1] and b != a), "a Pareto point is dominated"
    files = sorted((run / "pareto").glob("trial-*.yaml"))
    assert len(files) == len(result.pareto)
    for f in files:
        validate_pipeline(load_spec_file(f))
    # the report draws the same front: on the study's cost unit (dollars: the model is priced),
    # the points nothing beats are the trials Optuna's best_trials names
    from archon.search.charts import Point, pareto_front

    assert (run / "plots" / "cost_accuracy_dollars.svg").exists()
    summary = json.loads((run / "summary.json").read_text())
    points = [Point(t["trial"], t["cost_per_query"]["dollars"], t["dev"]["accuracy"]) for t in summary["trials"] if t["status"] == "complete"]
    assert sorted(p.trial for p in pareto_front(points)) == sorted(summary["pareto"])


def test_same_seed_same_search(space_file, tmp_path) -> None:
    spec = space_file(trials=8, parallel=1, seed=7)
    a = _search(spec, tmp_path / "a", final_test=False)
    b = _search(spec, tmp_path / "b", final_test=False)
    key = lambda r: [(t.number, t.params, t.status, t.score) for t in sorted(r.trials, key=lambda t: t.number)]  # noqa: E731
    assert key(a) == key(b)
    c = _search(space_file(trials=8, parallel=1, seed=8), tmp_path / "c", final_test=False)
    assert [t.params for t in sorted(c.trials, key=lambda t: t.number)] != [t.params for t in sorted(a.trials, key=lambda t: t.number)]


@pytest.mark.parametrize("sampler", ["greedy", "grid", "random"])
def test_other_samplers_run_a_search(space_file, tmp_path, sampler: str) -> None:
    result = _search(space_file(trials=5, sampler=sampler, max_samples=3), tmp_path / "run", final_test=False)
    assert len(result.trials) == 5
    assert result.best is not None


def test_dry_run_spends_nothing(space_file, tmp_path, capsys) -> None:
    from archon.cli import main

    spec = space_file(trials=10)
    run = tmp_path / "run"
    assert main(["search", str(spec), "--dry-run", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    from archon.space import Space

    expected = Space.from_document(load_spec_file(spec)).count().exact
    assert expected and "space size" in out and f" {expected} " in out
    assert "calls, expected (search)" in out
    expected_calls = float(re.search(r"calls, expected \(search\)\s*│\s*([\d,.-]+)", out)[1].replace(",", ""))
    full = float(re.search(r"calls, full dev & no cache\s*│\s*([\d,.-]+)", out)[1].replace(",", ""))
    assert 0 < expected_calls <= full  # greedy samples once counted as repeats made this negative
    assert not (run / "study.db").exists() and not (run / "calls.sqlite").exists()


def test_bad_spec_is_one_line_exit_2(tmp_path, capsys) -> None:
    from archon.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline:\n  - {type: generate, samples: {int: [1, 3]}}\nsearch: {sampler: annealing}\n")
    assert main(["search", str(bad), "--no-ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(":" in line and "error" in line for line in err)
    assert "Traceback" not in "\n".join(err)


def test_a_spec_validate_rejects_is_rejected_before_anything_runs(tmp_path) -> None:
    from archon.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nbenchmark: capitals\npipeline:\n  - {type: generate, model: local/smollm2, temperature: .nan}\n")
    for extra in ([], ["--dry-run"]):
        assert main(["search", str(bad), "--no-ray", "--run-dir", str(tmp_path / "run"), *extra]) == 2
    assert not (tmp_path / "run" / "study.db").exists()


def test_a_search_that_emits_nothing_exits_non_zero_with_the_reason(tmp_path, capsys) -> None:
    from search_kit import write_data

    from archon.cli import main

    write_data(tmp_path / "data.jsonl")
    spec = tmp_path / "space.yaml"
    spec.write_text(
        "name: nothing\nmodels:\n  m: {kind: fake, model: down, max_retries: 0}\n"
        "benchmark: {name: jsonl, path: data.jsonl, shots: 2, dev: 10, test: 5}\n"
        "search: {trials: 3, parallel: 1}\n"
        "pipeline:\n  - {type: generate, model: m, temperature: 0.7, samples: {choice: [1, 2], name: samples}}\n")
    status = main(["search", str(spec), "--no-ray", "--quiet", "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 3
    # every query lost to failed calls: each trial failed, none was scored, and the exit says why
    assert "no trial completed" in err and "the model server is down" in err
    # the report and the summary say the same, in the verdict
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["verdict"]["kind"] == "nothing" and "no trial completed" in summary["verdict"]["headline"]
    page = (tmp_path / "run" / "report.html").read_text()
    assert "kind-nothing" in page and "Verdict: nothing emitted" in page


def test_dry_run_warns_when_the_estimate_exceeds_the_budget(space_file, tmp_path, capsys) -> None:
    from archon.cli import main

    spec = space_file(trials=30, search_budget="{calls: 20}", fidelity="false")
    assert main(["search", str(spec), "--dry-run", "--run-dir", str(tmp_path / "run")]) == 0
    said = " ".join(capsys.readouterr().out.split())
    # half of the 20 calls is held back for the selection stage and the test comparison
    assert "exceed what the search budget leaves the trials (10 of 20, the rest held back)" in said, said
    assert "raise budget.search.calls" in said and "budget: 10 calls of the search budget is held back" in said


def test_the_trials_leave_budget_for_choosing_the_winner_and_the_test_comparison(space_file, tmp_path, capsys) -> None:
    # 40 trials at full dev would spend a 300-call budget many times over; the part held back
    # for the stages after them lets the selection stage and the test comparison run
    spec = space_file(trials=40, parallel=1, search_budget="{calls: 300}", per_query_calls=8, fidelity="false")
    result = _search(spec, tmp_path / "run", shard_size=4)
    assert result.stopped and "held back for choosing the winner" in result.stopped, result.stopped
    assert result.selection is not None and result.selection["n"] > 0
    assert result.test is not None and "skipped" not in result.test
    assert result.ledger["spent"]["calls"] <= 300
    assert result.ledger["reserved"]["calls"] == 0 and result.ledger["held"]["calls"] == 0  # gone once the search ends


def test_a_budget_spent_on_trials_emits_the_baseline_not_an_unchecked_dev_maximum(space_file, tmp_path, monkeypatch) -> None:
    # without a hold (or when the trials' estimate was low), the trials use up the call budget,
    # so the best by dev cannot be checked on the selection split: an unchecked dev maximum is
    # not shipped as the answer, one greedy call is
    monkeypatch.setattr("archon.search.budget.FINAL_HOLDBACK_CAP", 0.0)
    spec = space_file(trials=40, parallel=1, search_budget="{calls: 300}", per_query_calls=8, fidelity="false")
    result = _search(spec, tmp_path / "run", shard_size=4)
    assert result.selection is None and result.emitted is not None
    assert result.emitted["label"] == "baseline" and result.emitted["trial"] is None
    assert "cannot cover checking the best by dev" in result.emitted["reason"]
    assert result.emitted["beats_baseline"] is False
    best = validate_pipeline(load_spec_file(tmp_path / "run" / "best.yaml"))
    (generate,) = [c for layer in best.pipeline.layers for c in layer]
    assert generate.type == "generate" and generate.samples == 1 and generate.temperature == 0.0
