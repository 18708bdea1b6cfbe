"""load_pipeline (Python API) and ``archon run`` (CLI) on pipeline files whose models are
scripted fakes (``kind: fake``), with a real cache file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from archon.cli import main
from archon.testing import ScriptedModel, register_script
from pipeline_kit import Smart

PIPELINE = """\
name: capitals-demo
models:
  a: {kind: fake, model: h5-smart}
  b: {kind: fake, model: h5-smart}
pipeline:
  - {type: generate, models: [a, b], samples: 2, temperature: 0.7, max_tokens: 32}
  - {type: critique, model: a, max_tokens: 32}
  - {type: fuse, model: b, max_tokens: 32}
"""

VOTE = """\
models:
  a: {kind: fake, model: h5-smart}
pipeline:
  - {type: generate, model: a, samples: 3}
  - {type: vote}
"""


@pytest.fixture(autouse=True)
def _script() -> None:
    register_script("h5-smart", ScriptedModel(default=Smart()))


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    path.write_text(PIPELINE)
    return path


def test_load_pipeline_sync_and_async(pipeline_file: Path, tmp_path: Path) -> None:
    import archon

    with archon.load_pipeline(pipeline_file, cache=tmp_path / "c.sqlite", trace=True) as p:
        one = p.run("capital of Chile?")
        many = p.run_batch(["capital of Chile?", "capital of Kenya?"])
    assert one.status == "ok" and one.answer == "FUSED[4]#0"
    assert one.trace is not None and {c.node for c in one.candidates} == {"generate1", "fuse1"}
    assert [r.answer for r in many] == ["FUSED[4]#0"] * 2
    # 7 distinct calls: a and b are one fake model under two names, so b's answers equal a's and
    # two of the four critiques are the same call
    assert many[0].cost.cached_calls == 7 and many[0].cost.calls == 0  # same query: served by the cache

    async def use_async() -> list:
        p = archon.load_pipeline(pipeline_file, cache=False)
        try:
            return await p.arun_batch(["capital of Chile?"])
        finally:
            await p.aclose()

    (res,) = asyncio.run(use_async())
    assert res.answer == "FUSED[4]#0" and res.cost.calls == 9 and res.trace is None


def test_load_pipeline_bad_spec_is_an_input_error(tmp_path: Path) -> None:
    from archon.errors import SpecError
    from archon.pipeline_file import load_pipeline

    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline:\n  - {type: generate, samples: 0}\n")
    with pytest.raises(SpecError, match=r"bad.yaml:2:\d+: error"):
        load_pipeline(bad)


def test_run_query(pipeline_file: Path, capsys) -> None:
    assert main(["run", str(pipeline_file), "--query", "capital of Chile?", "--no-cache"]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["answer"] == "FUSED[4]#0" and record["status"] == "ok" and record["id"] is None
    assert record["cost"]["calls"] == 9 and "candidates" not in record
    assert "spent" in err and "calls" in err


def test_run_batch_with_trace_and_cache(pipeline_file: Path, tmp_path: Path, capsys) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"id": "q1", "input": "capital of Chile?"}\n\n{"query": "capital of Kenya?"}\n')
    out = tmp_path / "out.jsonl"
    cache = tmp_path / "calls.sqlite"
    args = ["run", str(pipeline_file), "--input", str(inputs), "--output", str(out), "--trace", "--cache", str(cache), "--concurrency", "1"]
    assert main(args) == 0
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in first] == ["q1", 3]
    assert all(r["status"] == "ok" for r in first)
    cands = first[0]["candidates"]
    assert {c["id"] for c in cands} >= {"generate1:a:0", "generate1:b:1", "fuse1:b:0"}
    assert next(c for c in cands if c["id"] == "fuse1:b:0")["parents"] == ["generate1:a:0", "generate1:a:1", "generate1:b:0", "generate1:b:1"]
    assert first[0]["trace"]["notes"] == {}
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    second = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["answer"] for r in second] == [r["answer"] for r in first]
    assert all(r["cost"]["calls"] == 0 and r["cost"]["cached_calls"] == 7 for r in second)
    assert "saved" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"input": "ok"}\n{"input": "broken"\n', ":2:19: error: invalid JSON"),
        ('["a list"]\n', ":1:1: error: expected a JSON object"),
        ('{"id": 1, "text": "x"}\n', ":1:1: error: no 'input' or 'query' field"),
        ('{"input": 42}\n', ":1:1: error: the query must be a string"),
    ],
)
def test_bad_input_lines_name_file_and_line(pipeline_file: Path, tmp_path: Path, capsys, content: str, message: str) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(content)
    assert main(["run", str(pipeline_file), "--input", str(inputs), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert f"{inputs}{message}" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_input_file_and_bad_pipeline(pipeline_file: Path, tmp_path: Path, capsys) -> None:
    assert main(["run", str(pipeline_file), "--input", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: error: no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline:\n  - {type: generat}\n")
    assert main(["run", str(bad), "--query", "x"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:2:" in err and "Traceback" not in err


def test_failed_queries_are_records_not_crashes(tmp_path: Path, capsys) -> None:
    def responder(req):
        if "Kenya" in req.messages[-1][1]:
            raise RuntimeError("model exploded")
        return Smart()(req)

    register_script("h5-smart", ScriptedModel(default=responder))
    path = tmp_path / "vote.yaml"
    path.write_text(VOTE)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"input": "capital of Chile?"}\n{"input": "capital of Kenya?"}\n')
    assert main(["run", str(path), "--input", str(inputs), "--no-cache"]) == 0
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["status"] for r in records] == ["ok", "call_failed"]
    assert "model exploded" in records[1]["error"] and records[1]["answer"] is None
    assert "1 call_failed" in err
