"""``archon search``: search a space with Optuna under a budget and write the run directory.

    archon search SPEC.yaml [--run-dir D] [--ray-address A] [--dry-run] [--trials N]
                            [--parallel N] [--no-ray] [--fresh] [--replay TABLE]

Running the same command again resumes the search in its run directory. Ctrl-C stops cleanly
(exit 130) and prints the command that resumes. Exit 3: the search ran but nothing could be
emitted (every trial failed, was pruned or infeasible); the reason is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from archon.cli._common import positive_int as _positive_int

__all__ = ["register", "search_command"]

EXIT_NO_RESULT = 3


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "search",
        help="search a space of pipelines under a budget; writes best.yaml and a report",
        description=(
            "Search the space in SPEC.yaml with Optuna, evaluating trials as Ray tasks under the "
            "spec's budgets. Re-running the same command resumes."
        ),
        epilog="Exit status: 0 ok, 1 internal error, 2 bad input, 3 nothing could be emitted, 130 interrupted.",
    )
    p.add_argument("spec", metavar="SPEC.yaml", help="a search space spec (e.g. search_spaces/quickstart.yaml)")
    p.add_argument("--run-dir", metavar="D", help="run directory (default: runs/<spec name>/)")
    p.add_argument("--ray-address", metavar="A", help="join a Ray cluster: 'auto' or host:port (default: a private local Ray)")
    p.add_argument("--dry-run", action="store_true", help="print the space size and the estimated cost; spend nothing")
    p.add_argument("--trials", type=_positive_int, metavar="N", help="number of trials (overrides search.trials)")
    p.add_argument("--parallel", type=_positive_int, metavar="N", help="trials in flight at once (overrides search.parallel)")
    p.add_argument("--no-ray", action="store_true", help="evaluate in this process instead of Ray tasks (tiny runs)")
    p.add_argument("--fresh", action="store_true", help="start a new study in the run directory (the call cache is kept)")
    p.add_argument("--no-test", action="store_true", help="skip scoring the winner and the baselines on the test split")
    p.add_argument("--replay", metavar="TABLE", help="answer every model call from a replay table (archon replay build); "
                   "no backend is called, and a call the table lacks stops the search with an error")
    p.add_argument("--quiet", action="store_true", help="no live display")
    p.set_defaults(handler=search_command)


def search_command(args: argparse.Namespace) -> int:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from rich.console import Console

    from archon.search.run import run_search

    out = Console()
    err = Console(stderr=True)
    result = run_search(
        args.spec,
        run_dir=args.run_dir,
        ray_address=args.ray_address,
        dry_run=args.dry_run,
        resume=not args.fresh,
        progress=not args.quiet,
        trials=args.trials,
        parallel=args.parallel,
        use_ray=not args.no_ray,
        final_test=not args.no_test,
        replay=args.replay,
        console=err,
    )
    if args.dry_run:
        _print_estimate(out, result.estimate)
        return 0
    _print_summary(out, result)
    if result.stopped == "interrupted":
        return 130
    if result.no_result:
        print(f"archon search: {result.no_result}", file=sys.stderr)
        return EXIT_NO_RESULT
    return 0


def _print_estimate(out: Any, est: Any) -> None:
    from rich.table import Table  # on use, as in search_command

    table = Table(title="archon search --dry-run (nothing was spent)", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in est.rows():
        table.add_row(k, v)
    out.print(table)
    for note in est.notes:
        out.print(f"note: {note}")


#: Border colour of the verdict panel, by verdict kind (archon.search.report_data.Verdict).
_VERDICT_STYLE = {"win": "green", "no_win": "blue", "win_unconfirmed": "yellow", "win_untested": "yellow",
                  "unchecked": "yellow", "nothing": "red"}


def _print_summary(out: Any, result: Any) -> None:
    # imported on use, as in search_command
    from rich.markup import escape
    from rich.panel import Panel
    from rich.text import Text

    from archon.search.report import emitted_lines, test_lines
    from archon.search.report_data import escalation_text, short_value, verdict

    trials = result.trials
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    out.print(f"[bold]search finished[/]: {len(trials)} trials (" + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ")")
    # the outcome first, in the same words as report.html and summary.json (verdict.headline)
    v = verdict(result)
    body = Text(v.headline, style="bold")
    for line in v.details:
        body.append("\n\u2022 " + line, style="default")
    out.print(Panel(body, title=f"verdict: {v.title}", title_align="left", border_style=_VERDICT_STYLE.get(v.kind, "white")))
    if result.stopped:
        out.print(f"stopped early: {escape(result.stopped)}", highlight=False)
    if result.best is not None:
        b = result.best
        ci = f" [{b.ci[0]:.2f}, {b.ci[1]:.2f}]" if b.ci else ""
        escalated = f", {escalation_text(b.escalation)} escalated past a cascade's first stage" if b.escalation else ""
        out.print(f"best by dev: trial {b.number}, dev score {b.score:.3f}{ci} on {b.n} queries{escalated}", highlight=False)
        out.print("  " + escape(", ".join(f"{k}={short_value(val, 40)}" for k, val in b.params.items())), highlight=False)
    if result.pareto:
        out.print(f"Pareto front: trials {', '.join(str(s.number) for s in result.pareto)}")
    for line in emitted_lines(result):
        if not line.startswith("power:"):  # the power note is in the verdict panel
            out.print(escape(line), highlight=False)
    if result.test:
        for line in test_lines(result.test):
            out.print(escape(line), highlight=False)
    spent = (result.ledger or {}).get("spent", {})
    out.print(f"backend calls made: {result.calls_made}, answered by the cache: {result.calls_cached}; "
              f"budget spent: {spent.get('calls', 0)} calls, {spent.get('tokens', 0)} tokens, ${spent.get('dollars', 0):.4f}; "
              f"wall time {result.wall_time:.0f}s")
    for name in ("best", "pareto", "report", "summary", "leaderboard"):
        if name in result.outputs:
            out.print(f"{name}: {_shown(result.outputs[name])}", highlight=False)
    storage = result.storage
    if storage.startswith("sqlite:///"):
        storage = "sqlite:///" + _shown(storage[len("sqlite:///"):])
    out.print(f"dashboard: optuna-dashboard {storage} --host 127.0.0.1", highlight=False)
    if result.stopped == "interrupted":
        out.print(f"resume with: {result.resume_command}")


def _shown(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the working directory when it is inside it (what a user types next)."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
