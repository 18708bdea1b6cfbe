"""Parsing of model output: rankings, verdicts, scores, per-test results, final answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archon.components.parsing import (
    default_extract,
    extract_code,
    parse_checks,
    parse_code_tests,
    parse_ranking,
    parse_score,
    parse_test_results,
    parse_verdict,
)


@pytest.mark.parametrize(
    ("text", "n", "order", "found"),
    [
        ('{"ranking": [3, 1, 2]}', 3, (2, 0, 1), 3),
        ("```json\n[2, 3, 1]\n```", 3, (1, 2, 0), 3),
        ("[2] > [1] > [3]", 3, (1, 0, 2), 3),
        ("[3]>[1]", 3, (2, 0, 1), 2),
        ("2, 1, 3", 3, (1, 0, 2), 3),
        ("1. [3]\n2. [1]\n3. [2]", 3, (2, 0, 1), 3),
        ("1. 3\n2. 1\n3. 2", 3, (2, 0, 1), 3),
        ("First: Answer 2\nSecond: Answer 3", 3, (1, 2, 0), 2),
        ("Response 4 is the best, followed by response 2.", 4, (3, 1, 0, 2), 2),
        ("[2] > [2] > [9] > [1]", 3, (1, 0, 2), 2),  # repeats and out-of-range ignored
        ("[1] > [2] > [3] > [4]", 4, (0, 1, 2, 3), 4),
    ],
)
def test_ranking_formats(text: str, n: int, order: tuple[int, ...], found: int) -> None:
    parsed = parse_ranking(text, n)
    assert parsed.ok
    assert parsed.order == order
    assert parsed.found == found


@pytest.mark.parametrize("text", ["", "I cannot decide.", "[7] > [9]", "{\"ranking\": []}"])
def test_ranking_failure_keeps_original_order(text: str) -> None:
    parsed = parse_ranking(text, 3)
    assert not parsed.ok
    assert parsed.order == (0, 1, 2)
    assert parsed.detail


def test_partial_ranking_is_reported() -> None:
    parsed = parse_ranking("[4]", 4)
    assert parsed.ok and parsed.found == 1
    assert parsed.order == (3, 0, 1, 2)
    assert "appended" in parsed.detail


@given(st.lists(st.integers(min_value=-3, max_value=12), max_size=15), st.integers(min_value=1, max_value=9))
def test_ranking_is_always_a_permutation(numbers: list[int], n: int) -> None:
    text = " > ".join(f"[{k}]" for k in numbers)
    parsed = parse_ranking(text, n)
    assert sorted(parsed.order) == list(range(n))
    expected_first = next((k - 1 for k in numbers if 1 <= k <= n), 0)
    assert parsed.order[0] == expected_first


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"verdict": "yes"}', True),
        ('{"verdict": "no"}', False),
        ('{"correct": false}', False),
        ("Yes.", True),
        ("yes, the answer is right", True),
        ("No. Paris is not the capital of Spain.", False),
        ("The answer is not correct.", False),
        ("The answer isn't correct", False),
        ("The answer is incorrect.", False),
        ("Verdict: no", False),
        ("After checking: Verdict: YES", True),
        ("Correct", True),
        ("It fails the second requirement", False),
        ("I am unsure.", None),
        ("", None),
    ],
)
def test_verdicts(text: str, expected: bool | None) -> None:
    assert parse_verdict(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"score": 7}', 7.0),
        ("Score: 8", 8.0),
        ("I would give it 6/10.", 6.0),
        ("9 out of 10", 9.0),
        ("Score: 11", None),
        ("7.5", 7.5),
        ("no idea", None),
        ('{"score": true}', None),
    ],
)
def test_scores(text: str, expected: float | None) -> None:
    assert parse_score(text) == expected


def test_per_test_results_by_whole_words() -> None:
    results, complete = parse_test_results("Check 1: PASS\nCheck 2: FAIL\nCheck 3: passed", 3)
    assert results == [True, False, True] and complete
    # "bypass", "passage", "fairly" must not count as verdicts (no substring matching)
    results, complete = parse_test_results("Check 1: the passage is fairly long, bypassing it\nCheck 2: FAIL", 2)
    assert results == [None, False] and not complete
    results, complete = parse_test_results("Check 2: fail\nCheck 1: pass", 2)
    assert results == [True, False] and complete
    results, complete = parse_test_results("Test 1 - not satisfied\nTest 2 - satisfied", 2)
    assert results == [False, True] and complete


def test_per_test_results_json_and_unnumbered() -> None:
    assert parse_test_results('{"results": [true, false]}', 2) == ([True, False], True)
    assert parse_test_results("PASS\nFAIL\nPASS", 3) == ([True, False, True], True)
    assert parse_test_results("PASS", 3) == ([None, None, None], False)


def test_code_and_checks_extraction() -> None:
    reply = "Here:\n```python\nassert add(1, 2) == 3\n# note\nassert add(0, 0) == 0\n```"
    assert parse_code_tests(reply, 5) == ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]
    assert parse_code_tests(reply, 1) == ["assert add(1, 2) == 3"]
    assert parse_code_tests("no tests here", 3) == []
    assert extract_code("text\n```\nx = 1\n```") == "x = 1"
    assert extract_code("no code") is None
    assert parse_checks("1. is short\n2) names Paris\n- extra", 5) == ["is short", "names Paris", "extra"]
    assert parse_checks("just one line", 3) == ["just one line"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is: Paris.", "paris"),
        ("Reasoning...\nFinal answer: 42", "42"),
        ("so \\boxed{17}", "17"),
        ("3 apples and 4 pears make 7", "7"),
        ("It costs 1,250 dollars", "1250"),
        ("2.50", "2.5"),
        ("  Paris!  ", "paris"),
        ("", None),
    ],
)
def test_default_extract(text: str, expected: str | None) -> None:
    assert default_extract(text) == expected
