"""``archon import-archon CONFIG.json``: convert an Archon JSON config into a pipeline spec."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from archon.errors import InputError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import-archon",
        help="convert an Archon JSON config into an archon pipeline spec",
        description=(
            "Read an Archon architecture config (either of the layer formats Archon used) and write "
            "the equivalent archon pipeline YAML. Keys Archon ignores are dropped with a warning; "
            "misspelled keys, invalid JSON and broken composition rules are errors."
        ),
        epilog="Exit status: 0 converted, 2 the config cannot be converted, 1 internal error.",
    )
    parser.add_argument("config", metavar="CONFIG.json", help="an Archon JSON config")
    parser.add_argument("-o", "--output", metavar="OUT.yaml", default=None, help="write here instead of stdout")
    parser.add_argument(
        "--local",
        action="store_true",
        help="point every model at the embedded local/smollm2 (max_tokens capped at 512) so the pipeline runs offline",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.importers import import_archon

    result = import_archon(args.config, local=args.local)
    for warning in result.warnings:
        print(warning.format(), file=sys.stderr)
    text = result.yaml
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        raise InputError(f"{args.output}: error: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
