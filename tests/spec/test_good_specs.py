"""Every spec in ``good/`` validates, and each pipeline survives dump -> load -> validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from archon.cli import main
from archon.graph import validate_pipeline
from archon.spec import dump_yaml, load_spec_file, load_spec_text

GOOD = Path(__file__).parent / "good"
CASES = sorted(p.name for p in GOOD.glob("*.yaml"))


@pytest.mark.parametrize("name", CASES)
def test_good_spec_validates(name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(GOOD)
    status = main(["validate", name])
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert out.startswith(f"{name}: ok (")


@pytest.mark.parametrize("name", [n for n in CASES if not load_spec_file(GOOD / n).is_space])
def test_good_pipeline_round_trips(name: str) -> None:
    spec = validate_pipeline(load_spec_file(GOOD / name))
    text = dump_yaml(spec)
    assert validate_pipeline(load_spec_text(text, "dumped.yaml")) == spec


def test_known_summaries(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(GOOD)
    assert main(["validate", "minimal.yaml", "self_consistency.yaml", "space_small.yaml"]) == 0
    assert capsys.readouterr().out == (
        "minimal.yaml: ok (pipeline, 1 node, 1 call/query)\n"
        "self_consistency.yaml: ok (pipeline, 2 nodes, 8 calls/query)\n"
        "space_small.yaml: ok (space, 3 choices, size 50)\n"
    )
