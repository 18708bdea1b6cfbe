"""The records a pipeline run is made of: candidates, per-query state, results and cost.

Why these shapes: annotations (critiques, verdicts, test results, scores) are attached to a
candidate *by id* and live on an immutable :class:`Candidate`; a node that annotates returns new
copies with the same id, so two branches of a DAG that annotate the same input never see each
other's annotations, and a node that *replaces* candidates (fuse, refine, vote) creates new ids
with empty annotations. Nothing an earlier candidate was told can leak onto a different one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Mapping

from archon.backends.records import Cost

__all__ = [
    "CallRecord",
    "Candidate",
    "Cost",
    "ParseFailure",
    "QueryResult",
    "QueryState",
    "Status",
    "sample_seed",
]

#: ``failed``: the architecture produced no answer (scored 0). ``over_budget``: it would exceed the
#: per-query budget (scored 0). ``call_failed``: a model call failed for good after its retries
#: (an external fault, not the architecture's doing: never scored as an answer; a search leaves
#: such queries out of the score and counts them).
Status = Literal["ok", "failed", "over_budget", "call_failed"]


def sample_seed(node_id: str, sample_index: int) -> int:
    """A stable 31-bit seed for sample ``sample_index`` of node ``node_id``.

    Derived by hashing (not ``hash()``, which is salted per process) so every process and every
    trial sends the same seed for the same call, and the call cache sees the same request.
    """
    digest = hashlib.sha256(f"{node_id}\x00{sample_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True, eq=False)
class Candidate:
    """One response: an id, its text, where it came from, and what later nodes said about it.

    ``id`` is unique within a query (``<node>:<model>:<sample>`` for sampled responses,
    ``<node>:<k>`` for derived ones). ``parents`` are the ids this candidate was built from.
    ``annotations`` maps a kind (``critique``, ``verdict``, ``tests``, ``score``, ``rank``) to a
    value; use :meth:`annotate` to get an annotated copy, never mutate it.
    """

    id: str
    text: str
    node: str
    model: str | None = None
    sample_index: int = 0
    parents: tuple[str, ...] = ()
    annotations: Mapping[str, Any] = field(default_factory=dict)

    def annotate(self, kind: str, value: Any) -> Candidate:
        """A copy of this candidate with one more annotation (same id: the same response)."""
        merged = dict(self.annotations)
        merged[kind] = value
        return replace(self, annotations=merged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "node": self.node,
            "model": self.model,
            "sample_index": self.sample_index,
            "parents": list(self.parents),
            "annotations": dict(self.annotations),
        }


@dataclass(frozen=True)
class CallRecord:
    """One call a query made: which node, what for, and how it went (for traces and tests)."""

    node: str
    tag: str
    model: str
    sample_index: int
    seed: int | None
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    dollars: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ParseFailure:
    """Model output a component could not fully parse, and what it did instead."""

    node: str
    what: str  # e.g. "ranking", "verdict", "score", "tests", "answer", "call"
    candidate: str | None
    detail: str
    fallback: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class QueryState:
    """Everything known about one query while a pipeline runs over it.

    ``candidates[node_id]`` is that node's output (after it ran). ``notes[node_id]`` holds what a
    node wants in the trace besides candidates (a vote tally, the fallback it used, ...).
    ``usage_*`` are *logical* totals (cached calls included) used for the per-query budget, so a
    budget decision never depends on what happens to be in the cache.
    """

    index: int
    query: str
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    cost: Cost = field(default_factory=Cost)
    status: Status = "ok"
    error: str | None = None
    parse_failures: list[ParseFailure] = field(default_factory=list)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage_calls: int = 0
    usage_prompt_tokens: int = 0
    usage_completion_tokens: int = 0
    usage_dollars: float = 0.0
    #: identities of the calls this query already made (a repeat is the same answer, not a cost)
    sent: set[tuple[Any, ...]] = field(default_factory=set)
    #: the answers of this query's successful calls by identity: a node that asks again (a later
    #: cascade stage sampling more of an earlier stage's prompt) gets the answer without a call
    answers: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    #: cascade node -> the stage (1-based) that answered this query
    answered_by: dict[str, int] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status == "ok"

    def fail(self, node: str, message: str) -> None:
        """Mark the query failed (first failure wins: it is the cause)."""
        if self.status == "ok":
            self.status = "failed"
            self.error = f"{node}: {message}"

    def call_failed(self, node: str, message: str) -> None:
        """A call failed for good: the query has no trustworthy answer (first failure wins)."""
        if self.status == "ok":
            self.status = "call_failed"
            self.error = f"{node}: a call failed after its retries: {message}"

    def reopen(self) -> str | None:
        """Undo a failure of the architecture (status ``failed``; not a failed call, not the
        budget) and return its message: a cascade stage that fails for a query hands the query
        to the next stage instead of failing it."""
        if self.status != "failed":
            return None
        message, self.status, self.error = self.error, "ok", None
        return message

    def stop_over_budget(self, node: str, message: str) -> None:
        if self.status == "ok":
            self.status = "over_budget"
            self.error = f"{node}: {message}"

    def note(self, node: str, key: str, value: Any) -> None:
        self.notes.setdefault(node, {})[key] = value

    def parse_failure(self, node: str, what: str, detail: str, fallback: str, candidate: str | None = None) -> None:
        self.parse_failures.append(ParseFailure(node, what, candidate, detail, fallback))

    def all_candidates(self) -> list[Candidate]:
        """Every node's output in execution order (a candidate passed through several nodes
        appears once per node, with the annotations it had there)."""
        return [c for cands in self.candidates.values() for c in cands]


@dataclass
class QueryResult:
    """The outcome of one query. ``answer`` is the text of the output node's first candidate;
    it is ``None`` when the query failed or went over budget."""

    query: str
    answer: str | None
    candidates: list[Candidate]
    status: Status
    error: str | None
    cost: Cost
    parse_failures: list[ParseFailure] = field(default_factory=list)
    trace: dict[str, Any] | None = None
    #: cascade node -> the stage (1-based) that answered (empty without a cascade)
    answered_by: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self, *, trace: bool | None = None) -> dict[str, Any]:
        """A JSON-ready record. Candidates are included when the result carries a trace
        (or ``trace=True``)."""
        with_trace = self.trace is not None if trace is None else trace
        out: dict[str, Any] = {
            "query": self.query,
            "answer": self.answer,
            "status": self.status,
            "error": self.error,
            "cost": self.cost.as_dict(),
            "parse_failures": [p.to_dict() for p in self.parse_failures],
        }
        if self.answered_by:
            out["answered_by"] = dict(self.answered_by)
        if with_trace:
            out["candidates"] = [c.to_dict() for c in self.candidates]
            if self.trace is not None:
                out["trace"] = self.trace
        return out
