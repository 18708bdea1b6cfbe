"""Each component's contract on the scripted fake: outputs, annotations by id, call counts,
one batched client call per node (per round), parse failures and fallbacks."""

from __future__ import annotations

import os

import pytest

from archon.components import COMPONENTS, PromptBook
from archon.components.generate import choose_shots
from archon.components.types import sample_seed
from archon.graph.cost import calls_for
from archon.testing import Failure
from pipeline_kit import Smart, last_user, seeded

QUERIES = ["What is the capital of France?", "What is 2 + 2?", "Name a red fruit."]


def _ids(state, node="n1"):
    return [c.id for c in state.candidates[node]]


def _check_calls(component, states, client, n_inputs):
    """The requests made equal the static cost model (archon.graph.cost.calls_for, which reads
    the kind's entry in archon.graph.kinds), summed over the queries."""
    from archon.graph.cost import calls_for

    expected = sum(calls_for(component, n) for n in n_inputs)
    assert len(client.requests) == expected


# ----------------------------------------------------------------------------- generate


def test_generate_models_times_samples(run_component) -> None:
    states = [s for s in seeded(QUERIES, [[], [], []])]
    for s in states:
        s.candidates.clear()
    comp = run_component({"type": "generate", "models": ["m1", "m2"], "samples": 3, "temperature": 0.9, "top_p": 0.8, "max_tokens": 40, "stop": ["\n\n"]}, states, inputs=())
    client = run_component.client
    assert len(client.batches) == 1  # all queries, all models, all samples: one client call
    _check_calls(comp, states, client, [0, 0, 0])
    for state in states:
        assert _ids(state) == [f"n1:{m}:{k}" for m in ("m1", "m2") for k in range(3)]
        for cand in state.candidates["n1"]:
            assert cand.annotations == {} and cand.parents == () and cand.node == "n1"
            assert cand.text.startswith(f"{cand.model}/{cand.sample_index}:")
    req = client.requests[0]
    assert (req.temperature, req.top_p, req.max_tokens, req.stop) == (0.9, 0.8, 40, ("\n\n",))
    assert {(r.sample_index, r.seed) for r in client.requests} == {(k, sample_seed("n1", k)) for k in range(3)}
    assert len(states[0].calls) == 6 and states[0].cost.calls == 6


def test_generate_same_model_twice_keeps_ids_unique(run_component) -> None:
    states = seeded(QUERIES[:1], [[]])
    states[0].candidates.clear()
    run_component({"type": "generate", "models": ["m1", "m1"], "samples": 2}, states, inputs=())
    ids = _ids(states[0])
    assert len(set(ids)) == 4


