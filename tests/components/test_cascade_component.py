"""The cascade component on the scripted fake backend: each signal, escalation, batching (stage 1
for the whole batch, then each later stage for the queries sent on, as one batch per node), calls
shared between stages, failures, budgets and what results and traces record."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from archon.backends import Client
from archon.backends.records import CallRequest
from archon.components.cascade import escalation, vote_margin
from archon.components.types import Candidate
from archon.runtime import Executor
from archon.spec.schema import Spec
from archon.testing import FakeBackend, ScriptedModel

from pipeline_kit import CountingClient, last_user


def cascade_spec(stages: list[dict[str, Any]], *, before: list[Any] = (), **extra: Any) -> Spec:
    layers = [layer if isinstance(layer, list) else [layer] for layer in before]
    for stage in stages:
        stage["layers"] = [layer if isinstance(layer, list) else [layer] for layer in stage["layers"]]
    layers.append([{"type": "cascade", "stages": stages}])
    data = {"models": {m: {"kind": "fake", "model": m, "max_retries": 0} for m in ("m1", "m2")}, "pipeline": {"layers": layers}}
    data.update(extra)
    return Spec.model_validate(data)


def run(spec: Spec, queries: list[str], script: Any, *, trace: bool = True, cache: Any = None, **options: Any):
    from archon.graph import compile_pipeline

    fake = FakeBackend(script)
    client = CountingClient(Client(spec.models, fake=fake, cache=cache, retry_base=0.0, retry_cap=0.0))
    results = asyncio.run(Executor(compile_pipeline(spec), client, trace=trace, **options).run_batch(queries))
    return results, client, fake


def answers_by_query(easy: str = "easy") -> ScriptedModel:
    """Queries containing ``easy``: every sample says 42. Others: samples alternate 0/1 (a split
    vote); a later stage's extra samples (index >= 3) say 7."""

    def answer(req: CallRequest) -> str:
        if req.tag != "generate":
            return "No."
        if easy in last_user(req):
            return "Answer: 42"
        return "Answer: 7" if req.sample_index >= 3 else f"Answer: {req.sample_index % 2}"

    return ScriptedModel(default=answer)


TWO_STAGES = [
    {"layers": [{"type": "generate", "id": "answer", "model": "m1", "samples": 3}, {"type": "vote"}],
     "signal": "vote_margin", "threshold": 0.5},
    {"layers": [{"type": "generate", "id": "answer", "model": "m1", "samples": 7}, {"type": "vote"}]},
]


def test_vote_margin_is_the_lead_over_the_runner_up_per_candidate() -> None:
    cands = [Candidate(id=str(i), text=t, node="g") for i, t in enumerate(["Answer: 1", "Answer: 1", "Answer: 2", "no answer"])]
    extract = lambda text: text.split(": ")[1] if ": " in text else None  # noqa: E731
    assert vote_margin(cands, extract) == pytest.approx((2 - 1) / 4)
    assert vote_margin(cands[:2], extract) == 1.0
    assert vote_margin(cands[3:], extract) == 0.0
    assert vote_margin([], extract) == 0.0


def test_only_unsure_queries_reach_the_next_stage_and_it_runs_as_one_batch() -> None:
    spec = cascade_spec([dict(s) for s in TWO_STAGES])
    queries = ["easy a", "hard b", "easy c", "hard d"]
    results, client, _ = run(spec, queries, answers_by_query())
    assert [r.answered_by for r in results] == [{"cascade1": 1}, {"cascade1": 2}, {"cascade1": 1}, {"cascade1": 2}]
    assert [r.answer for r in results] == ["Answer: 42", "Answer: 7", "Answer: 42", "Answer: 7"]
    # stage 1: one batch of 4 queries x 3 samples; stage 2: one batch for the 2 hard queries,
    # holding only the samples stage 1 did not already make (3..6)
    assert [len(b) for b in client.batches] == [12, 8]
    assert {r.sample_index for r in client.batches[1]} == {3, 4, 5, 6}
    # the query's cost counts each distinct call once: 3 for an easy query, 7 for a hard one
    assert [r.cost.calls for r in results] == [3, 7, 3, 7]
    notes = results[1].trace["notes"]["cascade1"]
    assert notes["answered_by"] == 2
    assert notes["stages"][0] == {"stage": 1, "signal": "vote_margin", "confidence": pytest.approx(1 / 3, abs=1e-6),
                                  "threshold": 0.5, "went_on": True}
    assert results[1].to_dict()["answered_by"] == {"cascade1": 2}
    # the answering stage's nodes are in the trace under their stage ids
    assert "cascade1.s2.answer" in results[1].trace["nodes"] and "cascade1.s2.answer" not in results[0].trace["nodes"]


