"""The spec-facing subcommands: validate, show, space, import-archon (wrapper), and lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from archon.cli import main

GOOD = Path(__file__).parents[1] / "spec" / "good"
BROKEN = Path(__file__).parents[1] / "spec" / "broken"
HEAVY = ("litellm", "ray", "vllm", "llama_cpp", "xllamacpp", "optuna", "torch")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["show", "--help"], ["space", "--help"], ["import-archon", "--help"]])
def test_help_exits_zero_and_names_exit_codes(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "Exit status" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run([], capsys)
    assert status == 2 and "usage: archon" in out


def test_validate_mixed_files_checks_all(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(GOOD.parent)
    status, out, err = run(["validate", "good/minimal.yaml", "broken/negative_samples.yaml", "good/weighted_vote.yaml"], capsys)
    assert status == 2
    assert out == "good/minimal.yaml: ok (pipeline, 1 node, 1 call/query)\ngood/weighted_vote.yaml: ok (pipeline, 3 nodes, 6 calls/query)\n"
    assert err == "broken/negative_samples.yaml:2:31: error: samples -2 is out of range (allowed: 1 <= samples <= 1024)\n"


@pytest.mark.parametrize("fmt,marker", [("text", "per query: 8 calls"), ("mermaid", "flowchart"), ("dot", "digraph"), ("svg", "<svg ")])
def test_show_formats(fmt: str, marker: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["show", str(GOOD / "self_consistency.yaml"), "--format", fmt], capsys)
    assert (status, err) == (0, "")
    assert marker in out
    assert "generate1" in out and "vote1" in out


def test_show_text_reports_tokens_and_dollars(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["show", str(GOOD / "archon_style.yaml")], capsys)
    assert status == 0
    assert "per query: 23 calls" in out
    assert "gpt: 18 calls" in out
    assert "$" in out  # every model used has a price (or is local)


def test_show_query_tokens_changes_the_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(GOOD / "self_consistency.yaml")
    small = run(["show", path, "--query-tokens", "10"], capsys)[1]
    large = run(["show", path, "--query-tokens", "1000"], capsys)[1]
    assert small != large and "per query: 8 calls" in small and "per query: 8 calls" in large


def test_show_refuses_a_space(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(GOOD / "space_small.yaml")
    status, out, err = run(["show", path], capsys)
    assert (status, out) == (2, "")
    assert err == (
        f"{path}: error: 'archon show' needs a pipeline, but this spec is a search space (it has choices) "
        f"(get pipelines from it with 'archon space {path} --sample 1')\n"
    )


def test_show_invalid_spec_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["show", str(BROKEN / "cycle_via_inputs.yaml")], capsys)
    assert status == 2 and "the inputs form a cycle" in err


def test_space_prints_size_and_valid_samples(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["space", str(GOOD / "space_small.yaml"), "--sample", "3", "--seed", "4"], capsys)
    assert (status, err) == (0, "")
    assert "size: 50 valid pipelines (exact) of 50 points" in out
    documents = out.split("--- # sample ")[1:]
    assert len(documents) == 3
    from archon.graph import validate_pipeline
    from archon.spec import load_spec_text

    for document in documents:
        body = document.split("\n", 1)[1]
        spec = validate_pipeline(load_spec_text(body))
        assert spec.pipeline.layers[0][0].samples in range(1, 6)


def test_space_samples_are_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    first = run(["space", str(GOOD / "space_small.yaml"), "--sample", "2", "--seed", "9"], capsys)
    second = run(["space", str(GOOD / "space_small.yaml"), "--sample", "2", "--seed", "9"], capsys)
    assert first == second


def test_space_on_a_pipeline_has_zero_choices(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["space", str(GOOD / "minimal.yaml")], capsys)
    assert status == 0
    assert "with 0 choices" in out and "size: 1 valid pipelines (exact)" in out


def test_space_counts_a_deep_repeat_exactly_and_prints_big_numbers_short(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 3 x sum over 0..64 copies of 3^k points: far too many to check one by one, counted exactly
    spec = tmp_path / "deep.yaml"
    spec.write_text(
        "space:\n  - {type: generate, samples: {int: [1, 3]}}\n"
        "  - repeat: {int: [0, 64]}\n    layers: [{type: fuse, samples: {int: [1, 3]}}]\n  - {type: fuse}\n"
    )
    status, out, _ = run(["space", str(spec)], capsys)
    points = 3 * sum(3**k for k in range(65))
    assert status == 0
    assert f"size: {points:.3g} valid pipelines (exact) of {points:.3g} points" in out
    assert f"invalid: 0 of {points:.3g} checked points" in out


def test_space_rejects_negative_sample(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["space", str(GOOD / "space_small.yaml"), "--sample", "-1"], capsys)
    assert status == 2 and "--sample must be >= 0" in err


def test_import_archon_writes_yaml_that_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("archon.importers")
    config = tmp_path / "c.json"
    component = {"model": "Qwen/Qwen2-72B-Instruct", "model_type": "Together_API", "temperature": 0.7, "max_tokens": 512, "samples": 1}
    config.write_text(json.dumps({
        "name": "two-layer",
        "layers": [[{"type": "generator", **component}, {"type": "generator", **component}], [{"type": "fuser", **component}]],
    }))
    out_file = tmp_path / "out.yaml"
    status, _, err = run(["import-archon", str(config), "-o", str(out_file)], capsys)
    assert status == 0, err
    assert run(["validate", str(out_file)], capsys)[0] == 0
    assert "pipeline" in yaml.safe_load(out_file.read_text())


def test_import_archon_bad_json_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("archon.importers")
    config = tmp_path / "bad.json"
    config.write_text('{"layers": [')
    status, out, err = run(["import-archon", str(config)], capsys)
    assert status == 2 and out == "" and str(config) in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--help"], ["validate", str(GOOD / "archon_style.yaml"), str(BROKEN / "several_errors.yaml")]])
def test_help_and_validate_do_not_import_heavy_libraries(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from archon.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr
