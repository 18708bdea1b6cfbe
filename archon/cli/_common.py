"""Helpers shared by the spec-facing subcommands (validate, show, space)."""

from __future__ import annotations

import sys
from archon.errors import Diagnostic, SpecError

__all__ = ["format_size", "no_space", "print_errors"]


def print_errors(exc: SpecError) -> None:
    """Every diagnostic on its own line on stderr."""
    for diagnostic in exc.diagnostics:
        print(diagnostic.format(), file=sys.stderr)


def format_size(exact: int | None, estimate: float) -> str:
    """``9576`` when the count is exact, ``~1.2e+06`` when it is estimated."""
    if exact is not None:
        return str(exact)
    return f"~{estimate:.3g}"


def no_space(file: str, what: str) -> SpecError:
    """The error for a command that needs a pipeline but got a space."""
    return SpecError(
        [
            Diagnostic(
                file,
                0,
                0,
                f"'archon {what}' needs a pipeline, but this spec is a search space (it has choices)",
                f"get pipelines from it with 'archon space {file} --sample 1'",
            )
        ]
    )
