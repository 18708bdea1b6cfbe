"""``archon validate FILE...``: check specs (pipelines or spaces) and say what each one is."""

from __future__ import annotations

import argparse
from typing import Any

from archon.cli._common import format_size, print_errors
from archon.errors import SpecError

__all__ = ["register", "summarise"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check spec files (pipelines and spaces); all problems are reported",
        description=(
            "Check each spec file: YAML syntax, unknown keys, types and ranges, model and node "
            "references, and the graph's composition rules. Prints one 'ok' line per valid file on "
            "stdout and one 'file:line:col: error: ...' line per problem on stderr."
        ),
        epilog="Exit status: 0 all files valid, 2 at least one file invalid, 1 internal error.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="spec files (.yaml)")
    parser.set_defaults(handler=run)


def summarise(file: str) -> str:
    """Load and validate ``file``; the one-line summary for a valid spec. Raises SpecError."""
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.graph import check_pipeline
    from archon.space import check_space
    from archon.spec import load_spec_file

    doc = load_spec_file(file)
    if doc.is_space:
        space, count = check_space(doc)
        choices = len(space.choices)
        return f"{file}: ok (space, {_plural(choices, 'choice')}, size {format_size(count.exact, count.estimate)})"
    _, pipeline = check_pipeline(doc)
    calls = pipeline.static_cost().calls
    return f"{file}: ok (pipeline, {_plural(pipeline.graph.number_of_nodes(), 'node')}, {_plural(calls, 'call')}/query)"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def run(args: argparse.Namespace) -> int:
    status = 0
    for file in args.files:
        try:
            print(summarise(file), flush=True)
        except SpecError as exc:
            print_errors(exc)
            status = 2
    return status
