"""Records, scores, splits, the :class:`Scorer` interface and the :class:`Benchmark` object every task is.

Why splits are hash-ordered: the order of a record is ``sha256(f"{seed}:{id}")``, a function of
the seed and the record's id alone. It does not depend on Python's hash seed, on file order, on
the machine, or on the other records, so the same spec gives the same splits everywhere.
The shot pool (few-shot examples) is the *last* ``shots`` records of that order; test takes the
first ``test`` records, dev the next ``dev``, selection the next ``selection``. So growing dev
or selection never moves a record into or out of test, and the shot pool (hence every few-shot
prompt, hence every cache entry) depends only on the seed and ``shots``: a replay table built on
every record serves any split sizes. When the data runs out, an explicitly sized selection split
shrinks first, then dev; a selection split left unset (twice dev) shares what is left after test
with dev in that ratio instead, so a small dataset still keeps held-out records for choosing the
winner (without them, nothing the search finds could be checked before it is emitted).

Why twice dev: dev only has to bring a real winner into the top few candidates, while selection
has to *certify* it against the baseline with a paired test, and that is where queries buy power.
In benchmarks/bench_selection_power.py (the real selection stage on simulated spaces, 400 draws),
moving 120 records from 60 dev + 60 selection to 40 + 80 finds a true +0.15 winner 55% of the time
instead of 45%, a +0.20 winner 86% instead of 74%, and emits a false win 2.8% instead of 1.8% of
the time under the null (the family-wise level is 5%); 30 + 90 gains little more.

Why a selection split: the search chooses by dev, so the dev score of its winner is biased up
(the winner's curse). The final choice between the top candidates and the baseline is made on
selection records no trial saw; test stays untouched until the report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

from archon.benchmarks.text import first_answer_line, normalize
from archon.errors import UsageError

__all__ = ["SPLIT_NAMES", "Benchmark", "Kind", "Record", "Score", "Scorer", "Splits", "references", "split_order", "split_records"]

Kind = Literal["qa", "code", "choice", "math", "judge"]


@dataclass(frozen=True)
class Record:
    """One example. ``reference`` is whatever the scorer compares with (a string, a list of
    accepted strings, tests for code...). ``metadata`` carries task-specific extras."""

    id: str
    input: str
    reference: Any
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Score:
    """``value`` in [0, 1]. ``error`` is set when the scorer could not judge the record: the value
    is then 0 and the failure is counted and reported, never silent."""

    value: float
    extracted: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Splits:
    shots: list[Record]
    dev: list[Record]
    test: list[Record]
    selection: list[Record] = field(default_factory=list)

    def get(self, name: str) -> list[Record]:
        if name not in SPLIT_NAMES:
            raise UsageError(f"unknown split {name!r} (use {', '.join(SPLIT_NAMES)})")
        return list(getattr(self, name))


#: Every split a benchmark has.
SPLIT_NAMES = ("shots", "dev", "selection", "test")


#: An unset selection split is this many times dev (module docstring: "Why twice dev").
SELECTION_PER_DEV = 2


def split_order(records: Sequence[Record], seed: int) -> list[Record]:
    """Records in the seed's order (see module docstring)."""
    return sorted(records, key=lambda r: (hashlib.sha256(f"{seed}:{r.id}".encode()).hexdigest(), r.id))