def test_a_stage_samples_the_same_calls_as_a_plain_pipeline_with_the_same_node_id() -> None:
    from archon.graph import compile_pipeline

    spec = cascade_spec([dict(s) for s in TWO_STAGES])
    _, client, _ = run(spec, ["hard"], answers_by_query())
    plain = Spec.model_validate({"models": spec.models, "pipeline": {"layers": [
        [{"type": "generate", "id": "answer", "model": "m1", "samples": 7}], [{"type": "vote"}]]}})
    plain_client = CountingClient(Client(plain.models, fake=FakeBackend(answers_by_query())))
    asyncio.run(Executor(compile_pipeline(plain), plain_client).run_batch(["hard"]))
    key = lambda r: (r.messages, r.seed, r.sample_index, r.temperature)  # noqa: E731
    assert sorted(map(key, client.requests)) == sorted(map(key, plain_client.requests))


def test_threshold_zero_never_escalates_and_one_escalates_all_but_unanimous() -> None:
    for threshold, expected in ((0.0, [1, 1]), (1.0, [1, 2])):
        stages = [dict(s) for s in TWO_STAGES]
        stages[0] = {**stages[0], "threshold": threshold}
        results, _, _ = run(cascade_spec(stages), ["easy", "hard"], answers_by_query())
        assert [r.answered_by["cascade1"] for r in results] == expected


def test_parses_signal_uses_the_benchmarks_extraction() -> None:
    stages = [
        {"layers": [{"type": "generate", "id": "answer", "model": "m1", "temperature": 0}], "signal": "parses", "threshold": 0.5},
        {"layers": [{"type": "generate", "id": "answer", "model": "m2", "samples": 3}, {"type": "vote"}]},
    ]
    script = ScriptedModel(default=lambda req: "7" if req.model == "m2" else ("42" if "num" in last_user(req) else "not sure"))
    extract = lambda text: text if text.strip().isdigit() else None  # noqa: E731
    results, _, _ = run(cascade_spec(stages), ["num q", "word q"], script, extract=extract)
    assert [(r.answer, r.answered_by["cascade1"]) for r in results] == [("42", 1), ("7", 2)]


def test_verdict_signal_reads_the_verifiers_verdict_on_the_answer() -> None:
    stages = [
        {"layers": [{"type": "generate", "id": "answer", "model": "m1", "temperature": 0},
                    {"type": "verify", "model": "m1", "temperature": 0}], "signal": "verdict", "threshold": 0.5},
        {"layers": [{"type": "generate", "id": "answer", "model": "m2", "samples": 3}, {"type": "vote"}]},
    ]

    def answer(req: CallRequest) -> str:
        if req.tag == "generate":
            return "RIGHT" if "good" in last_user(req) else "WRONG"
        if req.tag == "verify.reason":
            return "looks RIGHT" if "RIGHT" in last_user(req) else "looks WRONG"
        verdict_reasoning = next(c for r, c in reversed(req.messages) if r == "assistant")
        return "Yes." if "RIGHT" in verdict_reasoning else "No."

    results, client, _ = run(cascade_spec(stages), ["good q", "bad q"], ScriptedModel(default=answer))
    assert [r.answered_by["cascade1"] for r in results] == [1, 2]
    assert results[0].cost.calls == 3 and results[1].cost.calls == 6  # 1 + 2 verify calls, then 3 samples
    # verify keeps every candidate when none passes (keep_all), so stage 1 did not fail the query
    assert results[1].trace["notes"]["cascade1"]["stages"][0]["confidence"] == 0.0


def test_logprob_signal_asks_the_writing_calls_for_logprobs_and_escalates_low_ones() -> None:
    stages = [
        {"layers": [{"type": "generate", "id": "answer", "model": "m1", "samples": 2}, {"type": "vote"}],
         "signal": "logprob", "threshold": 0.5},
        {"layers": [{"type": "generate", "id": "big", "model": "m2"}]},
    ]
    sure = ScriptedModel(default=lambda req: "Answer: 1", logprob=lambda req, text: -0.1 if "confident" in last_user(req) else -2.0)
    results, client, _ = run(cascade_spec(stages), ["confident q", "doubtful q"], sure)
    assert [r.answered_by["cascade1"] for r in results] == [1, 2]
    asked = [(r.model, r.logprobs) for r in client.requests]
    assert asked.count(("m1", True)) == 4 and ("m2", False) in asked  # only stage 1's writers ask
    confidences = [r.trace["notes"]["cascade1"]["stages"][0]["confidence"] for r in results]
    assert confidences == [pytest.approx(math.exp(-0.1), abs=1e-6), pytest.approx(math.exp(-2.0), abs=1e-6)]
    # the vote's answer has no call of its own: its confidence is the mean over its voters
    assert results[0].trace["nodes"]["cascade1.s1.answer"][0]["annotations"]["logprob"] == pytest.approx(-0.1)


