"""``archon eval`` end to end through the CLI, with a fake model registered as a script."""

from __future__ import annotations

import json
import re

import pytest

from archon.benchmarks import load_benchmark
from archon.cli import main
from archon.testing import ScriptedModel, register_script

CAPITALS = {r.input: r.reference[0] for r in load_benchmark("capitals").records}


@pytest.fixture()
def spec_file(tmp_path):
    def answer(request):
        country = re.search(r"capital city of (.+?)\?", request.messages[-1][1]).group(1)
        return CAPITALS[country] if country[0] < "M" else "Atlantis"

    register_script("h6-capitals", ScriptedModel(default=answer))
    path = tmp_path / "pipe.yaml"
    path.write_text(
        "models:\n  m: {kind: fake, model: h6-capitals}\n"
        "benchmark: {name: capitals, dev: 12, test: 20}\n"
        "pipeline:\n  - {type: generate, model: m, samples: 3, max_tokens: 16}\n  - {type: vote}\n"
    )
    return path


def test_eval_pipeline_writes_rows_and_prints_interval(spec_file, tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    assert main(["eval", str(spec_file), "--output", str(out), "--no-cache", "--quiet"]) == 0
    printed = capsys.readouterr().out
    m = re.search(r"accuracy=([\d.]+) ci95=\[([\d.]+),([\d.]+)\] n=(\d+) failed=(\d+)", printed)
    assert m, printed
    acc, lo, hi, n, failed = float(m[1]), float(m[2]), float(m[3]), int(m[4]), int(m[5])
    assert n == 12 and failed == 0 and lo <= acc <= hi
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    dev = load_benchmark({"name": "capitals", "dev": 12, "test": 20}).splits().dev
    assert [r["id"] for r in rows] == [r.id for r in dev]
    expected = sum(1 for r in dev if r.input[0] < "M") / 12
    assert acc == pytest.approx(expected, abs=1e-4)
    assert all(r["cost"]["calls"] == 3 for r in rows)


def test_eval_test_split_with_limit_and_option(spec_file, capsys):
    assert main(["eval", str(spec_file), "--split", "test", "--limit", "5", "--no-cache", "--quiet",
                 "--option", 'difficulty="easy"']) == 0
    assert "n=5 " in capsys.readouterr().out


def test_eval_baseline_of_a_spec_model(spec_file, capsys):
    assert main(["eval", str(spec_file), "--baseline", "m", "--benchmark", "capitals", "--limit", "4", "--no-cache", "--quiet"]) == 0
    assert "n=4 " in capsys.readouterr().out


def test_eval_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert main(["eval", "--baseline", "local/smollm2", "--benchmark", "capitols"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'capitals'" in err and "Traceback" not in err
    assert main(["eval"]) == 2
    assert main(["eval", "--baseline", "local/smollm2", "--benchmark", "capitals", "--option", "oops"]) == 2


def test_eval_in_which_every_call_fails_exits_3_and_says_so(tmp_path, capsys, monkeypatch):
    """A server that is not there (a closed loopback port, real litellm): nothing is scored, and
    the exit status says so instead of 0 with "0 of 0"."""
    import socket

    monkeypatch.setenv("ARCHON_TEST_NO_KEY", "not-a-key")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    path = tmp_path / "pipe.yaml"
    path.write_text(
        "models:\n  m: {kind: litellm, model: openai/nothing-here, api_base: 'http://127.0.0.1:%d/v1',"
        " api_key_env: ARCHON_TEST_NO_KEY, max_retries: 0, timeout: 5}\n"
        "benchmark: {name: capitals, dev: 3, test: 3}\n"
        "pipeline:\n  - {type: generate, model: m, max_tokens: 8}\n" % port
    )
    assert main(["eval", str(path), "--no-cache", "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "every model call failed for good (3 of 3 queries)" in err


def test_eval_baseline_of_a_space_takes_its_models_and_benchmark(tmp_path, capsys):
    register_script("h6-space", ScriptedModel(default="Paris"))
    path = tmp_path / "space.yaml"
    path.write_text(
        "models:\n  m: {kind: fake, model: h6-space}\n"
        "benchmark: {name: capitals, dev: 6, test: 4}\n"
        "pipeline:\n  - {type: generate, model: m, samples: {choice: [1, 3]}, max_tokens: 8}\n"
    )
    assert main(["eval", str(path), "--baseline", "m", "--no-cache", "--quiet"]) == 0
    assert "n=6 " in capsys.readouterr().out
    assert main(["eval", str(path), "--no-cache", "--quiet"]) == 2  # a space itself is not evaluated
    assert "search space" in capsys.readouterr().err