def split_records(records: Sequence[Record], *, shots: int, dev: int, test: int, seed: int,
                  selection: int | None = 0) -> Splits:
    """Shots from the end of the order; test, dev, selection from the front (module docstring).
    ``selection=None`` means ``SELECTION_PER_DEV`` times dev, sharing scarce records in that ratio."""
    ordered = split_order(records, seed)
    s = ordered[len(ordered) - shots :] if shots else []
    rest = ordered[: len(ordered) - len(s)]
    t = rest[:test]
    if selection is None:
        left = max(0, len(rest) - len(t))
        if left < (1 + SELECTION_PER_DEV) * dev:
            dev = min(dev, -(-left // (1 + SELECTION_PER_DEV)))  # what test leaves, shared 1 : SELECTION_PER_DEV
        selection = min(SELECTION_PER_DEV * dev, left - dev)
    d = rest[test : test + dev]
    sel = rest[test + dev : test + dev + selection]
    return Splits(shots=s, dev=d, test=t, selection=sel)


def references(record: Record) -> list[str]:
    """The accepted answers of a record: a list reference, or one string."""
    ref = record.reference
    if isinstance(ref, (list, tuple)):
        return [str(r) for r in ref]
    if isinstance(ref, dict) and "answers" in ref:
        return [str(r) for r in ref["answers"]]
    return [str(ref)]


class Scorer:
    """How a model's text is compared with a record's reference (the registry is in
    :mod:`archon.benchmarks.scorers`). Subclasses implement :meth:`score` (sync) or override
    :meth:`ascore` (judge scorers, which call a model)."""

    name = "base"

    def extract(self, text: str) -> str | None:
        line = first_answer_line(text)
        return normalize(line) if line else None

    def score(self, record: Record, text: str) -> Score:
        raise NotImplementedError

    async def ascore(self, record: Record, text: str, client: Any = None) -> Score:
        return self.score(record, text)

    def reference_text(self, record: Record) -> str:
        """How a solved example shows its answer in a few-shot prompt."""
        return references(record)[0]

    def safe_score(self, record: Record, text: str) -> Score:
        try:
            return _checked(self.score(record, text))
        except Exception as exc:  # noqa: BLE001 - a scorer failure is a recorded outcome, not a crash
            return Score(0.0, None, f"{self.name} scorer failed: {type(exc).__name__}: {exc}")

    async def safe_ascore(self, record: Record, text: str, client: Any = None) -> Score:
        try:
            return _checked(await self.ascore(record, text, client))
        except Exception as exc:  # noqa: BLE001 - as in safe_score: recorded on the record, counted in the report
            return Score(0.0, None, f"{self.name} scorer failed: {type(exc).__name__}: {exc}")


def _checked(score: Score) -> Score:
    if not isinstance(score, Score):
        raise TypeError(f"scorer returned {type(score).__name__}, not Score")
    if not 0.0 <= float(score.value) <= 1.0:
        raise ValueError(f"score {score.value} outside [0, 1]")
    return score


@dataclass
class Benchmark:
    """A task: records, how to ask, how to read the answer, how to score it.

    ``prompt_fn`` turns a record into the query text; ``scorer`` both extracts and scores (a
    built-in may pass its own ``extract_fn`` so that vote groups answers the way scoring does).
    ``judge_model`` is the model that judge-based scorers call through the client.
    """

    name: str
    kind: Kind
    records: list[Record]
    prompt_fn: Callable[[Record], str]
    scorer: Scorer
    shots: int = 8
    dev: int = 50
    test: int = 100
    seed: int = 0
    #: None: twice dev, sharing scarce records with dev in that ratio (split_records)
    selection: int | None = 0
    extract_fn: Callable[[str], str | None] | None = None
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def splits(self) -> Splits:
        return split_records(self.records, shots=self.shots, dev=self.dev, test=self.test, seed=self.seed,
                             selection=self.selection)

    def prompt(self, record: Record) -> str:
        return self.prompt_fn(record)

    def extract(self, text: str) -> str | None:
        """The comparable answer in ``text`` (what vote counts), ``None`` if there is none."""
        if self.extract_fn is not None:
            return self.extract_fn(text)
        return self.scorer.extract(text)

    def score(self, record: Record, text: str) -> Score:
        """Score synchronously. Never raises: a failure becomes ``Score(0, error=...)``."""
        return self.scorer.safe_score(record, text)

    async def ascore(self, record: Record, text: str, client: Any = None) -> Score:
        """Score; judge scorers call their model through ``client`` here. Never raises."""
        return await self.scorer.safe_ascore(record, text, client)

    def shot_pairs(self) -> list[tuple[str, str]]:
        """(query, answer) pairs of the shot pool, for few-shot prompts."""
        return [(self.prompt(r), self.scorer.reference_text(r)) for r in self.splits().shots]
