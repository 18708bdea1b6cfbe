"""Scorers: how a model's text is compared with a record's reference.

A registry of small classes, each with ``extract(text)`` (what vote counts as "the answer") and
``score(record, text) -> Score``. ``safe_score``/``safe_ascore`` wrap every scorer so that one
that fails on a record returns ``Score(0, error=...)``: the run goes on and the report counts the
failure instead of hiding it.

Names usable in a spec's ``scorer:``: exact, numeric, math, choice, code, judge, rating, contains,
regex, and ``module:function`` for your own (called as ``function(record, text)``; it may return a
``Score``, a bool or a number in [0, 1]).
"""

from __future__ import annotations

import asyncio
import importlib
import re
import sys
import threading
from decimal import Decimal
from typing import Any, Callable

from archon.benchmarks.base import Record, Score, Scorer, references
from archon.benchmarks.judge import PairwiseJudgeScorer, RatingJudgeScorer
from archon.benchmarks.text import (
    extract_boxed,
    extract_choice,
    extract_code,
    extract_number,
    normalize,
    parse_number,
)
from archon.errors import BenchmarkError
from archon.sandbox import run_python
from archon.spec.pyref import check_function_ref
from archon.util import import_optional

__all__ = [
    "SCORERS",
    "ExactScorer",
    "NumericScorer",
    "MathScorer",
    "ChoiceScorer",
    "CodeScorer",
    "ContainsScorer",
    "RegexScorer",
    "CallableScorer",
    "make_scorer",
]


class ExactScorer(Scorer):
    """Normalised equality with any accepted answer (case, punctuation, diacritics, articles).

    ``span=True`` also accepts an answer line that *contains* an accepted answer as whole words
    ("Paris, France" for "Paris"), which suits short factual answers from small models.
    """

    name = "exact"

    def __init__(self, *, span: bool = False, aliases: Callable[[str], list[str]] | None = None) -> None:
        self.span = span
        self.aliases = aliases

    def score(self, record: Record, text: str) -> Score:
        got = self.extract(text)
        if got is None:
            return Score(0.0, None)
        accepted = {normalize(a) for a in references(record)}
        accepted.discard("")
        if got in accepted:
            return Score(1.0, got)
        if self.span:
            padded = f" {got} "
            if any(f" {a} " in padded for a in accepted):
                return Score(1.0, got)
        return Score(0.0, got)


class NumericScorer(Scorer):
    """Numbers compared as numbers: "1,000" == "1000" == "1000.0"; units and "$" ignored;
    ``rel_tol``/``abs_tol`` for non-integers."""

    name = "numeric"

    def __init__(self, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
        self.rel_tol = Decimal(str(rel_tol))
        self.abs_tol = Decimal(str(abs_tol))

    def extract(self, text: str) -> str | None:
        return extract_number(text)

    def score(self, record: Record, text: str) -> Score:
        got = self.extract(text)
        refs = [n for n in (parse_number(extract_number(r) or r) for r in references(record)) if n is not None]
        if not refs:
            raise ValueError(f"reference {record.reference!r} holds no number")
        if got is None:
            return Score(0.0, None)
        value = Decimal(got)
        ok = any(abs(value - r) <= max(self.abs_tol, self.rel_tol * abs(r)) for r in refs)
        return Score(1.0 if ok else 0.0, got)


class MathScorer(Scorer):
    r"""Mathematical equivalence with math-verify (``\frac{1}{2}`` == ``0.5`` == ``1/2``).

    math-verify's own timeouts use ``signal.alarm``, which fails off the main thread; we turn
    them off and run the check in a daemon thread we wait on for ``timeout`` seconds instead.
    """

    name = "math"

    def __init__(self, *, timeout: float = 5.0) -> None:
        self.timeout = timeout

    def extract(self, text: str) -> str | None:
        boxed = extract_boxed(text)
        if boxed is not None:
            return boxed
        m = re.findall(r"answer\s*(?:is|:)\s*\$?([^$\n]+?)\$?\s*(?:\.|$)", text, flags=re.IGNORECASE | re.MULTILINE)
        if m:
            return m[-1].strip()
        return extract_number(text)

    def score(self, record: Record, text: str) -> Score:
        got = self.extract(text)
        if got is None:
            return Score(0.0, None)
        for ref in references(record):
            if math_equal(ref, got, timeout=self.timeout):
                return Score(1.0, got)
        return Score(0.0, got)

    def reference_text(self, record: Record) -> str:
        return f"\\boxed{{{references(record)[0]}}}"


def math_equal(reference: str, answer: str, *, timeout: float = 5.0) -> bool:
    """True when math-verify finds ``answer`` equivalent to ``reference``; raises TimeoutError
    when the check runs past ``timeout`` (a pathological expression), never hangs."""
    math_verify = import_optional("math_verify", feature="the math scorer", extra="bench")
    parse, verify = math_verify.parse, math_verify.verify

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            gold = parse(_as_latex(reference), parsing_timeout=None)
            pred = parse(_as_latex(answer), parsing_timeout=None)
            box["ok"] = bool(verify(gold, pred, timeout_seconds=None))
        except Exception as exc:  # noqa: BLE001 - reported to the caller below
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True, name="archon-math-verify")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"math-verify took longer than {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box["ok"]


