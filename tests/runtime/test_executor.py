"""The executor over the scripted fake: batching per node, failure isolation, per-query budget,
determinism, exact call counts against the static cost model, answers and traces."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from archon.graph.cost import calls_for
from archon.runtime import Executor
from archon.spec.schema import PerQueryBudget
from archon.testing import Failure
from pipeline_kit import CountingClient, Smart, last_user, make_client, make_pipeline, make_spec

QUERIES = ["capital of France?", "capital of Peru?", "capital of Japan?"]

FULL = [
    [{"type": "generate", "models": ["m1", "m2"], "samples": 2, "max_tokens": 32}],
    {"type": "critique", "model": "m1", "max_tokens": 32},
    {"type": "rank", "model": "m2", "top_k": 3, "max_tokens": 32},
    {"type": "verify", "model": "m1", "max_tokens": 32},
    {"type": "fuse", "model": "m2", "samples": 2, "use_critiques": False, "max_tokens": 32},
    {"type": "refine", "model": "m1", "rounds": 1, "max_tokens": 32},
    {"type": "select", "model": "m2", "top_k": 1, "max_tokens": 32},
]


def run(layers, queries=QUERIES, responder=None, *, trace=True, failures=(), **executor_options):
    spec = make_spec(layers, **executor_options.pop("spec_extra", {}))
    pipeline = make_pipeline(spec)
    client, fake = make_client(spec, responder, failures=list(failures))
    counting = CountingClient(client)
    results = asyncio.run(Executor(pipeline, counting, trace=trace, **executor_options).run_batch(queries))
    return results, counting, fake, pipeline


def per_node_calls(result):
    return Counter(c["node"] for c in result.trace["calls"])


def node_inputs(result, pipeline, node):
    seen = set()
    for src in pipeline.inputs(node):
        seen.update(c["id"] for c in result.trace["nodes"].get(src, []))
    return len(seen)


def test_full_pipeline_one_client_call_per_node_round_and_exact_calls() -> None:
    results, client, _, pipeline = run(FULL)
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    # generate, critique, rank, verify x2, fuse, refine x2, select
    assert [len(b) for b in client.batches] == [12, 12, 3, 9, 9, 6, 6, 6, 6]
    for result in results:
        counts = per_node_calls(result)
        for node in pipeline.order:
            expected = calls_for(pipeline.component(node), node_inputs(result, pipeline, node))
            assert counts.get(node, 0) == expected, node
        assert result.cost.calls == sum(counts.values()) == pipeline.static_cost().calls
        assert result.answer == result.trace["nodes"][pipeline.output][0]["text"]
        json.dumps(result.to_dict())  # JSON-ready


def test_answer_is_first_candidate_of_output_and_untraced_results_are_lean() -> None:
    results, _, _, _ = run([{"type": "generate", "model": "m1", "samples": 3}, {"type": "vote"}], trace=False)
    for r in results:
        assert r.trace is None and [c.id for c in r.candidates] == ["vote1:0"]
        assert r.answer == r.candidates[0].text
        assert "candidates" not in r.to_dict()


def test_a_failing_query_is_isolated_and_skipped_later() -> None:
    peru = Failure(kind="permanent", times=None, when=lambda r: r.tag == "critique" and "Peru" in last_user(r), message="server says no")
    results, _, fake, _ = run(FULL, failures=[peru])
    france, peru_result, japan = results
    assert peru_result.status == "call_failed" and peru_result.answer is None
    assert "critique1" in peru_result.error and "server says no" in peru_result.error
    assert france.status == japan.status == "ok" and france.answer and japan.answer
    after = [r for r in fake.calls if "Peru" in last_user(r) and r.tag not in ("generate", "critique")]
    assert after == []  # nothing was sent for the failed query after it failed


def test_retryable_fault_is_retried_and_does_not_fail_the_query() -> None:
    flaky = Failure(kind="retryable", times=1, when=lambda r: r.tag == "rank")
    results, _, _, _ = run(FULL, failures=[flaky])
    assert all(r.status == "ok" for r in results)


def test_budget_calls_stop_before_the_node_that_would_exceed() -> None:
    # (compile_pipeline already rejects a spec whose static calls exceed its own budget; the
    # executor's check guards budgets given at run time and data-dependent candidate counts)
    layers = [{"type": "generate", "model": "m1", "samples": 4}, {"type": "critique", "model": "m1"}, {"type": "fuse", "model": "m1", "use_critiques": True}]
    results, client, _, _ = run(layers, budget=PerQueryBudget(calls=6))
    for r in results:
        assert r.status == "over_budget" and r.answer is None
        assert r.error.startswith("critique1:") and "4 more calls" in r.error
        assert r.cost.calls == 4
    assert [len(b) for b in client.batches] == [12]


def test_budget_is_per_query() -> None:
    # verify keeps 1 candidate for France (its sample 1 says ans1) but all 3 for the others
    answers = lambda q, m, s: "ans1" if (s == 1 or "France" not in q) else f"other{s}"  # noqa: E731
    layers = [
        {"type": "generate", "model": "m1", "samples": 3},
        {"type": "verify", "model": "m1"},
        {"type": "critique", "model": "m1"},
        {"type": "fuse", "model": "m1"},
    ]
    results, _, _, _ = run(layers, responder=Smart(answers=answers), budget=PerQueryBudget(calls=11))
    france, peru, japan = results
    assert france.status == "ok"  # 3 + 6 + 1 + 1 = 11
    assert peru.status == japan.status == "over_budget"  # 3 + 6 + 3 > 11 at critique
    assert "critique1" in peru.error


def test_budget_output_tokens_and_input_tokens() -> None:
    layers = [{"type": "generate", "model": "m1", "samples": 2, "max_tokens": 50}, {"type": "vote"}]
    results, client, _, _ = run(layers, budget=PerQueryBudget(output_tokens=99))
    assert all(r.status == "over_budget" for r in results) and client.batches == []
    layers = [{"type": "generate", "model": "m1", "samples": 2}, {"type": "critique", "model": "m1"}, {"type": "fuse", "model": "m1"}]
    results, client, _, _ = run(layers, budget=PerQueryBudget(input_tokens=5))
    assert all(r.status == "over_budget" and r.error.startswith("generate1:") for r in results)
    assert len(client.batches) == 1


def _seeded_responder(req):
    # generations depend on the seed the executor derived (like a seeded sampler); the rest on Smart
    from archon.testing import default_text

    return default_text(req) if req.tag == "generate" else Smart()(req)


def _comparable(result):
    record = result.to_dict()
    record["cost"].pop("latency")
    return record


def test_same_inputs_same_outputs() -> None:
    first, _, _, _ = run(FULL, responder=_seeded_responder)
    second, _, _, _ = run(FULL, responder=_seeded_responder)
    assert [_comparable(r) for r in first] == [_comparable(r) for r in second]
    texts = [c["text"] for c in first[0].trace["nodes"]["generate1"]]
    assert len(set(texts)) == len(texts)  # samples differ (distinct seeds), yet reruns agree


def test_seeds_depend_on_node_and_sample_only() -> None:
    from archon.runtime import sample_seed

    _, client, _, _ = run([{"type": "generate", "model": "m1", "samples": 3}, {"type": "vote"}])
    seeds = {(r.sample_index, r.seed) for r in client.requests}
    assert seeds == {(k, sample_seed("generate1", k)) for k in range(3)}
    assert len({sample_seed("generate1", k) for k in range(50)}) == 50


def test_failed_generate_samples_appear_in_the_result() -> None:
    one = Failure(kind="permanent", times=None, when=lambda r: r.tag == "generate" and r.sample_index == 0 and "Japan" in last_user(r))
    results, _, _, _ = run([{"type": "generate", "model": "m1", "samples": 3}, {"type": "vote"}], failures=[one])
    japan = results[2]
    assert japan.status == "call_failed"  # never scored as if it had answered with 2 of 3 samples
    assert [p.candidate for p in japan.parse_failures] == ["generate1:m1:0"]
    assert japan.trace["notes"]["generate1"]["failed_samples"]
    assert japan.cost.failed_calls == 1


def test_unknown_prompt_override_is_rejected_up_front() -> None:
    from archon.errors import InputError

    spec = make_spec([{"type": "generate", "model": "m1"}], prompts={"generate.usr": "{query}"})
    with pytest.raises(InputError, match="generate.usr"):
        Executor(make_pipeline(spec), make_client(spec)[0])


def test_spec_prompt_overrides_reach_the_calls() -> None:
    results, client, _, _ = run([{"type": "generate", "model": "m1"}], spec_extra={"prompts": {"generate.user": "Q: {query}\nA:"}})
    assert last_user(client.requests[0]) == f"Q: {QUERIES[0]}\nA:"


def test_cache_makes_a_rerun_free(tmp_path) -> None:
    from archon.backends import Client
    from archon.testing import FakeBackend

    spec = make_spec(FULL)
    pipeline = make_pipeline(spec)
    answers = []
    for attempt in range(2):
        fake = FakeBackend(Smart())
        client = Client.from_spec(spec, cache=tmp_path / "calls.sqlite", fake=fake)
        results = asyncio.run(Executor(pipeline, client).run_batch(QUERIES))
        client.close()
        answers.append([r.answer for r in results])
        if attempt == 1:
            assert fake.call_count == 0
            assert all(r.cost.calls == 0 and r.cost.cached_calls > 0 for r in results)
    assert answers[0] == answers[1]


def test_auto_unit_tests_on_code_answers_execute_and_stay_within_the_static_count() -> None:
    code = "```python\ndef add(a, b):\n    return a + b\n```"
    tests = "```python\nassert add(1, 1) == 2\nassert add(0, 5) == 5\n```"
    layers = [{"type": "generate", "model": "m1", "samples": 2}, {"type": "unit_test", "model": "m1", "num_tests": 2, "top_k": 1}]
    results, _, _, pipeline = run(layers, queries=["write add"], responder=Smart(answers=lambda q, m, s: code, tests_text=tests))
    (result,) = results
    assert result.status == "ok", result.error
    assert result.trace["notes"]["unit_test1"]["mode"] == "execute"
    assert per_node_calls(result)["unit_test1"] == 1 < calls_for(pipeline.component("unit_test1"), 2)
    assert result.trace["nodes"]["unit_test1"][0]["annotations"]["tests"]["pass_rate"] == 1.0


def test_code_benchmark_makes_unit_tests_execute_as_the_static_model_counts() -> None:
    layers = [{"type": "generate", "model": "m1", "samples": 2}, {"type": "unit_test", "model": "m1", "num_tests": 2}]
    spec = make_spec(layers)
    pipeline = make_pipeline(spec)
    smart = Smart(tests_text="assert add(2, 2) == 4")
    # plain code with no fence: only the benchmark says it is code
    client, _ = make_client(spec, lambda r: "def add(a, b):\n    return a + b" if r.tag == "generate" else smart(r))
    executor = Executor(pipeline, client, task="code", trace=True)
    (result,) = asyncio.run(executor.run_batch(["write add"]))
    assert per_node_calls(result)["unit_test1"] == calls_for(pipeline.component("unit_test1"), 2, code_task=True) == 1
    assert result.candidates[0].annotations["tests"]["results"] == [True]
