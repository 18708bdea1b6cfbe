"""Each scorer on hand-made edge cases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from archon.benchmarks import Record, Score, make_scorer
from archon.benchmarks.scorers import CodeScorer, MathScorer, math_equal
from archon.benchmarks.text import extract_boxed, extract_choice, extract_code, extract_number, normalize
from archon.errors import BenchmarkError

FIXTURES = Path(__file__).parent / "fixtures"


def rec(reference, **meta) -> Record:
    return Record(id="r", input="q", reference=reference, metadata=meta)


# ----------------------------------------------------------------------------- text helpers


@pytest.mark.parametrize(
    "a, b",
    [
        ("Washington, D.C.", "washington dc"),
        ("Washington D.C", "Washington DC"),
        ("Bogotá", "bogota"),
        ("Nuku'alofa", "Nukualofa"),
        ("Port-au-Prince", "port au prince"),
        ("The Hague", "hague"),
    ],
)
def test_normalize_equates_spellings(a, b):
    assert normalize(a) == normalize(b)


def test_boxed_extraction_matches_nested_braces():
    assert extract_boxed(r"so \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    assert extract_boxed(r"\boxed{a} then \boxed{\sqrt{\frac{3}{4}}}") == r"\sqrt{\frac{3}{4}}"
    assert extract_boxed(r"\boxed {x^{2}}") == "x^{2}"
    assert extract_boxed(r"\boxed{\frac{1}{2}") is None  # unbalanced: no answer, not a wrong one
    assert extract_boxed("no box") is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The total is 1,000 apples.", "1000"),
        ("It costs $3.50 in total", "3.5"),
        ("12 km", "12"),
        ("first 3 then 4, so the answer is 7.", "7"),
        ("work...\n#### 1,234", "1234"),
        ("-5 degrees", "-5"),
        ("no digits here", None),
        ("3/4 of it", "0.75"),
    ],
)
def test_extract_number(text, expected):
    assert extract_number(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("B", "B"),
        ("(C)", "C"),
        ("The answer is (D) because the other options are wrong.", "D"),
        ("A is tempting, but the correct answer is B.", "B"),
        ("Let me think. Option A says X; option C says Y. Answer: C", "C"),
        ("I think that a planet is a body. Answer: A", "A"),
        ("**B** is correct", "B"),
        ("I do not know", None),
    ],
)
def test_extract_choice_with_explanations(text, expected):
    assert extract_choice(text) == expected


def test_extract_code_prefers_python_fence_and_joins_blocks():
    text = "Here:\n```python\ndef f():\n    return 1\n```\nand\n```python\nprint(f())\n```\n```bash\nls\n```"
    code = extract_code(text)
    assert "def f()" in code and "print(f())" in code and "ls" not in code


# ----------------------------------------------------------------------------- scorers


def test_exact_scorer_aliases_and_normalisation():
    s = make_scorer("exact")
    r = rec(["Washington, D.C.", "Washington DC"])
    assert s.score(r, "washington dc").value == 1.0
    assert s.score(r, "Answer: Washington, D.C.").value == 1.0
    assert s.score(r, "New York").value == 0.0
    assert s.score(r, "   ") == Score(0.0, None)


def test_numeric_scorer_commas_units_and_tolerance():
    s = make_scorer("numeric")
    assert s.score(rec("1000"), "1,000").value == 1.0
    assert s.score(rec("1,000"), "The answer is 1000 dollars").value == 1.0
    assert s.score(rec("12"), "12 km").value == 1.0
    assert s.score(rec("0.5"), "0.5000000001").value == 1.0
    assert s.score(rec("0.5"), "0.51").value == 0.0
    assert s.score(rec("7"), "I am not sure").value == 0.0


def test_numeric_scorer_reference_without_number_is_reported_not_zero_silently():
    s = make_scorer("numeric")
    score = s.safe_score(rec("many"), "5")
    assert score.value == 0.0 and score.error and "holds no number" in score.error


@pytest.mark.parametrize(
    "reference, answer, expected",
    [
        (r"\frac{1}{2}", r"The result is \boxed{\frac{1}{2}}", 1.0),
        (r"\frac{1}{2}", r"\boxed{0.5}", 1.0),
        (r"\frac{1}{2}", r"\boxed{\dfrac{2}{4}}", 1.0),
        ("(2,3)", r"\boxed{(2, 3)}", 1.0),
        (r"\sqrt{2}", r"\boxed{\frac{1}{2}}", 0.0),
        ("5", "so the answer is 5", 1.0),
    ],
)
def test_math_scorer_equivalence(reference, answer, expected):
    assert MathScorer().score(rec(reference), answer).value == expected


def test_math_verify_runs_off_the_main_thread():
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(math_equal, "1/2", "0.5").result() is True


def test_choice_scorer():
    s = make_scorer("choice")
    assert s.score(rec("B"), "Mars is red, so the answer is (B).").value == 1.0
    assert s.score(rec("B"), "A").value == 0.0
    bad = s.safe_score(rec("Z9"), "A")
    assert bad.error is not None


def test_contains_and_regex_scorers():
    assert make_scorer("contains").score(rec(["blue whale"]), "It is the Blue Whale!").value == 1.0
    assert make_scorer("contains").score(rec(["blue"]), "bluebird").value == 0.0
    assert make_scorer("regex").score(rec(r"\b4\d\b"), "about 42").value == 1.0
    assert make_scorer("regex").score(rec(r"^yes$"), "no").value == 0.0


def test_callable_scorer_and_its_failures_are_recorded():
    sys.path.insert(0, str(FIXTURES))
    try:
        ok = make_scorer("my_scorer:length_ok")
        assert ok.score(rec("5"), "abc").value == 1.0
        broken = make_scorer("my_scorer:broken")
        score = broken.safe_score(rec("5"), "abc")
        assert score.value == 0.0 and "scorer bug" in score.error
    finally:
        sys.path.remove(str(FIXTURES))
    with pytest.raises(BenchmarkError, match="no module .no_such_module_xyz. on the Python path"):
        make_scorer("no_such_module_xyz:f")
    with pytest.raises(BenchmarkError, match="unknown scorer"):
        make_scorer("exactish")


CODE_REF = {"prompt": "def add(a, b):\n    \"\"\"Add.\"\"\"\n", "tests": "def check(c):\n    assert c(1, 2) == 3\n",
            "entry_point": "add"}


def test_code_scorer_full_function_body_only_and_fenced():
    s = CodeScorer(timeout=10)
    assert s.score(rec(CODE_REF), "```python\ndef add(a, b):\n    return a + b\n```").value == 1.0
    assert s.score(rec(CODE_REF), "    return a + b\n").value == 1.0
    assert s.score(rec(CODE_REF), "return a + b").value == 1.0  # unindented body


def test_code_scorer_prints_instead_of_returning_fails():
    s = CodeScorer(timeout=10)
    score = s.score(rec(CODE_REF), "```python\ndef add(a, b):\n    print(a + b)\n```")
    assert score.value == 0.0 and "AssertionError" in score.extracted


def test_code_scorer_hanging_code_times_out():
    s = CodeScorer(timeout=2)
    score = s.score(rec(CODE_REF), "```python\ndef add(a, b):\n    while True:\n        pass\n```")
    assert score.value == 0.0 and score.extracted.startswith("timeout")


def test_code_scorer_asserts_style_tests_mbpp():
    s = CodeScorer(timeout=10)
    ref = {"tests": "assert add(1, 2) == 3", "setup": ""}
    assert s.score(rec(ref), "def add(a, b):\n    return a + b").value == 1.0
    assert s.score(rec(ref), "def add(a, b):\n    return a - b").value == 0.0


def test_code_scorer_never_runs_code_in_process(tmp_path):
    marker = tmp_path / "ran-in-process"
    s = CodeScorer(timeout=10)
    code = f"```python\nopen({str(marker)!r}, 'w').write('x')\ndef add(a, b):\n    return a + b\n```"
    s.score(rec(CODE_REF), code)
    assert not marker.exists()


def test_a_scorer_reference_is_checked_without_running_the_module(tmp_path, monkeypatch):
    side_effect = tmp_path / "imported"
    (tmp_path / "noisy_scorer.py").write_text(
        f"open({str(side_effect)!r}, 'w').write('ran')\n\ndef ok(record, text):\n    return True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    scorer = make_scorer("noisy_scorer:ok")
    assert not side_effect.exists()  # made and checked, not imported
    with pytest.raises(BenchmarkError, match="defines no 'missing' at its top level"):
        make_scorer("noisy_scorer:missing")
    with pytest.raises(BenchmarkError, match="standard-library module"):
        make_scorer("os:system")
    assert scorer.score(rec("x"), "y").value == 1.0 and side_effect.exists()  # imported when first used