def test_a_logprob_the_backend_did_not_return_counts_as_unsure_and_is_recorded() -> None:
    stages = [
        {"layers": [{"type": "generate", "id": "answer", "model": "m1"}], "signal": "logprob", "threshold": 0.1},
        {"layers": [{"type": "generate", "id": "answer", "model": "m2"}]},
    ]
    results, _, _ = run(cascade_spec(stages), ["q"], ScriptedModel(default="x", logprob=lambda req, text: None))
    assert results[0].answered_by == {"cascade1": 2}
    assert [p.what for p in results[0].parse_failures] == ["logprob"]


def test_candidate_stages_take_the_cascades_inputs() -> None:
    stages = [
        {"layers": [{"type": "vote"}], "signal": "vote_margin", "threshold": 0.5},
        {"layers": [{"type": "fuse", "model": "m2"}]},
    ]
    spec = cascade_spec(stages, before=[{"type": "generate", "id": "answer", "model": "m1", "samples": 3}])
    results, client, _ = run(spec, ["easy", "hard"], answers_by_query())
    assert [r.answered_by["cascade1"] for r in results] == [1, 2]
    assert results[0].answer == "Answer: 42" and results[1].answer == "No."  # the fuser of stage 2 answered
    fused = [r for r in client.requests if r.tag == "fuse"]
    assert len(fused) == 1 and "hard" in last_user(fused[0])


def test_a_stage_that_fails_a_query_hands_it_on_and_the_last_stage_failing_fails_it() -> None:
    failing = {"layers": [{"type": "generate", "id": "answer", "model": "m1", "temperature": 0},
                          {"type": "verify", "model": "m1", "fallback": "fail"}], "signal": "verdict", "threshold": 0.5}
    script = ScriptedModel(default=lambda req: "No." if req.tag.startswith("verify") else "an answer")
    results, _, _ = run(cascade_spec([failing, {"layers": [{"type": "generate", "id": "answer", "model": "m2"}]}]), ["q"], script)
    assert results[0].status == "ok" and results[0].answered_by == {"cascade1": 2}
    assert "no candidate passed" in results[0].trace["notes"]["cascade1"]["stages"][0]["failed"]
    last_fails = [{"layers": [{"type": "generate", "id": "answer", "model": "m2"}], "signal": "parses", "threshold": 1.0},
                  dict(failing, signal=None, threshold=None)]
    results, _, _ = run(cascade_spec(last_fails), ["q"], script, extract=lambda text: None)
    assert results[0].status == "failed" and results[0].answered_by == {}


def test_a_call_that_failed_for_good_ends_the_query_as_anywhere_else() -> None:
    stages = [dict(s) for s in TWO_STAGES]
    spec = cascade_spec(stages)
    from archon.graph import compile_pipeline

    fake = FakeBackend(answers_by_query())
    fake.inject(kind="permanent", times=None, when=lambda r: r.sample_index == 5)
    client = Client(spec.models, fake=fake, retry_base=0.0, retry_cap=0.0)
    results = asyncio.run(Executor(compile_pipeline(spec), client).run_batch(["easy", "hard"]))
    assert results[0].status == "ok" and results[1].status == "call_failed"


def test_the_per_query_budget_stops_a_query_inside_a_stage() -> None:
    stages = [dict(s) for s in TWO_STAGES]
    spec = cascade_spec(stages, budget={"per_query": {"output_tokens": 3 * 512 + 10}})
    results, _, _ = run(spec, ["easy", "hard"], answers_by_query())
    assert results[0].status == "ok"
    assert results[1].status == "over_budget" and "cascade1.s2.answer" in results[1].error


def test_escalation_summary_counts_the_furthest_stage_per_query() -> None:
    assert escalation([{"c": 1}, {"c": 2}, {"c": 1}, None, {}, {"c": 3, "d": 1}]) == {
        "rate": 0.5, "n": 4, "stages": {"1": 2, "2": 1, "3": 1}}
    assert escalation([None, {}]) is None
