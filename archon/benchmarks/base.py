"""Records, scores, splits and the :class:`Benchmark` object every task is.

Why splits are hash-ordered: the order of a record is ``sha256(f"{seed}:{id}")``, a function of
the seed and the record's id alone. It does not depend on Python's hash seed, on file order, on
the machine, or on the other records, so the same spec gives the same dev/test split everywhere.
Test takes the first ``test`` records of that order, dev the next ``dev``, shots the next
``shots``: growing dev or the shot pool never moves a record into or out of test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

if TYPE_CHECKING:
    from archon.benchmarks.scorers import Scorer

__all__ = ["Benchmark", "Kind", "Record", "Score", "Splits", "split_order", "split_records"]

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

    def get(self, name: str) -> list[Record]:
        if name not in ("shots", "dev", "test"):
            raise ValueError(f"unknown split {name!r} (use shots, dev or test)")
        return list(getattr(self, name))


def split_order(records: Sequence[Record], seed: int) -> list[Record]:
    """Records in the seed's order (see module docstring)."""
    return sorted(records, key=lambda r: (hashlib.sha256(f"{seed}:{r.id}".encode()).hexdigest(), r.id))


def split_records(records: Sequence[Record], *, shots: int, dev: int, test: int, seed: int) -> Splits:
    """Test first, then dev, then shots; a split gets fewer records when the data runs out."""
    ordered = split_order(records, seed)
    t = ordered[:test]
    d = ordered[test : test + dev]
    s = ordered[test + dev : test + dev + shots]
    return Splits(shots=s, dev=d, test=t)


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
    extract_fn: Callable[[str], str | None] | None = None
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def splits(self) -> Splits:
        return split_records(self.records, shots=self.shots, dev=self.dev, test=self.test, seed=self.seed)

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
