"""The exception tree of archon.

Every error archon raises on purpose derives from :class:`ArchonError`. The CLI maps
:class:`InputError` (and its subclasses) to exit status 2 and prints their messages without a
traceback; anything else is an internal error (exit status 1).

    ArchonError
    ├── InputError                 bad input from the user (exit 2)
    │   ├── SpecError              a spec file is invalid; carries one or more Diagnostics
    │   │   └── PerQueryBudgetError    a pipeline needs more per query than budget.per_query allows
    │   ├── ImportArchonError      an Archon JSON config cannot be converted; carries Diagnostics
    │   ├── BenchmarkError         a benchmark cannot be loaded or is malformed
    │   └── MissingDependencyError an optional dependency is not installed (also a BackendError)
    ├── UsageError                 a Python API got an argument it cannot use (also a ValueError)
    ├── StateError                 an object cannot do that now: closed, or a blocking call made
    │                              inside a running event loop (also a RuntimeError)
    ├── BudgetError                a budget would be or was exceeded (PerQueryBudgetError too)
    ├── BackendError               a model call failed
    │   ├── RetryableBackendError  rate limit, 5xx, timeout: worth retrying
    │   └── MissingDependencyError (see above)
    ├── SandboxError               the sandbox itself failed (not the code inside it)
    └── SearchError                the search driver cannot go on

:class:`UsageError` and :class:`StateError` also derive from the built-in exception Python code
expects for that mistake, so ``except ValueError`` / ``except RuntimeError`` keep working.

Outside the tree on purpose: :class:`ReplayMissError` (see its docstring), and exceptions that
are caught and recorded where they happen (a scorer's ValueError becomes a scored error on that
record; a validator's ValueError inside pydantic becomes a Diagnostic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
    "StateError",
    "UsageError",
]


class ArchonError(Exception):
    """Root of every error archon raises deliberately."""


class InputError(ArchonError):
    """The user's input is wrong. The CLI prints the message and exits with status 2."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one file, at one position (1-based line and column; 0 when unknown).

    ``severity`` is ``warning`` for a problem that does not stop the work (the Archon importer's
    dropped keys); ``code`` names the class of problem where a tool defines classes (the
    importer's ``ERROR_CODES``), and is empty otherwise.
    """

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None
    severity: Literal["error", "warning"] = "error"
    code: str = ""

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        tail = f" ({self.hint})" if self.hint else ""
        return f"{where}: {self.severity}: {self.message}{tail}"


class SpecError(InputError):
    """A spec is invalid. ``diagnostics`` lists every problem found, in file order."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.column))
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class ImportArchonError(InputError):
    """An Archon config cannot be converted into an archon pipeline. ``diagnostics`` lists every
    problem, in file order."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.line, d.column))
        super().__init__("\n".join(d.format() for d in self.diagnostics))

    @property
    def codes(self) -> list[str]:
        """The classes of problem found, in file order, without repeats."""
        return list(dict.fromkeys(d.code for d in self.diagnostics))


class BenchmarkError(InputError):
    """A benchmark cannot be loaded, or its data is malformed."""


class UsageError(ArchonError, ValueError):
    """A Python API was called with an argument it cannot use (an unknown format or split name,
    a bad option value). A programming mistake in the caller, reported with what is accepted."""


class StateError(ArchonError, RuntimeError):
    """An object cannot do that now: it was closed, or a blocking call was made from inside a
    running event loop (use the ``async`` method there), or a helper process did not start."""


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
