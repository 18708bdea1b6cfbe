"""Backend calls a search really makes vs the calls the same trials cost evaluated Archon's way.

    python benchmarks/bench_search_calls.py [SPEC.yaml] [--run-dir D] [--no-ray] [--trials N]

Runs the search (default: search_spaces/quickstart.yaml) in a fresh run directory with an empty
call cache, then prints, for the trials it ran:

* "Archon's way": every trial that fits the per-query budget evaluated on the full dev split with
  no cache — its exact static calls per query times the dev size (over-budget trials are not
  evaluated by either; Archon scores them -1 without running them);
* "archon": the calls that actually reached a backend during the search (successive halving
  stops weak trials early; the call cache answers repeated calls across trials).

The final test-split scoring is left out of both columns (it is the same work either way).
Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", nargs="?", default=str(ROOT / "search_spaces" / "quickstart.yaml"))
    parser.add_argument("--run-dir", help="run directory (default: a fresh temporary one)")
    parser.add_argument("--no-ray", action="store_true", help="evaluate in process")
    parser.add_argument("--trials", type=int, help="override search.trials")
    args = parser.parse_args(argv)

    import optuna
    from rich.console import Console
    from rich.table import Table

    from archon.search import run_search

    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="bench-search-")) / "run"
    started = time.monotonic()
    result = run_search(args.spec, run_dir=run_dir, resume=False, progress=False, use_ray=not args.no_ray,
                        trials=args.trials, final_test=False)
    wall = time.monotonic() - started

    storage = optuna.storages.RDBStorage(result.storage)
    study = optuna.load_study(study_name=result.study_name, storage=storage)
    dev = int(study.user_attrs.get("rungs", [0])[-1])
    archon_way = 0
    evaluated = 0
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        status = t.user_attrs.get("status", t.state.name.lower())
        counts[status] = counts.get(status, 0) + 1
        static = t.user_attrs.get("static_cost")
        if status in ("infeasible",) or static is None:
            continue
        evaluated += 1
        archon_way += int(static["calls"]) * dev
    made = int(result.search_calls.get("calls", 0))
    cached = int(result.search_calls.get("cached_calls", 0))
    ratio = archon_way / made if made else float("inf")

    table = Table(title=f"backend calls: {Path(args.spec).name}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("trials", ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    table.add_row("dev records (full)", str(dev))
    table.add_row("Archon's way: feasible trials x full dev x calls/query, no cache", f"{archon_way:,}")
    table.add_row("archon: calls that reached a backend", f"{made:,}")
    table.add_row("  answered by the cache instead", f"{cached:,}")
    table.add_row("ratio (Archon's way / archon)", f"{ratio:.1f}x")
    table.add_row("wall time", f"{wall:.0f}s")
    Console().print(table)
    print(f"run directory: {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
