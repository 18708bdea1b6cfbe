"""``archon import-archon``: stdout or -o, --local, warnings and errors on stderr, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from archon.cli import main


def _write(tmp_path: Path, data: Any, name: str = "cfg.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2) if not isinstance(data, str) else data, encoding="utf-8")
    return path


GEN = {"type": "generator", "model": "Qwen/Qwen2-72B-Instruct", "model_type": "Together_API",
       "temperature": 0.7, "max_tokens": 2048, "samples": 2, "top_k": 1}
FUSE = {"type": "fuser", "model": "gpt-4o", "model_type": "OpenAI_API", "temperature": 0.7, "max_tokens": 2048}
CONFIG = {"name": "demo", "layers": [[GEN], [FUSE]]}


def test_writes_yaml_to_stdout_and_warnings_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, CONFIG)
    assert main(["import-archon", str(path)]) == 0
    out, err = capsys.readouterr()
    tree = yaml.safe_load(out)
    assert [[n["type"] for n in layer] for layer in tree["pipeline"]] == [["generate"], ["fuse"]]
    assert f"{path}:" in err and "warning: 'top_k' on a generator is dropped" in err


def test_output_file_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, CONFIG)
    out_file = tmp_path / "out.yaml"
    assert main(["import-archon", str(path), "-o", str(out_file)]) == 0
    capsys.readouterr()
    assert main(["validate", str(out_file)]) == 0
    assert "ok (pipeline" in capsys.readouterr().out


def test_local_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, CONFIG)
    assert main(["import-archon", str(path), "--local"]) == 0
    tree = yaml.safe_load(capsys.readouterr().out)
    assert "models" not in tree
    assert {n["model"] for layer in tree["pipeline"] for n in layer} == {"local/smollm2"}


def test_bad_config_exits_2_with_one_line_per_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, '{"name": "x", "layers": [[{"type": "generator" "model": "m"}]]}')
    assert main(["import-archon", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (f"{path}:1:48: error: invalid JSON: Expecting ',' delimiter "
                           "(found '\"model\": \"m\"' here; a value must be followed by ',' or a closing bracket)")
    assert "Traceback" not in err


def test_misspelling_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {"name": "x", "layers": [[GEN], [dict(FUSE, length_contorl=True)]]})
    assert main(["import-archon", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error: unknown key 'length_contorl' in a fuser (did you mean 'length_control'?)" in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-archon", str(tmp_path / "nope.json")]) == 2
    assert "cannot read the file" in capsys.readouterr().err
