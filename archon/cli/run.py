"""``archon run PIPELINE.yaml``: answer one query or a JSONL file of them with a pipeline.

One JSON record per query goes to ``--output`` (or stdout): id, query, answer, status, error,
cost, parse failures, and with ``--trace`` every candidate with provenance and annotations plus
the per-node trace. Progress and the spend summary go to stderr, so stdout stays pure JSONL.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from archon.cli._common import positive_int as _positive_int
from archon.errors import InputError

__all__ = ["read_queries", "register", "run_command"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a pipeline file on a query or a JSONL file of queries",
        description="Run a pipeline (e.g. a search's best.yaml) on new inputs.",
    )
    p.add_argument("pipeline", metavar="PIPELINE.yaml", help="a resolved pipeline spec")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--query", metavar="TEXT", help="one query")
    source.add_argument(
        "--input", metavar="FILE.jsonl", help='queries, one JSON object a line: {"id": .., "input": ".."} or {"query": ".."}'
    )
    p.add_argument("--output", metavar="FILE.jsonl", help="where records go (default: stdout)")
    p.add_argument("--trace", action="store_true", help="include every candidate with provenance and annotations")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="PATH", help="call cache file (default: the spec's setting, else ~/.cache/archon)")
    cache.add_argument("--no-cache", action="store_true", help="do not read or write the call cache")
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        default=64,
        metavar="N",
        help="queries run together as one batch (each node's calls for all of them are in flight at once; default 64)",
    )
    p.set_defaults(handler=run_command)


def read_queries(path: str) -> list[tuple[Any, str]]:
    """``(id, query)`` pairs from a JSONL file; blank lines are skipped.

    Raises :class:`InputError` naming ``file:line:col`` for a line that is not a JSON object
    with a string ``input`` (or ``query``).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: error: no such file (check the --input path)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: error: cannot read: {exc}") from None
    out: list[tuple[Any, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{lineno}:{exc.colno}: error: invalid JSON: {exc.msg} (each line must be one JSON object)") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}:{lineno}:1: error: expected a JSON object, got {type(record).__name__} (e.g. {{\"id\": 1, \"input\": \"...\"}})")
        query = record.get("input", record.get("query"))
        if query is None:
            raise InputError(f"{path}:{lineno}:1: error: no 'input' or 'query' field (keys: {', '.join(record) or 'none'})")
        if not isinstance(query, str):
            raise InputError(f"{path}:{lineno}:1: error: the query must be a string, got {type(query).__name__}")
        out.append((record.get("id", lineno), query))
    return out


def run_command(args: argparse.Namespace) -> int:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.pipeline_file import load_pipeline

    queries = [(None, args.query)] if args.query is not None else read_queries(args.input)
    cache: Any = False if args.no_cache else args.cache
    out_path = Path(args.output) if args.output else None
    pipeline = load_pipeline(args.pipeline, cache=cache, trace=args.trace)
    try:
        results = _run_all(pipeline, [q for _, q in queries], args.concurrency, show_progress=args.input is not None)
    finally:
        pipeline.close()
    stream: TextIO
    if out_path is not None:
        try:
            stream = out_path.open("w", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{out_path}: error: cannot write: {exc.strerror}") from None
    else:
        stream = sys.stdout
    try:
        for (qid, _), result in zip(queries, results):
            record = {"id": qid, **result.to_dict(trace=args.trace)}
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if stream is not sys.stdout:
            stream.close()
    _summary(results)
    return 0 if any(r.ok for r in results) or not results else 1


def _run_all(pipeline: Any, queries: list[str], chunk: int, *, show_progress: bool) -> list[Any]:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    results: list[Any] = []
    console = Console(stderr=True)
    nodes = len(pipeline.pipeline.order)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
        transient=False,
    ) as progress:
        task = progress.add_task("running", total=len(queries))
        for start in range(0, len(queries), chunk):
            batch = queries[start : start + chunk]
            done_nodes = [0]

            def on_node(node_id: str, active: int, batch_len: int = len(batch)) -> None:
                done_nodes[0] += 1
                progress.update(task, description=f"{node_id} ({done_nodes[0]}/{nodes}, {active}/{batch_len} active)")

            results.extend(pipeline.run_batch(batch, on_node=on_node))
            progress.update(task, advance=len(batch))
        progress.update(task, description="done")
    return results


def _summary(results: list[Any]) -> None:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from rich.console import Console
    from rich.table import Table

    from archon.backends.records import Cost

    total = sum((r.cost for r in results), Cost())
    statuses = {s: sum(1 for r in results if r.status == s) for s in ("ok", "failed", "call_failed", "over_budget")}
    table = Table(title="archon run: spend", show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("spent", justify="right")
    table.add_column("saved by cache", justify="right")
    table.add_row("calls", str(total.calls), str(total.cached_calls))
    table.add_row("tokens", f"{total.prompt_tokens + total.completion_tokens:,}", f"{total.saved_tokens:,}")
    table.add_row("dollars", f"${total.dollars:.4f}", f"${total.saved_dollars:.4f}")
    console = Console(stderr=True)
    console.print(table)
    line = ", ".join(f"{n} {s}" for s, n in statuses.items() if n) or "no queries"
    console.print(f"queries: {line}; failed calls: {total.failed_calls}")
    for r in results:
        if r.status != "ok":
            console.print(f"  [red]{r.status}[/red]: {r.error}", highlight=False)
            break