def _as_latex(expr: str) -> str:
    expr = expr.strip()
    if "\\boxed" in expr or expr.startswith("$"):
        return expr
    return f"${expr}$"


class ChoiceScorer(Scorer):
    """Multiple choice: the letter the answer commits to, compared with the reference letter."""

    name = "choice"

    def __init__(self, *, letters: str = "ABCDEFGHIJ") -> None:
        self.letters = letters

    def extract(self, text: str) -> str | None:
        return extract_choice(text, self.letters)

    def score(self, record: Record, text: str) -> Score:
        ref = str(record.reference).strip().upper()
        if ref not in self.letters:
            raise ValueError(f"reference {record.reference!r} is not a choice letter")
        letters = record.metadata.get("letters", self.letters)
        got = extract_choice(text, letters)
        return Score(1.0 if got == ref else 0.0, got)


class ContainsScorer(Scorer):
    """1 when the normalised response contains any normalised reference as whole words."""

    name = "contains"

    def extract(self, text: str) -> str | None:
        return normalize(text) or None

    def score(self, record: Record, text: str) -> Score:
        got = f" {normalize(text)} "
        hit = next((r for r in references(record) if normalize(r) and f" {normalize(r)} " in got), None)
        return Score(1.0 if hit else 0.0, normalize(hit) if hit else None)


class RegexScorer(Scorer):
    """The reference is a regular expression; 1 when it matches the response (``re.search``)."""

    name = "regex"

    def extract(self, text: str) -> str | None:
        return text.strip() or None

    def score(self, record: Record, text: str) -> Score:
        for pattern in references(record):
            m = re.search(pattern, text, flags=re.IGNORECASE | re.MULTILINE)
            if m:
                return Score(1.0, m.group(0))
        return Score(0.0, None)


