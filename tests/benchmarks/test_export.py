"""Self-contained exports (archon.benchmarks.export): an exported pipeline sends exactly the
requests the original sends with its benchmark, runs from an empty folder anywhere, and keeps a
benchmark reference that ``archon eval`` resolves from the export's own folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archon.benchmarks import load_benchmark
from archon.benchmarks.export import executor_options, export_spec, extractor, task_from_benchmark, write_export
from archon.benchmarks.scorers import SCORERS
from archon.cli import main
from archon.pipeline_file import load_pipeline
from archon.graph import validate_pipeline
from archon.spec import load_spec_file
from archon.spec.schema import ANSWER_FORMATS
from archon.testing import FakeBackend

ROOT = Path(__file__).resolve().parents[2]

PIPE = """\
name: sums
models:
  m: {kind: fake, model: export-test}
benchmark: {name: jsonl, path: data/sums.jsonl, scorer: numeric, shots: 5, dev: 6, test: 6}
prompts:
  generate.system: Add the numbers and give the sum only.
pipeline:
  - {type: generate, model: m, samples: 3, few_shot: 2, max_tokens: 16}
  - [{type: critique, model: m, max_tokens: 24}]
  - {type: fuse, model: m, samples: 2, temperature: 0.2, max_tokens: 24}
  - {type: vote}
