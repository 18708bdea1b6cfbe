"""The exception tree of archon.

Every error archon raises on purpose derives from :class:`ArchonError`. The CLI maps
:class:`InputError` (and its subclasses) to exit status 2 and prints their messages without a
traceback; anything else is an internal error (exit status 1).

    ArchonError
    ├── InputError                 bad input from the user (exit 2)
    │   ├── SpecError              a spec file is invalid; carries one or more Diagnostics
    │   │   └── PerQueryBudgetError    a pipeline needs more per query than budget.per_query allows
    │   ├── ImportArchonError      an Archon JSON config cannot be converted
    │   └── BenchmarkError         a benchmark cannot be loaded or is malformed
    ├── BudgetError                a budget would be or was exceeded (PerQueryBudgetError too)
    ├── BackendError               a model call failed
    │   ├── RetryableBackendError  rate limit, 5xx, timeout: worth retrying
    │   └── MissingDependencyError an optional dependency is not installed
    ├── SandboxError               the sandbox itself failed (not the code inside it)
    └── SearchError                the search driver cannot go on
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ArchonError",
    "BackendError",
    "BenchmarkError",
    "BudgetError",
    "Diagnostic",
    "ImportArchonError",
    "InputError",
    "MissingDependencyError",
    "PerQueryBudgetError",
    "RetryableBackendError",
    "SandboxError",
    "SearchError",
    "SpecError",
]


class ArchonError(Exception):
    """Root of every error archon raises deliberately."""


class InputError(ArchonError):
    """The user's input is wrong. The CLI prints the message and exits with status 2."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one file, at one position (1-based line and column; 0 when unknown)."""

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        tail = f" ({self.hint})" if self.hint else ""
        return f"{where}: error: {self.message}{tail}"


class SpecError(InputError):
    """A spec is invalid. ``diagnostics`` lists every problem found, in file order."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.column))
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class ImportArchonError(InputError):
    """An Archon config cannot be converted into an archon pipeline."""


class BenchmarkError(InputError):
    """A benchmark cannot be loaded, or its data is malformed."""


class BudgetError(ArchonError):
    """A budget would be exceeded."""


class PerQueryBudgetError(SpecError, BudgetError):
    """A pipeline (for instance a point of a search space) is valid but for its static cost per
    query, which exceeds ``budget.per_query``. A search records such a point as infeasible
    instead of evaluating it; elsewhere it is a spec error like any other."""


class BackendError(ArchonError):
    """A call to a model failed for good."""


class RetryableBackendError(BackendError):
    """A call failed in a way worth retrying (rate limit, server error, timeout).

    ``retry_after`` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class MissingDependencyError(BackendError, InputError):
    """An optional dependency is needed; the message says what to install."""


class SandboxError(ArchonError):
    """The sandbox could not run the code (not: the code failed inside it)."""


class SearchError(ArchonError):
    """The search cannot go on."""


class ReplayMissError(Exception):
    """A replay table has no answer for a call (see archon.search.replay).

    Not an :class:`ArchonError` on purpose: the runtime turns those into failed queries, and a
    replayed search must stop at a missing answer, never score around it or call a backend.
    """
