"""evaluate() with the real executor and client over the scripted fake backend."""

from __future__ import annotations

import asyncio
import re

import pytest

from archon.backends import Client
from archon.benchmarks import evaluate, load_benchmark
from archon.util import wilson
from archon.cli.eval import baseline_spec
from archon.graph import compile_pipeline
from archon.spec.schema import Spec
from archon.testing import FakeBackend, ScriptedModel

CAPITALS = {r.input: r.reference[0] for r in load_benchmark("capitals").records}


def answer_right_for_half(request) -> str:
    user = request.messages[-1][1]
    m = re.search(r"capital city of (.+?)\?", user)
    country = m.group(1)
    return CAPITALS[country] if len(country) % 2 == 0 else "Atlantis"


def run(spec, bench, records, fake, **kw):
    client = Client.from_spec(spec, fake=fake, cache=False)
    return asyncio.run(evaluate(compile_pipeline(spec), bench, records, client, **kw))


def test_baseline_report_accuracy_interval_and_rows():
    bench = load_benchmark("capitals", dev=20)
    dev = bench.splits().dev
    spec = baseline_spec("local/smollm2")
    seen = []
    report = run(spec, bench, dev, FakeBackend(ScriptedModel(default=answer_right_for_half)), progress=lambda d, t: seen.append((d, t)), batch_size=8)
    expected = sum(1 for r in dev if len(r.input) % 2 == 0) / len(dev)
    assert report.n == 20 and report.accuracy == pytest.approx(expected)
    assert report.ci_low <= report.accuracy <= report.ci_high
    assert (report.ci_low, report.ci_high) == pytest.approx(wilson(expected * 20, 20))
    assert report.n_failed == 0 and report.n_scorer_errors == 0
    assert report.cost.calls == 20
    assert [r["id"] for r in report.rows] == [r.id for r in dev]
    assert seen[-1] == (20, 20) and len(seen) == 3


def test_vote_pipeline_uses_the_benchmark_extractor():
    bench = load_benchmark("capitals", dev=6)
    dev = bench.splits().dev
    spec = Spec.model_validate({"pipeline": {"layers": [[{"type": "generate", "samples": 5, "max_tokens": 16}], [{"type": "vote"}]]}})

    def noisy(request):
        country = re.search(r"capital city of (.+?)\?", request.messages[-1][1]).group(1)
        right = CAPITALS[country]
        # 3 of 5 samples right, phrased differently: only a shared extractor makes them agree.
        return [right, f"The capital of {country} is {right}.", f"{right.upper()}", "Atlantis", "Gotham"][request.sample_index]

    report = run(spec, bench, dev, FakeBackend(ScriptedModel(default=noisy)))
    assert report.accuracy == 1.0
    assert report.cost.calls == 30


def test_failed_calls_leave_the_query_out_of_the_score_and_are_counted():
    from archon.testing import Failure

    bench = load_benchmark("antonyms", dev=5)
    spec = baseline_spec("local/smollm2")
    dev = bench.splits().dev
    doomed = dev[0].input

    def when(request):
        return f'"{doomed}"' in request.messages[-1][1]

    fake = FakeBackend(ScriptedModel(default="cold"), failures=[Failure(kind="permanent", times=None, when=when)])
    report = run(spec, bench, dev, fake)
    # an outage is not the architecture's fault: the query is counted, not scored as a 0
    assert report.n == 4 and report.n_call_failed == 1 and report.n_failed == 0
    row = report.rows[0]
    assert row["status"] == "call_failed" and row["score"] is None and row["error"]


def test_scorer_errors_are_counted_not_hidden(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "input": "q1", "reference": "not a number"}\n{"id": "b", "input": "q2", "reference": "4"}\n')
    bench = load_benchmark({"name": "jsonl", "path": str(data), "scorer": "numeric", "dev": 2, "test": 1, "shots": 0})
    spec = baseline_spec("local/smollm2")
    report = run(spec, bench, bench.records, FakeBackend(ScriptedModel(default="4")))
    assert report.n == 2 and report.n_scorer_errors == 1
    row = next(r for r in report.rows if r["id"] == "a")
    assert row["score"] == 0.0 and "holds no number" in row["scorer_error"]
    assert report.accuracy == 0.5


