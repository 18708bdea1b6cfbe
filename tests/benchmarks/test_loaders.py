"""Loaders on small fixture files written in each benchmark's original format."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from archon.backends.records import CallResult
from archon.benchmarks import load_benchmark
from archon.benchmarks.judge import parse_pair_verdict, parse_rating
from archon.errors import BenchmarkError

FIX = Path(__file__).parent / "fixtures"


def load(name, file=None, **kw):
    spec = {"name": name, **({"path": str(FIX / file)} if file else {}), **kw}
    return load_benchmark(spec)


def test_gsm8k_reads_the_hash_answer():
    b = load("gsm8k", "gsm8k.jsonl")
    refs = sorted(r.reference for r in b.records)
    assert refs == ["150", "4.5", "5000"]
    r = next(r for r in b.records if r.reference == "5000")
    assert b.score(r, "4 * 1250 = 5000\nAnswer: 5,000").value == 1.0
    assert "Answer: 5000" in r.metadata["shot_answer"]


def test_math500_uses_math_equivalence():
    b = load("math500", "math500.jsonl")
    r = next(r for r in b.records if r.id == "test/prealgebra/1.json")
    assert b.score(r, r"so \boxed{\frac{2}{4}}").value == 1.0
    assert b.score(r, r"\boxed{0.5}").value == 1.0
    assert b.score(r, r"\boxed{2}").value == 0.0


def test_mmlu_jsonl_and_original_csv():
    b = load("mmlu", "mmlu.jsonl")
    r = next(r for r in b.records if "Red Planet" in r.input)
    assert r.reference == "B"
    prompt = b.prompt(r)
    assert "B. Mars" in prompt and "letter" in prompt
    assert b.score(r, "Mars is red because of iron oxide. The answer is B.").value == 1.0
    csv_b = load("mmlu", "astronomy_test.csv")
    assert sorted(r.reference for r in csv_b.records) == ["A", "B"]
    assert any("star, not a planet" in r.input for r in csv_b.records)


def test_gpqa_shuffles_choices_stably_by_seed():
    a = load("gpqa", "gpqa.csv", seed=0)
    b = load("gpqa", "gpqa.csv", seed=0)
    assert [(r.id, r.reference) for r in a.records] == [(r.id, r.reference) for r in b.records]
    for r in a.records:
        correct = r.metadata["choices"]["ABCD".index(r.reference)]
        assert correct in {"Negative", "DNA", "kg*m/s^2", "Carbon dioxide"}
    letters = {r.reference for seed in range(6) for r in load("gpqa", "gpqa.csv", seed=seed).records}
    assert len(letters) > 1  # the correct answer is not always in the same slot


def test_mbpp_runs_tests_in_the_sandbox():
    b = load("mbpp", "mbpp.jsonl")
    r = next(r for r in b.records if r.id == "mbpp/11")
    assert "assert add(1, 2) == 3" in b.prompt(r)
    assert b.score(r, "```python\ndef add(a, b):\n    return a + b\n```").value == 1.0
    assert b.score(r, "```python\ndef add(a, b):\n    return a * b\n```").value == 0.0


def test_custom_jsonl_and_csv():
    b = load("jsonl", "custom.jsonl", input_field="question", reference_field="answer", scorer="exact")
    assert {r.id for r in b.records} == {"c1", "c2"}
    assert b.score(next(r for r in b.records if r.id == "c2"), "2").value == 1.0
    c = load("csv", "custom.csv", input_field="question", reference_field="answer", scorer="contains",
             options={"reference_separator": "|"})
    r = next(r for r in c.records if "ocean" in r.input)
    assert r.reference == ["Pacific", "Pacific Ocean"]
    assert c.score(r, "It is the Pacific.").value == 1.0


def test_bad_custom_data_names_file_and_line():
    with pytest.raises(BenchmarkError, match=r"bad_missing_field\.jsonl:2:1: error: missing field 'answer'"):
        load("jsonl", "bad_missing_field.jsonl", input_field="question", reference_field="answer")
    with pytest.raises(BenchmarkError, match=r"bad_json\.jsonl:3:1: error: invalid JSON"):
        load("jsonl", "bad_json.jsonl", input_field="question", reference_field="answer")
    with pytest.raises(BenchmarkError, match="no such file"):
        load("jsonl", "nope.jsonl")
    with pytest.raises(BenchmarkError, match="needs a local copy"):
        load("gsm8k")


def test_loader_path_is_relative_to_the_spec_folder():
    b = load_benchmark({"name": "gsm8k", "path": "gsm8k.jsonl"}, base_dir=str(FIX))
    assert len(b.records) == 3


# ----------------------------------------------------------------------------- judge-based


class JudgeClient:
    """A stand-in with the Client's ``complete`` contract, answering by a rule per call."""

    def __init__(self, rule):
        self.rule = rule
        self.requests = []

    async def complete(self, requests):
        self.requests.extend(requests)
        return [CallResult(text=self.rule(r)) for r in requests]