class CodeScorer(Scorer):
    """Pass@1 by execution in :mod:`archon.sandbox` (never in this process).

    The record's reference is a dict: ``tests`` (a program that raises on failure, e.g. asserts or
    HumanEval's ``check``), optional ``prompt`` (code the answer builds on), ``entry_point`` (the
    function the tests call, e.g. ``check(candidate)``) and ``setup`` code. The answer's code may be
    a whole function (it may repeat the signature) or only the body of the prompt's function.
    """

    name = "code"
    #: At most this many sandbox processes at once per scorer (2-core machines).
    concurrency = 2

    def __init__(self, *, timeout: float = 10.0, memory_mb: int = 1024) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._sem: asyncio.Semaphore | None = None

    def extract(self, text: str) -> str | None:
        code = extract_code(text)
        return code if code.strip() else None

    def program(self, record: Record, text: str) -> str:
        ref = record.reference
        if not isinstance(ref, dict) or "tests" not in ref:
            raise ValueError("a code record's reference must be a mapping with 'tests'")
        code = extract_code(text)
        prompt = ref.get("prompt") or ""
        entry = ref.get("entry_point")
        parts = [ref.get("setup") or ""]
        if prompt:
            if entry and re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, flags=re.MULTILINE):
                # A whole function: the prompt's imports and helpers first, then the answer's
                # definition (a later def replaces the prompt's docstring-only stub).
                parts += [prompt, code]
            else:
                parts.append(prompt + _as_body(code))
        else:
            parts.append(code)
        parts.append(ref["tests"])
        if entry and ref.get("call_check", True) and re.search(r"^def\s+check\s*\(", ref["tests"], flags=re.MULTILINE):
            parts.append(f"check({entry})")
        return "\n\n".join(p.rstrip() for p in parts if p) + "\n"

    def score(self, record: Record, text: str) -> Score:
        if not extract_code(text).strip():
            return Score(0.0, None)
        result = run_python(self.program(record, text), timeout=self.timeout, memory_mb=self.memory_mb)
        summary = result.status if result.ok else f"{result.status}: {_last_line(result.stderr)}"
        return Score(1.0 if result.ok else 0.0, summary)

    async def ascore(self, record: Record, text: str, client: Any = None) -> Score:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        async with self._sem:
            return await asyncio.to_thread(self.score, record, text)

    def reference_text(self, record: Record) -> str:
        ref = record.reference
        solution = ref.get("solution") if isinstance(ref, dict) else None
        return f"```python\n{solution}\n```" if solution else ""


def _as_body(code: str) -> str:
    """Indent a body-only completion under the prompt's function when it is not indented."""
    lines = code.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    if first.startswith((" ", "\t")):
        return "\n" + code if not code.startswith("\n") else code
    return "\n" + "\n".join(("    " + ln) if ln.strip() else ln for ln in lines) + "\n"


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


class CallableScorer(Scorer):
    """A user function ``module:function`` called as ``function(record, text)``.

    The reference is checked when the scorer is made, without importing (archon.spec.pyref);
    the module is imported at the first score, so loading a benchmark (``--dry-run``,
    ``archon validate``) never runs user code."""

    def __init__(self, target: str) -> None:
        self.name = target
        problem = check_function_ref(target, tuple(sys.path))
        if problem:
            raise BenchmarkError(f"scorer {target!r}: {problem}")
        self._fn: Callable[[Record, str], Any] | None = None

    @property
    def fn(self) -> Callable[[Record, str], Any]:
        if self._fn is None:
            module_name, _, attr = self.name.partition(":")
            fn = getattr(importlib.import_module(module_name), attr, None)
            if not callable(fn):
                raise BenchmarkError(f"scorer {self.name!r}: {module_name!r} has no callable {attr!r}")
            self._fn = fn
        return self._fn

    def score(self, record: Record, text: str) -> Score:
        out = self.fn(record, text)
        if isinstance(out, Score):
            return out
        if isinstance(out, bool):
            return Score(1.0 if out else 0.0, None)
        if isinstance(out, (int, float)):
            return Score(float(out), None)
        raise TypeError(f"returned {type(out).__name__}; expected Score, bool or a number")


SCORERS: dict[str, Callable[..., Scorer]] = {
    "exact": ExactScorer,
    "numeric": NumericScorer,
    "math": MathScorer,
    "choice": ChoiceScorer,
    "code": CodeScorer,
    "contains": ContainsScorer,
    "regex": RegexScorer,
    "judge": PairwiseJudgeScorer,
    "rating": RatingJudgeScorer,
}


def make_scorer(name: str, **options: Any) -> Scorer:
    """A scorer by registry name or ``module:function``. Raises BenchmarkError for an unknown name."""
    if ":" in name:
        return CallableScorer(name)
    factory = SCORERS.get(name)
    if factory is None:
        raise BenchmarkError(f"unknown scorer {name!r} (known: {', '.join(sorted(SCORERS))}, or module:function)")
    try:
        return factory(**options)
    except TypeError as exc:
        raise BenchmarkError(f"scorer {name!r}: bad options {options}: {exc}") from exc
