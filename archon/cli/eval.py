"""``archon eval``: score a pipeline (or a one-call baseline) on a benchmark split.

    archon eval PIPELINE.yaml [--benchmark NAME] [--split dev|selection|test] [--limit N] [--output FILE.jsonl]
    archon eval --baseline MODEL --benchmark NAME [...]

Prints accuracy with its Wilson 95% interval, cost per query and what the call cache saved;
``--output`` gets one JSON record per benchmark record (answer, extracted answer, score, scorer
error, status, cost). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from archon.cli._common import positive_int as _positive_int

from archon.errors import InputError

__all__ = ["baseline_spec", "eval_command", "register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score a pipeline (or a one-call baseline) on a benchmark split",
        description="Evaluate a pipeline on a benchmark: accuracy with a 95% interval, cost, cache savings.",
    )
    p.add_argument("pipeline", metavar="PIPELINE.yaml", nargs="?", help="a resolved pipeline spec")
    p.add_argument("--baseline", metavar="MODEL", help="evaluate one call of MODEL instead (e.g. local/smollm2)")
    p.add_argument("--benchmark", metavar="NAME", help="benchmark name (default: the spec's benchmark:)")
    p.add_argument("--split", choices=("dev", "selection", "test"), default="dev", help="which split (default dev)")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="score only the first N records of the split")
    p.add_argument("--dev", type=_positive_int, metavar="N", help="dev split size (overrides the spec)")
    p.add_argument("--test", type=_positive_int, metavar="N", help="test split size (overrides the spec)")
    p.add_argument("--seed", type=int, help="split seed (overrides the spec)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="benchmark option, e.g. difficulty=hard (repeatable; values parsed as JSON when they can be)")
    p.add_argument("--output", metavar="FILE.jsonl", help="write one JSON record per benchmark record here")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="PATH", help="call cache file (default: the spec's setting, else ~/.cache/archon)")
    cache.add_argument("--no-cache", action="store_true", help="do not read or write the call cache")
    p.add_argument("--max-tokens", type=_positive_int, metavar="N", help="baseline: max output tokens (default 64; 512 for code)")
    p.add_argument("--temperature", type=float, default=0.0, help="baseline: sampling temperature (default 0 = greedy)")
    p.add_argument("--batch", type=_positive_int, default=16, metavar="N", help="queries per executor batch (default 16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=eval_command)


def _options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--option {pair!r}: error: expected KEY=VALUE (e.g. difficulty=hard)")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def baseline_spec(model: str, *, benchmark: Any = None, models: dict[str, Any] | None = None,
                  max_tokens: int = 64, temperature: float = 0.0) -> Any:
    """A one-node pipeline: one call of ``model`` per query (what every architecture must beat).

    ``model`` is ``local/smollm2``, a name from ``models`` (e.g. a spec's ``models:``), or any
    litellm model id (``openai/gpt-4o-mini``), which gets a default litellm entry.
    """
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.spec.schema import LOCAL_MODEL_NAME, ModelSpec, Spec

    table = dict(models or {})
    if model != LOCAL_MODEL_NAME and model not in table:
        table[model] = ModelSpec(kind="litellm", model=model)
    node = {"type": "generate", "id": "baseline", "model": model, "samples": 1,
            "temperature": temperature, "max_tokens": max_tokens}
    data: dict[str, Any] = {"name": f"baseline-{model}", "models": table, "pipeline": {"layers": [[node]]}}
    if benchmark is not None:
        data["benchmark"] = benchmark
    return Spec.model_validate(data)


def eval_command(args: argparse.Namespace) -> int:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.backends import Client
    from archon.benchmarks import load_benchmark
    from archon.graph import compile_pipeline, compile_spec_file
    from archon.space import check_space
    from archon.spec import load_spec_file

    if not args.pipeline and not args.baseline:
        raise InputError("archon eval: error: give a PIPELINE.yaml or --baseline MODEL")
    spec = None
    base_dir = None
    if args.pipeline:
        doc = load_spec_file(args.pipeline)
        if doc.is_space and args.baseline:
            # a baseline needs only the space's models and benchmark: take them from its first point
            space, _ = check_space(doc)
            point = space.first()
            if not hasattr(point, "spec"):
                raise InputError(f"{args.pipeline}: error: the first point of this space is not a valid pipeline, "
                                 "so its models and benchmark cannot be taken from it (run archon validate)")
            pipeline = point
        else:
            pipeline = compile_spec_file(args.pipeline)
        spec = pipeline.spec
        base_dir = str(Path(args.pipeline).resolve().parent)
    bench_spec = _benchmark_spec(args, spec)
    benchmark = load_benchmark(bench_spec, base_dir=base_dir)
    if args.baseline:
        max_tokens = args.max_tokens or (512 if benchmark.kind == "code" else 64)
        spec = baseline_spec(args.baseline, benchmark=bench_spec, models=dict(spec.models) if spec else None,
                             max_tokens=max_tokens, temperature=args.temperature)
        pipeline = compile_pipeline(spec)
    records = benchmark.splits().get(args.split)
    if args.limit:
        records = records[: args.limit]
    if not records:
        raise InputError(
            f"archon eval: error: the {args.split} split of {benchmark.name!r} is empty "
            f"({len(benchmark.records)} records; splits take test={benchmark.test} first, then "
            f"dev={benchmark.dev}, then shots={benchmark.shots}: lower --test or --dev)"
        )

    cache: Any = False if args.no_cache else args.cache
    client = Client.from_spec(spec, cache=cache)
    report = _run(pipeline, benchmark, records, client, args)
    if args.output:
        _write_rows(args.output, report.rows)
    _print_report(report, benchmark, args, label=f"baseline {args.baseline}" if args.baseline else args.pipeline)
    if report.n == 0 and report.n_call_failed:
        # no query was answered: a score of "0 of 0" must not look like a finished evaluation
        print(f"archon eval: error: every model call failed for good ({report.n_call_failed} of "
              f"{len(records)} queries); nothing was scored (check the model's api_base, key and "
              "server, then run again: answers already received are cached)", file=sys.stderr)
        return 3
    return 0


def _benchmark_spec(args: argparse.Namespace, spec: Any) -> Any:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.spec.schema import BenchmarkSpec

    if args.benchmark:
        current = spec.benchmark if spec is not None and spec.benchmark is not None and spec.benchmark.name == args.benchmark else None
        bench = current or BenchmarkSpec(name=args.benchmark)
    elif spec is not None and spec.benchmark is not None:
        bench = spec.benchmark
    else:
        raise InputError("archon eval: error: no benchmark (give --benchmark NAME or a 'benchmark:' in the spec)")
    update: dict[str, Any] = {}
    for field in ("dev", "test", "seed"):
        if getattr(args, field) is not None:
            update[field] = getattr(args, field)
    options = _options(args.option)
    if options:
        update["options"] = {**bench.options, **options}
    return bench.model_copy(update=update) if update else bench


def _run(pipeline: Any, benchmark: Any, records: list[Any], client: Any, args: argparse.Namespace) -> Any:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from archon.benchmarks import evaluate

    console = Console(stderr=True)
    with Progress(TextColumn(f"[bold]{benchmark.name}/{args.split}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=args.quiet) as progress:
        task = progress.add_task("eval", total=len(records))

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done)

        async def go() -> Any:
            try:
                return await evaluate(pipeline, benchmark, records, client, progress=on_progress, batch_size=args.batch)
            finally:
                await client.aclose()
                store = getattr(client, "cache", None)
                if store is not None and hasattr(store, "close"):
                    store.close()

        return asyncio.run(go())


def _write_rows(path: str, rows: list[dict[str, Any]]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    except OSError as exc:
        raise InputError(f"{path}: error: cannot write: {exc.strerror}") from None


def _print_report(report: Any, benchmark: Any, args: argparse.Namespace, *, label: str) -> None:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from rich.console import Console
    from rich.table import Table

    cost = report.cost
    n = max(1, report.n)
    table = Table(title=f"archon eval: {label} on {benchmark.name} ({args.split})", header_style="bold")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("accuracy", f"{report.accuracy:.3f}  [95% CI {report.ci_low:.3f}-{report.ci_high:.3f}]")
    table.add_row("records", str(report.n))
    table.add_row("failed queries", str(report.n_failed))
    table.add_row("scorer errors", str(report.n_scorer_errors))
    if report.n_call_failed:
        table.add_row("left out (a call failed for good)", str(report.n_call_failed))
    if cost is not None:
        table.add_row("calls / query", f"{cost.calls / n:.2f}")
        table.add_row("tokens / query", f"{(cost.prompt_tokens + cost.completion_tokens) / n:.1f}")
        table.add_row("dollars / query", f"${cost.dollars / n:.6f}")
        table.add_row("cache hits (calls)", str(cost.cached_calls))
        table.add_row("saved by cache", f"{cost.saved_tokens:,} tokens, ${cost.saved_dollars:.4f}")
    if report.scoring_cost:
        table.add_row("judge calls", str(report.scoring_cost.get("calls", 0) + report.scoring_cost.get("cache_hits", 0)))
    console = Console()
    console.print(table)
    # One plain line too: easy to grep in CI logs and scripts.
    print(f"accuracy={report.accuracy:.4f} ci95=[{report.ci_low:.4f},{report.ci_high:.4f}] n={report.n} "
          f"failed={report.n_failed} scorer_errors={report.n_scorer_errors} call_failed={report.n_call_failed}")
    if args.output:
        print(f"per-record results: {os.path.abspath(args.output)}", file=sys.stderr)