def _candidate_slot(request) -> str:
    user = request.messages[-1][1]
    return "A" if user.index("CANDIDATE") < user.index("--- Answer B ---") else "B"


def test_pairwise_judge_asks_both_orders_and_cancels_position_bias():
    b = load("alpaca_eval", "alpaca_eval.json", options={"judge_model": "judge-m"})
    r = b.records[0]
    always_a = JudgeClient(lambda req: "Both fine. [[A]]")
    score = asyncio.run(b.ascore(r, "CANDIDATE answer", always_a))
    assert score.value == 0.5 and score.error is None  # pure position bias -> no net win
    assert len(always_a.requests) == 2 and all(q.model == "judge-m" for q in always_a.requests)
    prefers_candidate = JudgeClient(lambda req: f"[[{_candidate_slot(req)}]]")
    assert asyncio.run(b.ascore(r, "CANDIDATE answer", prefers_candidate)).value == 1.0
    ties = JudgeClient(lambda req: "[[TIE]]")
    assert asyncio.run(b.ascore(r, "CANDIDATE", ties)).value == 0.5


def test_judge_without_verdict_is_a_scorer_error():
    b = load("arena_hard", "arena_hard_question.jsonl", options={"reference_path": str(FIX / "arena_hard_baseline.jsonl")})
    assert {r.reference["answer"] for r in b.records} == {"sum(xs)", "Because 1 - 0.999... is smaller than any positive number, so it is 0."}
    score = asyncio.run(b.ascore(b.records[0], "CANDIDATE", JudgeClient(lambda req: "hmm, hard to say")))
    assert score.value == 0.0 and "no verdict" in score.error


def test_mt_bench_pairwise_with_reference_and_rating_without():
    b = load("mt_bench", "mt_bench_question.jsonl", options={"reference_path": str(FIX / "mt_bench_reference.jsonl")})
    assert b.scorer.name == "judge"
    assert {r.input for r in b.records} == {"Write a two-line poem about the sea.", "What is 12 * 12?"}
    rating = load("mt_bench", "mt_bench_question.jsonl")
    assert rating.scorer.name == "rating"
    r = next(r for r in rating.records if r.id == "mt_bench/81")
    s = asyncio.run(rating.ascore(r, "a poem", JudgeClient(lambda req: "Decent. [[7]]")))
    assert s.value == pytest.approx(6 / 9)


def test_arena_hard_needs_baseline_answers():
    with pytest.raises(BenchmarkError, match="reference_path"):
        load("arena_hard", "arena_hard_question.jsonl")


def test_verdict_and_rating_parsers():
    assert parse_pair_verdict("A is longer but [[B]]") == "B"
    assert parse_pair_verdict("[[A]] ... final: [[tie]]") == "TIE"
    assert parse_pair_verdict("Verdict: A") == "A"
    assert parse_pair_verdict("no idea") is None
    assert parse_rating("Rating: [[10]]") == 10
    assert parse_rating("[[11]]") is None


def test_bytes_that_are_not_utf8_name_their_line_and_column(tmp_path):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"question": "a", "answer": "b"}\n{"question": "caf\xe9", "answer": "c"}\n')
    with pytest.raises(BenchmarkError, match=r"latin1\.jsonl:2:18: error: byte 0xe9 is not UTF-8 text"):
        load("jsonl", str(bad), input_field="question", reference_field="answer")


def test_a_device_as_benchmark_path_is_not_read():
    with pytest.raises(BenchmarkError, match=r"/dev/zero: error: not a regular file"):
        load("jsonl", "/dev/zero", input_field="question", reference_field="answer")
