"""Imported Archon configs run: with the scripted fake backend (fast), and with the real local model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archon.importers import import_archon_text


def comp(kind: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "model": "Qwen/Qwen2-72B-Instruct", "model_type": "Together_API",
                            "temperature": 0.7, "max_tokens": 48}
    if kind in ("critic", "verifier", "unit_test_generator", "unit_test_evaluator"):
        base["samples"] = 1
    if kind == "ranker":
        base["top_k"] = 2
    if kind == "unit_test_evaluator":
        base["remove_unit_tests_from_prompt"] = True
    base.update(extra)
    return base


CONFIGS = {
    "critic-ranker-fuser": [[comp("generator", samples=3), comp("generator", model="b/B", samples=2)],
                            [comp("critic")], [comp("ranker", use_critiques=True)], [comp("fuser")]],
    "unit-tests": [[comp("unit_test_generator", unit_test_cap=3)], [comp("generator", samples=4)],
                   [comp("unit_test_evaluator", first_pass=True)]],
    "verifier-first-k": [[comp("generator", samples=4)], [comp("verifier", first_k=1)]],
}


def _imported(tmp_path: Path, name: str, layers: list[list[dict[str, Any]]]) -> Path:
    result = import_archon_text(json.dumps({"name": name, "layers": layers}), f"{name}.json", local=True)
    path = tmp_path / f"{name}.yaml"
    path.write_text(result.yaml, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list(CONFIGS))
def test_imported_pipeline_runs_on_the_fake_backend(tmp_path: Path, name: str) -> None:
    from archon.pipeline_file import load_pipeline
    from archon.testing import FakeBackend

    path = _imported(tmp_path, name, CONFIGS[name])
    with load_pipeline(path, cache=False, fake=FakeBackend()) as loaded:
        (result,) = loaded.run_batch(["Write a function that adds two numbers."])
        expected_calls = loaded.pipeline.static_cost().calls
    assert result.status == "ok", result.error
    assert result.answer
    assert result.cost.calls == expected_calls


@pytest.mark.local_model
@pytest.mark.slow
def test_imported_pipeline_runs_on_the_local_model(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp", reason="needs pip install '.[local]'")
    from archon.pipeline_file import load_pipeline

    path = _imported(tmp_path, "sample-fuse", [[comp("generator", samples=2, max_tokens=24)], [comp("fuser", max_tokens=24)]])
    with load_pipeline(path, cache=False) as loaded:
        (result,) = loaded.run_batch(["What is the capital of France? Answer with the city name."])
    assert result.status == "ok", result.error
    assert result.answer and result.answer.strip()
    assert result.cost.calls == 2 + 1
