"""The real embedded SmolLM2 through the whole stack: spec file -> compiled pipeline -> executor
-> client -> local llama-cpp backend -> cache. Each pipeline runs over 10 queries, then again with
the same cache file: the second run must make no backend call and give identical answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

pytest.importorskip("xllamacpp", reason="needs pip install '.[local]'")

COUNTRIES = ["France", "Japan", "Italy", "Spain", "Germany", "Egypt", "Canada", "Peru", "Kenya", "Norway"]
QUERIES = [f"What is the capital of {c}? Answer with the city name." for c in COUNTRIES]

CRITIQUE_FUSE = """\
name: gen4-critique-fuse
pipeline:
  - {type: generate, model: local/smollm2, samples: 4, temperature: 0.7, max_tokens: 48}
  - {type: critique, model: local/smollm2, temperature: 0.0, max_tokens: 48}
  - {type: fuse, model: local/smollm2, temperature: 0.0, max_tokens: 64}
"""

VOTE = """\
name: gen5-vote
pipeline:
  - {type: generate, model: local/smollm2, samples: 5, temperature: 0.7, max_tokens: 48}
  - {type: vote}
"""


def test_generate_critique_fuse_then_fully_cached(tmp_path: Path) -> None:
    from archon.pipeline_file import load_pipeline

    spec = tmp_path / "critique_fuse.yaml"
    spec.write_text(CRITIQUE_FUSE)
    cache = tmp_path / "calls.sqlite"
    runs = []
    for _ in range(2):
        with load_pipeline(spec, cache=cache, trace=True) as p:
            results = p.run_batch(QUERIES)
            meter = p.client.meter.snapshot()
        runs.append((results, meter))
    (first, m1), (second, m2) = runs
    assert all(r.status == "ok" for r in first), [r.error for r in first if r.status != "ok"]
    assert all(r.answer and r.answer.strip() for r in first)
    # identical requests in one batch (two samples with the same text get the same critique
    # request) are sent once and count as cache hits, so count both
    assert m1.calls + m1.cache_hits == 10 * (4 + 4 + 1) and m1.calls > 0
    for r in first:
        fused = [c for c in r.candidates if c.node == "fuse1"]
        assert len(fused) == 1 and len(fused[0].parents) == 4
        critiqued = r.trace["nodes"]["critique1"]
        assert [c["id"] for c in critiqued] == [f"generate1:local/smollm2:{k}" for k in range(4)]
        assert all(c["annotations"]["critique"] for c in critiqued)
    assert m2.calls == 0 and m2.cache_hits == 10 * (4 + 4 + 1)  # zero backend calls the second time
    assert [r.answer for r in second] == [r.answer for r in first]
    # a query's cost counts distinct requests (two samples with the same text share one critique
    # request), so at most 9; the second run pays none of them and finds every one in the cache
    assert all(r.cost.calls == 0 for r in second)
    assert [r.cost.cached_calls for r in second] == [f.cost.calls + f.cost.cached_calls for f in first]
    assert all(0 < r.cost.cached_calls <= 9 for r in second)


def test_generate_vote_cli_then_fully_cached(tmp_path: Path, capsys) -> None:
    from archon.cli import main

    spec = tmp_path / "vote.yaml"
    spec.write_text(VOTE)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": c, "input": q}) + "\n" for c, q in zip(COUNTRIES, QUERIES)))
    cache = tmp_path / "calls.sqlite"
    outputs = []
    for run in range(2):
        out = tmp_path / f"out{run}.jsonl"
        assert main(["run", str(spec), "--input", str(inputs), "--output", str(out), "--cache", str(cache), "--trace"]) == 0
        outputs.append([json.loads(line) for line in out.read_text().splitlines()])
        capsys.readouterr()
    first, second = outputs
    assert [r["id"] for r in first] == COUNTRIES
    assert all(r["status"] == "ok" and r["answer"] for r in first)
    assert sum(r["cost"]["calls"] + r["cost"]["cached_calls"] for r in first) == 50
    for r in first:
        (vote,) = [c for c in r["candidates"] if c["node"] == "vote1"]
        assert vote["text"] == r["answer"] and vote["annotations"] == {}
        assert 1 <= len(vote["parents"]) <= 5
        tally = r["trace"]["notes"]["vote1"]["tally"]
        assert sum(tally.values()) <= 5
    assert sum(r["cost"]["calls"] for r in second) == 0
    assert sum(r["cost"]["cached_calls"] for r in second) == 50
    assert [r["answer"] for r in second] == [r["answer"] for r in first]
    # sampling is real: at least one query got more than one distinct answer among its 5 samples
    assert any(len(r["trace"]["notes"]["vote1"]["tally"]) > 1 for r in first)
