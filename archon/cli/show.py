"""``archon show FILE``: a pipeline's graph and its static cost per query."""

from __future__ import annotations

import argparse
from typing import Any

from archon.cli._common import no_space
from archon.errors import InputError

__all__ = ["register"]

FORMATS = ("text", "mermaid", "dot", "svg")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "show",
        help="draw a pipeline's graph with its calls and estimated tokens per query",
        description=(
            "Validate a pipeline spec and print its graph: as text (each node with its settings, "
            "candidates in/out and calls, then the exact calls and estimated tokens and dollars per "
            "query, per model), as Mermaid or Graphviz DOT for drawing, or as a standalone SVG picture. "
            "A search space has no "
            "single graph: sample pipelines from it with 'archon space'."
        ),
        epilog="Exit status: 0 ok, 2 invalid spec or a space given, 1 internal error.",
    )
    parser.add_argument("file", metavar="FILE", help="pipeline spec (.yaml)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument(
        "--query-tokens", type=int, default=None, metavar="N",
        help="tokens assumed in one query for the text and svg formats' token estimates (default: 200)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.graph import check_pipeline
    from archon.spec import load_spec_file

    if args.query_tokens is not None and args.query_tokens < 1:
        raise InputError(f"archon show: error: --query-tokens must be >= 1, got {args.query_tokens}")
    doc = load_spec_file(args.file)
    if doc.is_space:
        raise no_space(args.file, "show")
    _, pipeline = check_pipeline(doc)
    options = {"query_tokens": args.query_tokens} if args.format in ("text", "svg") and args.query_tokens else {}
    print(pipeline.render(args.format, **options).rstrip("\n"))
    return 0
