"""What a search emits runs on its own: a search over a custom JSONL file whose path is relative
to the spec (run from another working directory), then best.yaml and every pareto/*.yaml copied
alone into an empty folder and run there with ``archon run``; ``archon eval`` on best.yaml in
place finds the data from the run directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from search_kit import write_data

from archon.cli import main
from archon.graph import validate_pipeline
from archon.spec import load_spec_file

ROOT = Path(__file__).resolve().parents[2]

SPACE = """\
name: words
models:
  m: {kind: fake, model: oracle, price: {input_per_mtok: 1.0, output_per_mtok: 2.0}}
benchmark: {name: jsonl, path: data/words.jsonl, shots: 4, dev: 12, selection: 8, test: 6, seed: 0}
task: {answer: numeric, shots: [{input: "not from the benchmark", reference: "0"}]}  # the search does not use it
search: {sampler: random, trials: 5, seed: 3, objectives: [accuracy, cost], fidelity: {enabled: false}}
pipeline:
  - type: generate
    model: m
    max_tokens: 8
    samples: {int: [1, 4], name: samples}
    few_shot: {choice: [0, 2], name: shots}
    temperature: {choice: [0.0, 0.7], name: temperature}
  - {type: vote, optional: vote}
"""


def test_the_searchs_exports_run_alone_in_an_empty_folder(tmp_path: Path, monkeypatch) -> None:
    from archon.search import run_search

    specs = tmp_path / "project" / "specs"
    (specs / "data").mkdir(parents=True)
    write_data(specs / "data" / "words.jsonl", n=60)
    spec = specs / "space.yaml"
    spec.write_text(SPACE)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the data is not relative to the working directory either
    result = run_search(spec, use_ray=False, progress=False)
    run = work / "runs" / "space"
    exports = [run / "best.yaml", *sorted((run / "pareto").glob("trial-*.yaml"))]
    assert result.emitted is not None and len(exports) >= 2

    alone = tmp_path / "alone"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for export in exports:
        exported = validate_pipeline(load_spec_file(export))
        assert exported.task is not None and exported.task.answer == "exact"
        assert (export.parent / exported.benchmark.path).resolve() == (specs / "data" / "words.jsonl").resolve()
        uses_shots = any(getattr(c, "few_shot", 0) for layer in exported.pipeline.layers for c in layer)
        assert len(exported.task.shots) == (4 if uses_shots else 0)
        assert all(shot.input.startswith("What is the code word") for shot in exported.task.shots)
        if alone.exists():
            shutil.rmtree(alone)
        alone.mkdir()
        shutil.copy(export, alone / "pipe.yaml")
        proc = subprocess.run([sys.executable, "-m", "archon.cli", "run", "pipe.yaml", "--query",
                               "What is the code word for item 7?", "--no-cache"],
                              cwd=alone, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{export.name}: {proc.stderr}"
        assert json.loads(proc.stdout)["status"] == "ok"

    # archon eval on the export where it is, from yet another folder
    monkeypatch.chdir(tmp_path)
    assert main(["eval", str(run / "best.yaml"), "--limit", "2", "--no-cache", "--quiet"]) == 0