def test_generate_few_shot_turns_are_deterministic_and_exclude_the_query(run_component) -> None:
    shots = [{"input": f"shot question {i}", "reference": f"shot answer {i}"} for i in range(6)]
    shots.append({"input": QUERIES[0], "reference": "the answer itself"})
    states = seeded(QUERIES, [[], [], []])
    for s in states:
        s.candidates.clear()
    run_component({"type": "generate", "model": "m1", "few_shot": 3, "system_prompt": "SYS"}, states, inputs=(), shots=shots)
    first = run_component.client.requests[0]
    roles = [r for r, _ in first.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert first.messages[0] == ("system", "SYS")
    assert all(c != "the answer itself" for _, c in first.messages)
    assert first.messages[-1] == ("user", QUERIES[0])
    chosen = choose_shots(shots, 3, QUERIES[0])
    assert [c for r, c in first.messages if r == "assistant"] == [s["reference"] for s in chosen]
    assert choose_shots(shots, 3, QUERIES[0]) == chosen  # same query, same shots
    assert len({tuple(s["input"] for s in choose_shots(shots, 3, q)) for q in QUERIES + ["x", "y", "z"]}) > 1


def test_generate_partial_failure_marks_the_query_call_failed(run_component) -> None:
    # going on with 2 of 3 samples would silently change the answer (issue 13.2)
    states = seeded(QUERIES[:2], [[], []])
    for s in states:
        s.candidates.clear()
    fail_sample_1 = Failure(kind="permanent", times=None, when=lambda r: r.sample_index == 1 and "France" in r.messages[-1][1])
    run_component({"type": "generate", "model": "m1", "samples": 3}, states, inputs=(), failures=[fail_sample_1])
    france, other = states
    assert france.status == "call_failed" and "after its retries" in france.error
    assert [p.candidate for p in france.parse_failures] == ["n1:m1:1"]
    assert france.notes["n1"]["failed_samples"] and sum(1 for c in france.calls if c.error) == 1
    assert other.status == "ok" and len(_ids(other)) == 3 and not other.parse_failures


def test_generate_all_samples_failed_fails_only_that_query(run_component) -> None:
    states = seeded(QUERIES, [[], [], []])
    for s in states:
        s.candidates.clear()
    broken = Failure(kind="permanent", times=None, when=lambda r: "2 + 2" in r.messages[-1][1], message="boom")
    run_component({"type": "generate", "model": "m1", "samples": 2}, states, inputs=(), failures=[broken])
    assert [s.status for s in states] == ["ok", "call_failed", "ok"]
    assert "boom" in states[1].error and "n1" not in states[1].candidates


# ----------------------------------------------------------------------------- critique


def test_critique_annotates_each_candidate_with_its_own_critique(run_component) -> None:
    texts = [["alpha", "beta", "gamma"], ["delta", "epsilon"], ["zeta"]]
    states = seeded(QUERIES, texts)
    before = [list(s.candidates["src"]) for s in states]
    comp = run_component({"type": "critique", "model": "m2"}, states)
    assert len(run_component.client.batches) == 1
    _check_calls(comp, states, run_component.client, [3, 2, 1])
    for state, orig in zip(states, before):
        out = state.candidates["n1"]
        assert [c.id for c in out] == [c.id for c in orig]
        for cand in out:
            assert cand.annotations["critique"] == f"CRIT<<{cand.text}>>"
        assert all(c.annotations == {} for c in state.candidates["src"])  # inputs untouched
        assert state.candidates["src"] == orig


def test_critique_call_failure_fails_the_query(run_component) -> None:
    states = seeded(QUERIES[:2], [["a", "b"], ["c"]])
    fail = Failure(kind="permanent", times=None, when=lambda r: "\nb\n" in r.messages[-1][1])
    run_component({"type": "critique", "model": "m1"}, states, failures=[fail])
    assert states[0].status == "call_failed" and "n1" in states[0].error
    assert states[1].status == "ok" and "n1" in states[1].candidates


# ----------------------------------------------------------------------------- rank


def test_rank_orders_keeps_top_k_and_annotates_rank(run_component) -> None:
    states = seeded(QUERIES[:2], [["a", "b", "c", "d"], ["e", "f"]])
    comp = run_component({"type": "rank", "model": "m1", "top_k": 3}, states)
    _check_calls(comp, states, run_component.client, [4, 2])
    assert len(run_component.client.batches) == 1
    assert _ids(states[0]) == ["src:m1:3", "src:m1:2", "src:m1:1"]
    assert [c.annotations["rank"] for c in states[0].candidates["n1"]] == [1, 2, 3]
    assert _ids(states[1]) == ["src:m1:1", "src:m1:0"]
    assert not states[0].parse_failures


def test_rank_uses_structured_output_when_supported(run_component) -> None:
    states = seeded(QUERIES[:1], [["a", "b", "c"]])
    run_component({"type": "rank", "model": "m1"}, states, Smart(rank_reply=lambda n: '{"ranking": [2, 3, 1]}'), structured=True)
    assert run_component.client.requests[0].response_format is not None
    assert _ids(states[0]) == ["src:m1:1", "src:m1:2", "src:m1:0"]
    states = seeded(QUERIES[:1], [["a", "b", "c"]])
    run_component({"type": "rank", "model": "m1"}, states)
    assert run_component.client.requests[0].response_format is None


def test_rank_parse_failure_is_recorded_and_keeps_order(run_component) -> None:
    states = seeded(QUERIES[:1], [["a", "b", "c"]])
    run_component({"type": "rank", "model": "m1", "top_k": 2}, states, Smart(rank_reply=lambda n: "They are all fine."))
    assert _ids(states[0]) == ["src:m1:0", "src:m1:1"]
    assert [p.what for p in states[0].parse_failures] == ["ranking"]
    assert "original order" in states[0].parse_failures[0].fallback


def test_rank_shows_critiques_only_when_asked(run_component) -> None:
    crit = lambda k, c: c.annotate("critique", f"note-{k}")  # noqa: E731
    states = seeded(QUERIES[:1], [["a", "b"]], annotate=crit)
    run_component({"type": "rank", "model": "m1", "use_critiques": True}, states)
    assert "note-1" in last_user(run_component.client.requests[0])
    states = seeded(QUERIES[:1], [["a", "b"]], annotate=crit)
    run_component({"type": "rank", "model": "m1", "use_critiques": False}, states)
    assert "note-1" not in last_user(run_component.client.requests[0])
    assert states[0].candidates["n1"][0].annotations["critique"].startswith("note-")  # kept on the same ids


# ----------------------------------------------------------------------------- fuse


def test_fuse_creates_new_candidates_without_inherited_annotations(run_component) -> None:
    crit = lambda k, c: c.annotate("critique", f"note-{k}")  # noqa: E731
    states = seeded(QUERIES[:2], [["a", "b", "c"], ["d"]], annotate=crit)
    comp = run_component({"type": "fuse", "model": "m2", "samples": 2, "max_candidates": 2}, states)
    _check_calls(comp, states, run_component.client, [3, 1])
    assert len(run_component.client.batches) == 1
    out = states[0].candidates["n1"]
    assert [c.id for c in out] == ["n1:m2:0", "n1:m2:1"]
    assert all(c.annotations == {} for c in out)
    assert all(c.parents == ("src:m1:0", "src:m1:1") for c in out)  # bounded by max_candidates
    assert out[0].text == "FUSED[2]#0"
    prompt = last_user(run_component.client.requests[0])
    assert "note-0" in prompt and "[3]" not in prompt


# ----------------------------------------------------------------------------- verify


def test_verify_keeps_passing_in_two_batched_rounds(run_component) -> None:
    states = seeded(QUERIES[:2], [["ans1 yes", "ans0", "ans1 too"], ["ans2"]])
    comp = run_component({"type": "verify", "model": "m1", "fallback": "keep_all"}, states)
    client = run_component.client
    _check_calls(comp, states, client, [3, 1])
    assert [len(b) for b in client.batches] == [4, 4]
    assert _ids(states[0]) == ["src:m1:0", "src:m1:2"]
    verdict = states[0].candidates["n1"][0].annotations["verdict"]
    assert verdict["passed"] is True and verdict["reasoning"] == "REASON<<ans1 yes>>"
    assert _ids(states[1]) == ["src:m1:0"]  # none passed: keep_all
    assert "keep_all" in states[1].notes["n1"]["fallback"]
    verdict_req = client.batches[1][0]
    assert [r for r, _ in verdict_req.messages] == ["system", "user", "assistant", "user"]


def test_verify_fallbacks(run_component) -> None:
    score = lambda k, c: c.annotate("score", [3, 9, 5][k])  # noqa: E731
    states = seeded(QUERIES[:1], [["x", "y", "z"]], annotate=score)
    run_component({"type": "verify", "model": "m1", "fallback": "keep_best"}, states)
    assert _ids(states[0]) == ["src:m1:1"] and "keep_best" in states[0].notes["n1"]["fallback"]
    rank = lambda k, c: c.annotate("rank", [2, 3, 1][k])  # noqa: E731
    states = seeded(QUERIES[:1], [["x", "y", "z"]], annotate=rank)
    run_component({"type": "verify", "model": "m1", "fallback": "keep_best"}, states)
    assert _ids(states[0]) == ["src:m1:2"]
    states = seeded(QUERIES[:2], [["x"], ["ans1"]])
    run_component({"type": "verify", "model": "m1", "fallback": "fail"}, states)
    assert states[0].status == "failed" and "fallback: fail" in states[0].error
    assert states[1].status == "ok"


def test_verify_undecidable_verdict_is_a_recorded_parse_failure(run_component) -> None:
    states = seeded(QUERIES[:1], [["ans1", "b"]])
    run_component({"type": "verify", "model": "m1"}, states, Smart(verdict_text=lambda r: "Hmm, hard to say."))
    assert len(states[0].parse_failures) == 2 and {p.what for p in states[0].parse_failures} == {"verdict"}
    assert all(c.annotations["verdict"]["parsed"] is False for c in states[0].candidates["n1"])


# ----------------------------------------------------------------------------- unit_test (judge)


def test_unit_test_judge_mode(run_component) -> None:
    states = seeded(QUERIES[:2], [["good answer", "bad answer"], ["fine"]])
    judge = lambda cand: "Check 1: PASS\nCheck 2: PASS" if "good" in cand else "Check 1: FAIL\nCheck 2: PASS"  # noqa: E731
    comp = run_component({"type": "unit_test", "model": "m1", "num_tests": 2, "mode": "judge", "top_k": 1}, states, Smart(judge_text=judge))
    client = run_component.client
    _check_calls(comp, states, client, [2, 1])
    assert [len(b) for b in client.batches] == [2, 3]  # tests for every query, then every judgement
    out = states[0].candidates["n1"]
    assert [c.id for c in out] == ["src:m1:0"]
    assert out[0].annotations["tests"] == {"mode": "judge", "passed": 2, "total": 2, "pass_rate": 1.0, "results": [True, True]}
    assert states[0].notes["n1"]["tests"] == ["mentions the answer", "is short"]


def test_unit_test_without_parsable_tests_keeps_everything(run_component) -> None:
    states = seeded(QUERIES[:1], [["a", "b"]])
    run_component({"type": "unit_test", "model": "m1", "mode": "execute", "top_k": 1}, states, Smart(tests_text="I will not write tests."), sandbox=lambda *a, **k: pytest.fail("no tests: nothing to run"))
    assert _ids(states[0]) == ["src:m1:0", "src:m1:1"]
    assert states[0].parse_failures[0].what == "tests"
    assert states[0].candidates["n1"][0].annotations["tests"]["total"] == 0


# ----------------------------------------------------------------------------- vote


def test_vote_majority_and_provenance(run_component) -> None:
    texts = [["Answer: Paris", "answer: paris.", "Answer: Lyon", "Answer: PARIS"], ["7", "8", "8", "7"]]
    states = seeded(QUERIES[:2], texts)
    comp = run_component({"type": "vote"}, states)
    assert run_component.client.batches == []  # no model calls
    assert calls_for(comp, 4) == 0
    (winner,) = states[0].candidates["n1"]
    assert winner.id == "n1:0" and winner.text == "Answer: Paris" and winner.annotations == {}
    assert winner.parents == ("src:m1:0", "src:m1:1", "src:m1:3")
    assert states[0].notes["n1"]["tally"] == {"paris": 3.0, "lyon": 1.0}
    (tie,) = states[1].candidates["n1"]
    assert tie.text == "7"  # a tie goes to the answer seen first


def test_vote_weighted(run_component) -> None:
    states = seeded(QUERIES[:1], [["1", "2", "2"]])
    model_of = ["m3", "m1", "m1"]
    for i, c in enumerate(list(states[0].candidates["src"])):
        states[0].candidates["src"][i] = type(c)(id=c.id, text=c.text, node=c.node, model=model_of[i])
    run_component({"type": "vote", "method": "weighted", "weights": {"m3": 5.0}}, states)
    assert states[0].candidates["n1"][0].text == "1"
    score = lambda k, c: c.annotate("score", [9, 2, 3][k])  # noqa: E731
    states = seeded(QUERIES[:1], [["1", "2", "2"]], annotate=score)
    run_component({"type": "vote", "method": "weighted"}, states)
    assert states[0].candidates["n1"][0].text == "1"
    assert states[0].candidates["n1"][0].annotations == {}


def test_vote_with_custom_extractor_and_no_answers(run_component) -> None:
    states = seeded(QUERIES[:1], [["x", "y"]])
    run_component({"type": "vote"}, states, extract=lambda text: None)
    assert states[0].candidates["n1"][0].text == "x"
    assert states[0].parse_failures[0].what == "answer"


# ----------------------------------------------------------------------------- refine


def test_refine_rounds_batching_and_lineage(run_component) -> None:
    crit = lambda k, c: c.annotate("critique", "old")  # noqa: E731
    states = seeded(QUERIES[:2], [["a", "b"], ["c"]], annotate=crit)
    comp = run_component({"type": "refine", "model": "m1", "rounds": 2}, states)
    client = run_component.client
    _check_calls(comp, states, client, [2, 1])
    assert [len(b) for b in client.batches] == [3, 3, 3, 3]  # critique, revise, per round, all queries together
    out = states[0].candidates["n1"]
    assert [c.id for c in out] == ["n1:0", "n1:1"]
    assert out[0].text == "REV(REV(a))" and out[0].parents == ("n1:r1:0",)
    assert all(c.annotations == {} for c in out)
    assert [c["parents"] for c in states[0].notes["n1"]["intermediate"]] == [["src:m1:0"], ["src:m1:1"]]


# ----------------------------------------------------------------------------- select


def test_select_judge_scores_and_keeps_top_k(run_component) -> None:
    states = seeded(QUERIES[:1], [["a", "bbbb", "cc"]])  # Smart scores len % 10 + 1
    comp = run_component({"type": "select", "model": "m1", "top_k": 2}, states)
    _check_calls(comp, states, run_component.client, [3])
    out = states[0].candidates["n1"]
    assert [c.id for c in out] == ["src:m1:1", "src:m1:2"]
    assert [c.annotations["score"] for c in out] == [5.0, 3.0]


def test_select_by_verdict_and_tests_makes_no_calls(run_component) -> None:
    verdict = lambda k, c: c.annotate("verdict", {"passed": k == 2})  # noqa: E731
    states = seeded(QUERIES[:1], [["a", "b", "c"]], annotate=verdict)
    run_component({"type": "select", "by": "verdict", "top_k": 1}, states)
    assert _ids(states[0]) == ["src:m1:2"] and run_component.client.batches == []
    tests = lambda k, c: c.annotate("tests", {"pass_rate": [0.5, 1.0, 0.0][k]})  # noqa: E731
    states = seeded(QUERIES[:1], [["a", "b", "c"]], annotate=tests)
    run_component({"type": "select", "by": "tests", "top_k": 2}, states)
    assert _ids(states[0]) == ["src:m1:1", "src:m1:0"]
    states = seeded(QUERIES[:1], [["a", "b"]])
    run_component({"type": "select", "by": "tests", "top_k": 2}, states)
    assert states[0].parse_failures and states[0].parse_failures[0].fallback == "sorted last"


def test_select_unparsable_score_counts_zero(run_component) -> None:
    states = seeded(QUERIES[:1], [["a", "b"]])

    def responder(req):
        return "Great." if "\na\n" in last_user(req) else "Score: 4"

    run_component({"type": "select", "model": "m1", "top_k": 2}, states, responder)
    assert _ids(states[0]) == ["src:m1:1", "src:m1:0"]
    assert states[0].parse_failures[0].candidate == "src:m1:0"


# ----------------------------------------------------------------------------- prompts


def test_spec_and_node_prompt_overrides(run_component) -> None:
    states = seeded(QUERIES[:1], [["a"]])
    book = PromptBook({"critique.user": "CUSTOM {candidate} for {query} {not_a_field}", "critique.system": "SPEC SYSTEM"})
    run_component({"type": "critique", "model": "m1"}, states, prompts=book)
    req = run_component.client.requests[0]
    assert req.messages[0] == ("system", "SPEC SYSTEM")
    assert req.messages[1] == ("user", f"CUSTOM a for {QUERIES[0]} {{not_a_field}}")
    states = seeded(QUERIES[:1], [["a"]])
    run_component({"type": "critique", "model": "m1", "system_prompt": "NODE SYSTEM", "prompt_template": "NODE {candidate}"}, states, prompts=book)
    assert run_component.client.requests[0].messages == (("system", "NODE SYSTEM"), ("user", "NODE a"))


def test_unknown_prompt_name_is_an_input_error() -> None:
    from archon.errors import InputError

    with pytest.raises(InputError, match="critique.usr"):
        PromptBook({"critique.usr": "x"})


def test_every_component_has_a_contract_and_prompts() -> None:
    from archon.components import MAIN_PROMPT, PROMPT_NAMES
    from archon.graph.kinds import KINDS
    from archon.spec.schema import COMPONENT_TYPES

    assert set(COMPONENTS) == set(COMPONENT_TYPES)
    for kind, module in COMPONENTS.items():
        assert KINDS[kind].name == kind
        assert KINDS[kind].creates == (kind in ("generate", "fuse", "vote", "refine", "cascade"))
        if kind not in ("vote", "cascade"):
            assert f"{kind}.system" in PROMPT_NAMES and MAIN_PROMPT[kind] in PROMPT_NAMES
    assert os.path.isdir(os.path.join(os.path.dirname(COMPONENTS["generate"].__file__), "prompts"))
