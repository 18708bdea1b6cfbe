"""The ``archon`` command. Thin: parse arguments, call the library, render the result.

Each subcommand lives in its own module with ``register(subparsers)``; the module's handler
returns an exit status. Exit statuses: 0 ok, 2 bad input (an :class:`archon.errors.InputError`,
printed as one line per problem, no traceback), 1 internal error, 130 interrupted.

Heavy libraries (litellm, ray, vllm, llama_cpp) are never imported here: subcommands import what
they need inside their handlers, so ``archon --help`` and ``archon validate`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from typing import Sequence

from archon import __version__
from archon.errors import InputError

__all__ = ["main"]

# Subcommand modules, in the order --help lists them.
_COMMANDS = ("validate", "show", "space", "import_archon", "run", "serve", "eval", "search", "replay")

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archon",
        description="Search layered LLM-system architectures under a compute budget.",
        epilog="Exit status: 0 ok, 1 internal error, 2 bad input, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"archon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"archon.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        return int(args.handler(args) or 0)
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("archon: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence: report, don't dump
        if os.environ.get("ARCHON_DEBUG"):
            traceback.print_exc()
        print(f"archon: internal error: {type(exc).__name__}: {exc} (set ARCHON_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
