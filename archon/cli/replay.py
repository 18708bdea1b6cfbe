"""``archon replay build SPACE --out TABLE`` and ``archon replay info TABLE``: replay tables."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="build or inspect a replay table (every architecture of a space, answered once)",
        description=(
            "A replay table holds the answer to every model call that a search of SPACE can make: "
            "each valid point (and the one-greedy-call baselines) run once on every record outside "
            "the shot pool. `archon search SPACE --replay TABLE` then searches with no backend call. "
            "See docs/search.md#replay-tables."
        ),
        epilog="Exit status: 0 ok, 2 bad input, 1 internal error.",
    )
    sub = parser.add_subparsers(dest="replay_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="run every architecture of SPACE on the real models into TABLE")
    build.add_argument("space", metavar="SPACE", help="space spec (.yaml) with a benchmark section")
    build.add_argument("--out", required=True, metavar="TABLE", help="the table to write (*.sqlite.gz); "
                       "its unpacked working copy beside it makes a rebuild incremental")
    build.set_defaults(handler=_build)
    info = sub.add_parser("info", help="what a table was built from")
    info.add_argument("table", metavar="TABLE")
    info.set_defaults(handler=_info)


def _build(args: argparse.Namespace) -> int:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.search.replay import build_table

    meta = build_table(args.space, args.out, say=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(meta, indent=2, sort_keys=True))
    return 0


def _info(args: argparse.Namespace) -> int:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.search.replay import open_table

    path, meta = open_table(args.table)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        meta["entries"] = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    finally:
        conn.close()
    print(json.dumps(meta, indent=2, sort_keys=True))
    return 0