"""

QUERIES = ["What is 5 plus 7?", "What is 40 plus 2?", "What is 13 plus 13?"]


def _project(tmp_path: Path) -> Path:
    """A spec in project/specs/ whose benchmark lives in project/specs/data/ (relative path)."""
    specs = tmp_path / "project" / "specs"
    (specs / "data").mkdir(parents=True)
    with (specs / "data" / "sums.jsonl").open("w") as fh:
        for i in range(30):
            fh.write(json.dumps({"id": f"s{i}", "input": f"What is {i} plus {i + 1}?", "reference": str(2 * i + 1)}) + "\n")
    spec = specs / "pipe.yaml"
    spec.write_text(PIPE)
    return spec


def _export(tmp_path: Path) -> tuple[Path, Path]:
    spec_path = _project(tmp_path)
    spec = validate_pipeline(load_spec_file(spec_path))
    out = tmp_path / "project" / "runs" / "sums" / "best.yaml"
    out.parent.mkdir(parents=True)
    write_export(out, spec, base_dir=spec_path.parent, header="# test export\n")
    return spec_path, out


def _requests(path: Path) -> tuple[list[tuple], list[str | None]]:
    backend = FakeBackend()
    with load_pipeline(path, fake=backend, cache=False) as p:
        answers = [r.answer for r in p.run_batch(QUERIES)]
    calls = sorted((c.model, c.messages, c.temperature, c.top_p, c.max_tokens, c.sample_index, c.seed) for c in backend.calls)
    return calls, answers


def test_answer_formats_are_the_scorers_names() -> None:
    assert set(ANSWER_FORMATS) == set(SCORERS) | {"capital", "antonym"}
    for name in ("capitals", "antonyms", "arithmetic", "humaneval"):
        assert task_from_benchmark(load_benchmark(name), shots=False).answer in ANSWER_FORMATS
    for name in ANSWER_FORMATS:
        assert callable(extractor(name))


def test_export_sends_exactly_the_requests_of_the_original(tmp_path: Path) -> None:
    spec_path, out = _export(tmp_path)
    original_calls, original_answers = _requests(spec_path)
    # the export alone, in an empty folder far from the data
    alone = tmp_path / "elsewhere" / "empty"
    alone.mkdir(parents=True)
    shutil.copy(out, alone / "best.yaml")
    exported_calls, exported_answers = _requests(alone / "best.yaml")
    assert exported_calls == original_calls
    assert exported_answers == original_answers
    # few-shot turns really are in the requests (user/assistant pairs before the query)
    assert any(len(c[1]) == 6 for c in original_calls)


def test_export_holds_the_shot_pool_prompts_ids_and_sampling(tmp_path: Path) -> None:
    spec_path, out = _export(tmp_path)
    text = out.read_text()
    assert text.startswith("# test export\n# Self-contained")
    exported = validate_pipeline(load_spec_file(out))
    bench = load_benchmark(validate_pipeline(load_spec_file(spec_path)).benchmark, base_dir=str(spec_path.parent))
    pool = bench.splits().shots
    assert exported.task is not None and exported.task.kind == "math" and exported.task.answer == "numeric"
    assert [(s.id, s.input, s.reference) for s in exported.task.shots] == [(r.id, bench.prompt(r), r.reference) for r in pool]
    assert exported.benchmark.path == "../../specs/data/sums.jsonl"
    assert exported.search == type(exported.search)()
    # the templates its kinds use, the spec's override included; nothing for kinds it lacks
    assert exported.prompts["generate.system"] == "Add the numbers and give the sum only."
    assert {"generate.user", "critique.user", "fuse.user"} <= set(exported.prompts)
    assert not any(name.startswith(("rank.", "verify.")) for name in exported.prompts)
    first, critic, fuse, vote = (layer[0] for layer in exported.pipeline.layers)
    assert (first.id, critic.id, fuse.id, vote.id) == ("generate1", "critique1", "fuse1", "vote1")
    assert "temperature: 0.7" in text and "top_p: 1.0" in text  # pinned although they are defaults
    # an export exported again is unchanged
    again = export_spec(exported, base_dir=out.parent, out_dir=out.parent)
    assert again == exported


def test_a_pipeline_without_few_shot_carries_no_shots(tmp_path: Path) -> None:
    spec_path = _project(tmp_path)
    spec_path.write_text(PIPE.replace(", few_shot: 2", ""))
    exported = export_spec(validate_pipeline(load_spec_file(spec_path)), base_dir=spec_path.parent, out_dir=tmp_path)
    assert exported.task is not None and exported.task.shots == [] and exported.task.answer == "numeric"


def test_answer_reading_of_each_kind_of_scorer(tmp_path: Path) -> None:
    assert task_from_benchmark(load_benchmark("capitals"), shots=False).answer == "capital"
    humaneval = task_from_benchmark(load_benchmark("humaneval"), shots=False)
    assert (humaneval.kind, humaneval.answer) == ("code", "code")
    assert executor_options(humaneval)["task"] == "code"
    data = tmp_path / "mc.jsonl"
    data.write_text("".join(json.dumps({"input": f"q{i}", "reference": "B"}) + "\n" for i in range(12)))
    choice = load_benchmark({"name": "jsonl", "path": str(data), "scorer": "choice", "options": {"scorer_options": {"letters": "ABCD"}}})
    task = task_from_benchmark(choice, shots=False)
    assert (task.answer, task.answer_options) == ("choice", {"letters": "ABCD"})
    read = executor_options(task)["extract"]
    assert read("The answer is (E)") is None and read("The answer is (B)") == "B"
    (tmp_path / "my_scorer.py").write_text("def score(record, text):\n    return text.strip() == record.reference\n")
    sys.path.insert(0, str(tmp_path))
    try:
        custom = load_benchmark({"name": "jsonl", "path": str(data), "scorer": "my_scorer:score"})
        assert task_from_benchmark(custom, shots=False).answer == "exact"
    finally:
        sys.path.remove(str(tmp_path))


def test_eval_of_an_export_finds_the_benchmark_from_the_exports_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    _, out = _export(tmp_path)
    monkeypatch.chdir(tmp_path)  # neither the spec's folder nor the export's
    assert main(["eval", str(out.relative_to(tmp_path)), "--limit", "3", "--no-cache", "--quiet"]) == 0
    assert "n=3 " in capsys.readouterr().out


def test_archon_run_in_an_empty_folder_with_only_the_export(tmp_path: Path) -> None:
    _, out = _export(tmp_path)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(out, alone / "best.yaml")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "archon.cli", "run", "best.yaml", "--query", QUERIES[0], "--no-cache"],
                          cwd=alone, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "ok" and record["answer"]
    assert record["cost"]["calls"] == 3 + 3 + 2
    assert sorted(p.name for p in alone.iterdir()) == ["best.yaml"]  # nothing needed, nothing written


CASCADE = PIPE.split("pipeline:")[0] + """pipeline:
  - type: cascade
    stages:
      - layers:
          - {type: generate, model: m, samples: 3, few_shot: 2, max_tokens: 16}
          - {type: vote}
        signal: vote_margin
        threshold: 0.7
      - layers:
          - {type: generate, model: m, samples: 5, few_shot: 2, max_tokens: 16}
          - {type: verify, model: m, max_tokens: 24}
          - {type: vote}
"""


def test_a_cascade_exports_with_every_stage_node_pinned_and_sends_the_same_requests(tmp_path: Path) -> None:
    spec_path = _project(tmp_path)
    spec_path.write_text(CASCADE)
    out = tmp_path / "project" / "runs" / "best.yaml"
    out.parent.mkdir(parents=True)
    write_export(out, validate_pipeline(load_spec_file(spec_path)), base_dir=spec_path.parent)
    exported = validate_pipeline(load_spec_file(out))
    stages = exported.pipeline.layers[0][0].stages
    assert [[c.id for layer in s.layers for c in layer] for s in stages] == [["generate1", "vote1"], ["generate1", "verify1", "vote1"]]
    assert stages[0].layers[0][0].temperature == 0.7 and "temperature: 0.7" in out.read_text()
    assert exported.task is not None and len(exported.task.shots) == 5  # the stages' few-shot pool
    assert {"generate.user", "verify.reason", "verify.verdict"} <= set(exported.prompts)
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(out, alone / "best.yaml")
    assert _requests(alone / "best.yaml") == _requests(spec_path)
