"""A search over cascades on the scripted fake backend: the threshold and the signal are ordinary
choices; each trial records its escalation rate, shown by the leaderboard, summary.json and the
report; traces say per query which stage answered; the budget is checked against the worst
case; best.yaml exports a cascade that runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna

from archon.graph import compile_spec_file
from archon.search import run_search
from search_kit import write_data

SPACE = """\
name: cascade-fake
models:
  m: {kind: fake, model: oracle}
benchmark: {name: jsonl, path: data.jsonl, shots: 4, dev: 24, selection: 12, test: 12, seed: 0}
budget:
  per_query: {calls: 8}
search: {sampler: random, trials: 8, parallel: 1, seed: 1, objectives: [accuracy, cost], fidelity: {enabled: false}}
pipeline:
  - type: cascade
    stages:
      - layers:
          - {type: generate, id: answer, model: m, max_tokens: 8, samples: 3}
          - {type: vote}
        signal: {choice: [vote_margin, logprob, parses], name: signal}
        threshold: {choice: [0.5, 1.0, 0.0], name: threshold}
      - layers:
          - {type: generate, id: answer, model: m, max_tokens: 8, samples: 5,
             system_prompt: "Be careful and answer with the code word only."}
          - {type: vote}
"""


def test_a_cascade_search_records_escalation_per_trial_and_per_query(tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    write_data(tmp_path / "data.jsonl")
    spec = tmp_path / "space.yaml"
    spec.write_text(SPACE, encoding="utf-8")
    run = tmp_path / "run"
    result = run_search(spec, run_dir=run, use_ray=False, progress=False)
    complete = [t for t in result.trials if t.status == "complete"]
    assert len(complete) >= 4
    for t in complete:
        esc = t.escalation
        assert esc is not None and esc["n"] == t.n and sum(esc["stages"].values()) == t.n
        assert 0.0 <= esc["rate"] <= 1.0
        if t.params["threshold"] == 0.0:
            assert esc["rate"] == 0.0 and t.cost["calls"] == 3  # nothing escalates: stage 1's calls only
    # a trial that escalates pays for it: its measured calls lie between the stages' (the static
    # worst case is 3 + 5 = 8, which the per-query budget is checked against)
    rates = {t.number: t.escalation["rate"] for t in complete}
    escalating = [t for t in complete if 0 < rates[t.number]]
    assert escalating and all(3 < t.cost["calls"] <= 8 for t in escalating)
    study = optuna.load_study(study_name=result.study_name, storage=f"sqlite:///{run / 'study.db'}")
    assert all("escalation" in t.user_attrs for t in study.trials if t.user_attrs.get("status") == "complete")

    rows = list(csv.DictReader((run / "leaderboard.csv").open()))
    assert all(r["escalation_rate"] != "" for r in rows if r["status"] == "complete")
    assert "| escalated |" in (run / "leaderboard.md").read_text()
    summary = json.loads((run / "summary.json").read_text())
    assert any("escalation" in t for t in summary["trials"])
    assert "<th class='num' title='click to sort'>escalated</th>" in (run / "report.html").read_text()

    # traces: per query, which stage answered
    lines = [json.loads(line) for path in (run / "traces").glob("trial-*.jsonl") for line in path.read_text().splitlines()]
    answered = [row.get("answered_by") for line in lines for row in line.get("rows", [line]) if isinstance(row, dict)]
    assert any(a == {"cascade1": 2} for a in answered) and any(a == {"cascade1": 1} for a in answered)

    # the Pareto front's exports are self-contained cascades with every stage node's id pinned
    exports = sorted((run / "pareto").glob("trial-*.yaml"))
    assert exports
    for path in exports:
        front = compile_spec_file(path)
        assert front.order == ["cascade1"]
        stage_ids = [c.id for stage in front.component("cascade1").stages for layer in stage.layers for c in layer]
        assert stage_ids == ["answer", "vote1", "answer", "vote1"]


def test_the_baseline_of_a_cascade_space_is_one_greedy_call_of_its_first_generator() -> None:
    from archon.search.final import baseline_specs

    stage = {"layers": [[{"type": "generate", "id": "answer", "model": "local/smollm2", "max_tokens": 12, "samples": 3,
                          "temperature": 0.7, "system_prompt": "Be brief."}], [{"type": "vote"}]]}
    first = {"layers": [[{"type": "cascade", "stages": [dict(stage, signal="parses", threshold=0.5), stage]}]]}
    baselines = baseline_specs({"models": {}}, first)
    assert list(baselines) == ["local/smollm2"]  # no models: entry, the model is found in the stages
    (node,) = baselines["local/smollm2"]["pipeline"]["layers"][0]
    assert (node["id"], node["samples"], node["temperature"], node["system_prompt"]) == ("answer", 1, 0.0, "Be brief.")
