"""Built-in tasks: data sizes, aliases, difficulty knobs, humaneval in the sandbox."""

from __future__ import annotations

import pytest

from archon.benchmarks import load_benchmark
from archon.errors import BenchmarkError


def by_input(bench, text):
    return next(r for r in bench.records if r.input == text)


def test_capitals_has_enough_countries_and_grades():
    b = load_benchmark("capitals")
    assert len(b.records) >= 150
    assert {r.metadata["difficulty"] for r in b.records} == {"easy", "medium", "hard"}
    assert len({r.id for r in b.records}) == len(b.records)
    hard = load_benchmark("capitals", options={"difficulty": "hard"})
    assert 0 < len(hard.records) < len(b.records)


@pytest.mark.parametrize(
    "country, answer, value",
    [
        ("United States", "Washington, D.C.", 1.0),
        ("United States", "The capital of the United States is Washington DC.", 1.0),
        ("South Africa", "Cape Town", 1.0),
        ("South Africa", "Pretoria", 1.0),
        ("Bolivia", "La Paz", 1.0),
        ("Bolivia", "Sucre.", 1.0),
        ("Colombia", "bogota", 1.0),
        ("Mexico", "Mexico City", 1.0),
        ("Kuwait", "Kuwait", 1.0),
        ("Australia", "Sydney", 0.0),
        ("Tonga", "Nukualofa", 1.0),
        ("Myanmar", "Yangon", 0.0),
    ],
)
def test_capitals_alias_aware_scoring(country, answer, value):
    b = load_benchmark("capitals")
    assert b.score(by_input(b, country), answer).value == value


def test_capitals_extract_agrees_for_vote():
    b = load_benchmark("capitals")
    assert b.extract("Paris") == b.extract("The capital of France is Paris.") == b.extract("paris")


def test_antonyms_scoring():
    b = load_benchmark("antonyms")
    assert len(b.records) >= 150
    hot = by_input(b, "hot")
    assert b.score(hot, "Cold").value == 1.0
    assert b.score(hot, 'The opposite of "hot" is "cool".').value == 1.0
    assert b.score(hot, "warm").value == 0.0
    assert b.score(hot, "hot - cold").value == 1.0


def test_arithmetic_difficulty_knob():
    easy = load_benchmark("arithmetic", options={"difficulty": 1})
    hard = load_benchmark("arithmetic", options={"difficulty": 5})
    assert all(len(r.input.split()) == 3 for r in easy.records)
    assert all(len(r.input.split()) == 7 for r in hard.records)
    custom = load_benchmark("arithmetic", options={"steps": 2, "digits": 3, "operators": "+", "count": 10})
    assert len(custom.records) == 10 and all(len(t) == 3 for r in custom.records for t in r.input.split()[::2])
    with pytest.raises(BenchmarkError, match="difficulty"):
        load_benchmark("arithmetic", options={"difficulty": 9})


def test_arithmetic_scores_numbers():
    b = load_benchmark("arithmetic")
    r = b.records[0]
    assert b.score(r, f"{r.input} = {r.reference}").value == 1.0
    assert b.score(r, str(int(r.reference) + 1)).value == 0.0


def test_humaneval_164_problems_and_canonical_solutions_pass_in_the_sandbox():
    b = load_benchmark("humaneval")
    assert len(b.records) == 164
    for r in b.splits().dev[:5]:
        solution = r.reference["solution"]
        assert b.score(r, f"```python\n{solution}\n```").value == 1.0
        body_only = solution[len(r.reference["prompt"]):]
        assert b.score(r, body_only).value == 1.0
        assert b.score(r, "```python\nprint('hello')\n```").value == 0.0


def test_unknown_benchmark_suggests_a_name():
    with pytest.raises(BenchmarkError, match="did you mean 'capitals'"):
        load_benchmark("capitols")


def test_builtin_rejects_path():
    with pytest.raises(BenchmarkError, match="built in"):
        load_benchmark({"name": "capitals", "path": "x.jsonl"})
