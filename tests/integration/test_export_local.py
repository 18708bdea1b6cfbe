"""An export on the real embedded SmolLM2: copied alone into an empty folder, ``archon run``
answers there exactly as the original spec (with its benchmark data beside it) does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

pytest.importorskip("xllamacpp", reason="needs pip install '.[local]'")

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [("hot", "cold"), ("up", "down"), ("big", "small"), ("fast", "slow"), ("open", "closed"), ("early", "late"),
         ("light", "dark"), ("happy", "sad"), ("wet", "dry"), ("rich", "poor"), ("old", "young"), ("hard", "soft")]
SPEC = """\
name: opposites
benchmark: {name: jsonl, path: data/opposites.jsonl, shots: 4, dev: 4, test: 4}
pipeline:
  - {type: generate, model: local/smollm2, samples: 3, few_shot: 2, temperature: 0.7, max_tokens: 12}
  - {type: vote}
"""


def _run(pipe: Path, cwd: Path, query: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "archon.cli", "run", str(pipe), "--query", query, "--no-cache", "--trace"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_an_export_alone_in_an_empty_folder_answers_like_the_original(tmp_path: Path) -> None:
    from archon.benchmarks.export import write_export
    from archon.graph import validate_pipeline
    from archon.spec import load_spec_file

    specs = tmp_path / "specs"
    (specs / "data").mkdir(parents=True)
    (specs / "data" / "opposites.jsonl").write_text(
        "".join(json.dumps({"input": f"What is the opposite of '{a}'? One word.", "reference": b}) + "\n" for a, b in PAIRS))
    (specs / "pipe.yaml").write_text(SPEC)
    export = tmp_path / "runs" / "opposites" / "best.yaml"
    export.parent.mkdir(parents=True)
    write_export(export, validate_pipeline(load_spec_file(specs / "pipe.yaml")), base_dir=specs)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(export, alone / "best.yaml")

    query = "What is the opposite of 'tall'? One word."
    original = _run(specs / "pipe.yaml", tmp_path, query)
    copied = _run(Path("best.yaml"), alone, query)
    assert copied["status"] == "ok" and copied["answer"]
    assert copied["answer"] == original["answer"]
    assert [c["text"] for c in copied["candidates"]] == [c["text"] for c in original["candidates"]]
    assert copied["cost"]["calls"] == 3
