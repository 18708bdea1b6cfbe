"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import sys

from archon.errors import Diagnostic, SpecError

__all__ = ["format_size", "no_space", "positive_int", "print_errors"]


def print_errors(exc: SpecError) -> None:
    """Every diagnostic on its own line on stderr."""
    for diagnostic in exc.diagnostics:
        print(diagnostic.format(), file=sys.stderr)


def format_size(exact: int | None, estimate: float) -> str:
    """``9576`` when the count is exact (``3.8e+50`` past a trillion), ``~1.2e+06`` when it is
    estimated."""
    if exact is not None:
        return str(exact) if exact < 10**12 else f"{exact:.3g}"
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


def positive_int(text: str) -> int:
    """argparse type for counts (``--limit``, ``--trials``, ...): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value
