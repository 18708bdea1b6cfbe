"""Judge-based scoring for open-ended instructions (MT-Bench, AlpacaEval, Arena-Hard style).

Pairwise: the judge model sees the question, the candidate answer and a reference answer and
says which is better (or a tie). It is asked twice, with the two answers in both positions, and
the two verdicts are averaged, so a judge that favours the first slot gains nothing. Per order:
win 1, tie 0.5, loss 0; a record's value is the mean of the two orders (0, .25, .5, .75 or 1),
and the benchmark's accuracy is the win rate against the reference with ties counted as half.

Rating: the judge gives a 1-10 grade, mapped to (grade - 1) / 9.

Every judge call goes through the :class:`archon.backends.Client`, so it is cached, retried and
counted like any other call. An unreadable verdict is a scorer error on that record (reported),
never a silent zero.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from archon.backends.records import CallRequest
from archon.benchmarks.base import Record, Score, Scorer
from archon.errors import BackendError, UsageError

__all__ = ["PairwiseJudgeScorer", "RatingJudgeScorer", "parse_pair_verdict", "parse_rating"]

_PAIR_SYSTEM = (
    "You compare two answers to the same user request and decide which one serves the user better. "
    "Weigh correctness first, then helpfulness, completeness and clarity. Length alone is no merit. "
    "Do not let the order of the answers influence you. Explain briefly, then end with exactly one "
    "verdict on its own line: [[A]] if Answer A is better, [[B]] if Answer B is better, [[TIE]] if "
    "they are equally good."
)
_PAIR_USER = "Request:\n{question}\n\n--- Answer A ---\n{a}\n\n--- Answer B ---\n{b}\n\nWhich answer is better?"

_RATE_SYSTEM = (
    "You grade one answer to a user request on a scale from 1 (useless or wrong) to 10 (excellent: "
    "correct, helpful, clear). Explain briefly, then end with the grade on its own line as "
    "[[N]], for example [[7]]."
)
_RATE_USER = "Request:\n{question}\n\n{reference}--- Answer ---\n{answer}\n\nGrade the answer."


def parse_pair_verdict(text: str) -> str | None:
    """``"A"``, ``"B"`` or ``"TIE"`` from a judge reply (the last bracketed verdict wins)."""
    hits = re.findall(r"\[\[\s*(A|B|TIE|TIED|EQUAL)\s*\]\]", text, flags=re.IGNORECASE)
    if hits:
        v = hits[-1].upper()
        return "TIE" if v in ("TIE", "TIED", "EQUAL") else v
    m = re.findall(r"(?:verdict|better answer|winner)\s*(?:is|:)\s*\**\s*(?:answer\s*)?(A|B|tie)\b", text, flags=re.IGNORECASE)
    if m:
        v = m[-1].upper()
        return "TIE" if v == "TIE" else v
    return None


def parse_rating(text: str) -> float | None:
    hits = re.findall(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]", text)
    if not hits:
        hits = re.findall(r"(?:rating|grade|score)\s*(?:is|:)\s*(\d+(?:\.\d+)?)", text, flags=re.IGNORECASE)
    if not hits:
        return None
    value = float(hits[-1])
    return value if 1 <= value <= 10 else None


def _reference_answer(record: Record) -> str | None:
    ref = record.reference
    if isinstance(ref, dict):
        return ref.get("answer")
    return None if ref is None else str(ref)


async def _ask(client: Any, model: str, system: str, user: str, max_tokens: int, tag: str) -> str:
    if client is None:
        raise UsageError("a judge scorer needs a model client (evaluate() passes one)")
    req = CallRequest(model=model, messages=(("system", system), ("user", user)), temperature=0.0,
                      max_tokens=max_tokens, tag=tag)
    (result,) = await client.complete([req])
    if result.error:
        raise BackendError(f"judge call failed: {result.error}")
    return result.text


class _JudgeScorer(Scorer):
    """What the model-judged scorers share: a judge model, and no synchronous scoring."""

    def __init__(self, *, judge_model: str = "local/smollm2", max_tokens: int = 512) -> None:
        self.judge_model = judge_model
        self.max_tokens = max_tokens

    def extract(self, text: str) -> str | None:
        return text.strip() or None

    def score(self, record: Record, text: str) -> Score:
        raise UsageError(f"the {self.name} scorer calls a model: use Benchmark.ascore with a client")


class PairwiseJudgeScorer(_JudgeScorer):
    """Candidate vs the record's reference answer, judged in both orders (see module docs)."""

    name = "judge"

    async def ascore(self, record: Record, text: str, client: Any = None) -> Score:
        reference = _reference_answer(record)
        if not reference:
            raise ValueError("record has no reference answer to compare with")
        question = record.input
        first, second = await asyncio.gather(
            _ask(client, self.judge_model, _PAIR_SYSTEM, _PAIR_USER.format(question=question, a=text, b=reference),
                 self.max_tokens, "judge"),
            _ask(client, self.judge_model, _PAIR_SYSTEM, _PAIR_USER.format(question=question, a=reference, b=text),
                 self.max_tokens, "judge"),
        )
        v1, v2 = parse_pair_verdict(first), parse_pair_verdict(second)
        if v1 is None or v2 is None:
            which = "first" if v1 is None else "second"
            raise ValueError(f"no verdict in the judge's {which} reply: {first if v1 is None else second!r:.120}")
        # Candidate is A in the first order and B in the second.
        points = {"A": 1.0, "TIE": 0.5, "B": 0.0}[v1] + {"B": 1.0, "TIE": 0.5, "A": 0.0}[v2]
        return Score(points / 2, f"{v1}/{v2}")

    def reference_text(self, record: Record) -> str:
        return _reference_answer(record) or ""


class RatingJudgeScorer(_JudgeScorer):
    """A 1-10 grade from the judge (with the reference answer shown when the record has one)."""

    name = "rating"

    async def ascore(self, record: Record, text: str, client: Any = None) -> Score:
        reference = _reference_answer(record)
        ref_block = f"--- A reference answer (for your comparison) ---\n{reference}\n\n" if reference else ""
        reply = await _ask(client, self.judge_model, _RATE_SYSTEM,
                           _RATE_USER.format(question=record.input, reference=ref_block, answer=text),
                           self.max_tokens, "judge")
        grade = parse_rating(reply)
        if grade is None:
            raise ValueError(f"no 1-10 grade in the judge's reply: {reply!r:.120}")
        return Score((grade - 1) / 9, f"{grade:g}")

    def reference_text(self, record: Record) -> str:
        return _reference_answer(record) or ""
