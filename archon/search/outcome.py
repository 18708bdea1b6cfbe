"""What a search returns: one :class:`TrialSummary` per trial and the :class:`SearchResult`.

Plain records shared by the driver, the report and the CLI; the report rebuilds the summaries
from the study's user attributes (archon.search.report.summaries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archon.search.estimate import SearchEstimate

__all__ = ["SearchResult", "TrialSummary"]


@dataclass
class TrialSummary:
    number: int
    status: str
    params: dict[str, Any]
    score: float | None = None
    ci: tuple[float, float] | None = None
    n: int = 0
    cost: dict[str, Any] = field(default_factory=dict)  # per query, cache-independent
    spent: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    spec_data: dict[str, Any] | None = None
    values: list[float] | None = None
    call_failed: int = 0  # queries left out of the score: a model call failed for good
    #: a cascade's stages on the trial's queries: rate (share past stage 1), stages, n
    escalation: dict[str, Any] | None = None


@dataclass
class SearchResult:
    run_dir: Path
    storage: str
    study_name: str
    objectives: list[str]
    trials: list[TrialSummary] = field(default_factory=list)
    best: TrialSummary | None = None
    pareto: list[TrialSummary] = field(default_factory=list)
    stopped: str | None = None
    ledger: dict[str, Any] = field(default_factory=dict)
    calls_made: int = 0  # backend calls, search and final test
    calls_cached: int = 0
    search_calls: dict[str, Any] = field(default_factory=dict)  # spend of the search proper (no test)
    wall_time: float = 0.0
    test: dict[str, Any] | None = None
    #: what best.yaml holds: label, trial (None for the baseline), spec_data, reason, verified
    emitted: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None  # the selection stage's record (Decision.to_dict)
    power: str | None = None  # what the selection split can detect, in words
    no_result: str | None = None  # why nothing could be emitted
    estimate: SearchEstimate | None = None  # --dry-run only
    dashboard: str | None = None
    resume_command: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
