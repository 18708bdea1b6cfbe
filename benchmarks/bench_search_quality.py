"""How good is what the search emits? Many replayed searches against known ground truth.

    python benchmarks/bench_search_quality.py [--seeds 20] [--samplers random,tpe,gp,greedy] [--trials 30]
                                              [--table SPACE.yaml=TABLE.sqlite.gz ...]

For each replay table (default: the ones in benchmarks/replay/ with their spaces), every
architecture of the space is first scored on every split from the table (the ground truth:
full-dev score, test score, per-record test outcomes). Then, for each sampler and seed, the real
search runs against the table (no backend call) and is judged on test, which it never saw:

* old: the raw dev maximum (what archon emitted before the selection stage; what DSPy-style
  searches emit) — ``result.best``;
* new: what best.yaml now holds — ``result.emitted`` (a significant winner on the selection
  split, or the baseline);
* columns: test accuracy of old / new / the baseline / the oracle (the best architecture on
  test), the share of the baseline-to-oracle gap that new closes, P(emitted significantly worse
  than the baseline on test: one-sided paired test, p < 0.05), P(new emits the baseline), trials
  until the search first evaluated a top-1% architecture (by full-dev score; runs that never do
  count as trials + 1), calls answered (what a live search with an empty cache would have paid,
  at most), and seconds per search.

Measures; asserts nothing. Prints one table per replay table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TABLES = [
    (ROOT / "search_spaces" / "quickstart.yaml", ROOT / "benchmarks" / "replay" / "quickstart-capitals.sqlite.gz"),
    (ROOT / "search_spaces" / "arithmetic_small.yaml", ROOT / "benchmarks" / "replay" / "arithmetic-small.sqlite.gz"),
    (ROOT / "search_spaces" / "arithmetic_mix.yaml", ROOT / "benchmarks" / "replay" / "arithmetic-mix.sqlite.gz"),
]


def _key(pipeline: Any) -> str:
    return json.dumps(pipeline, sort_keys=True)


def ground_truth(spec: Path, table: Path) -> dict[str, Any]:
    """Every architecture's scores on dev, selection and test, answered by the table."""
    from archon.backends import Client
    from archon.benchmarks.evaluate import evaluate
    from archon.graph import compile_pipeline
    from archon.search.replay import open_table, table_points
    from archon.spec.schema import Spec

    path, meta = open_table(table)
    settings, bench, points = table_points(spec)
    splits = bench.splits()
    client = Client.from_spec(settings, cache=path, replay=True, structured=meta.get("structured_output"))
    loop = asyncio.new_event_loop()
    archs: dict[str, dict[str, Any]] = {}
    try:
        for label, data in points:
            pipeline = compile_pipeline(Spec.model_validate(data))
            row: dict[str, Any] = {"label": label}
            for split in ("dev", "selection", "test"):
                records = splits.get(split)
                if not records:
                    continue
                report = loop.run_until_complete(evaluate(pipeline, bench, records, client, batch_size=len(records)))
                row[split] = report.accuracy
                if split == "test":
                    row["test_rows"] = {r["id"]: r["score"] for r in report.rows if r["score"] is not None}
            archs[_key(data["pipeline"])] = row
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    baseline_key = _key(points[-1][1]["pipeline"]) if points[-1][0].startswith("baseline") else _key(points[0][1]["pipeline"])
    return {"archs": archs, "baseline": baseline_key, "meta": meta, "n_test": len(splits.test), "n_dev": len(splits.dev),
            "n_selection": len(splits.selection)}


def _variant(spec: Path, sampler: str, seed: int, trials: int, out_dir: Path) -> Path:
    data = yaml.safe_load(spec.read_text())
    data.setdefault("search", {})
    data["search"].update(sampler=sampler, seed=seed, trials=trials, parallel=1)
    data["search"].pop("run_dir", None)
    path = out_dir / f"{spec.stem}-{sampler}-{seed}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def one_search(spec: Path, table: Path, sampler: str, seed: int, trials: int, gt: dict[str, Any], work: Path) -> dict[str, Any]:
    from archon.search import run_search
    from archon.search.stats import one_sided_paired

    variant = _variant(spec, sampler, seed, trials, work)
    started = time.monotonic()
    result = run_search(variant, run_dir=work / f"run-{variant.stem}", replay=table, use_ray=False, progress=False,
                        final_test=False, resume=False)
    wall = time.monotonic() - started
    archs = gt["archs"]
    dev_scores = sorted((a["dev"] for a in archs.values()), reverse=True)
    cut = dev_scores[max(0, math.ceil(0.01 * len(dev_scores)) - 1)]
    top = {k for k, a in archs.items() if a["dev"] >= cut}
    reached = trials + 1
    for t in sorted(result.trials, key=lambda t: t.number):
        if t.spec_data is not None and _key(t.spec_data) in top and t.status in ("complete", "pruned"):
            reached = t.number + 1
            break
    base = archs[gt["baseline"]]
    old = archs.get(_key(result.best.spec_data)) if result.best is not None else base
    new_key = _key(result.emitted["spec_data"]["pipeline"]) if result.emitted else gt["baseline"]
    new = archs.get(new_key, base)
    old = old or base

    def worse(arch: dict[str, Any]) -> bool:
        ids = [i for i in base["test_rows"] if i in arch["test_rows"]]
        return bool(ids) and one_sided_paired([base["test_rows"][i] for i in ids], [arch["test_rows"][i] for i in ids]) < 0.05

    return {"old": old["test"], "new": new["test"], "baseline": base["test"], "emitted_baseline": new_key == gt["baseline"],
            "worse": worse(new), "old_worse": worse(old), "reached": reached,
            "calls": int(result.search_calls.get("cached_calls", 0)) + int(result.search_calls.get("calls", 0)), "wall": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--samplers", default="random,tpe,gp,greedy")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--table", action="append", metavar="SPACE=TABLE", help="a space and its replay table (repeatable)")
    args = parser.parse_args(argv)

    import optuna
    from rich.console import Console
    from rich.table import Table

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    console = Console(width=220)
    pairs = [tuple(Path(x) for x in t.split("=", 1)) for t in args.table] if args.table else DEFAULT_TABLES
    for spec, table in pairs:
        if not table.exists():
            console.print(f"[yellow]skipped[/]: {table} does not exist (build it: archon replay build {spec} --out {table})")
            continue
        gt = ground_truth(spec, table)
        archs = gt["archs"]
        oracle = max(a["test"] for a in archs.values())
        base = archs[gt["baseline"]]["test"]
        best_dev = max(archs.values(), key=lambda a: a["dev"])
        title = (f"{spec.name} on {table.name}: {len(archs)} architectures; splits dev {gt['n_dev']} / selection "
                 f"{gt['n_selection']} / test {gt['n_test']}; baseline test {base:.3f}, oracle test {oracle:.3f}, "
                 f"best-on-full-dev's test {best_dev['test']:.3f}")
        out = Table(title=title, title_justify="left")
        for col in ("sampler", "runs", "old test", "new test", "gap closed (new)", "gap closed (old)", "P(new worse)",
                    "P(old worse)", "P(emits baseline)", "trials to top-1%", "calls answered", "s / search"):
            out.add_column(col, justify="right")
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
            for sampler in args.samplers.split(","):
                runs = []
                try:
                    for seed in range(args.seeds):
                        runs.append(one_search(spec, table, sampler, seed, args.trials, gt, Path(tmp)))
                except Exception as exc:  # noqa: BLE001 - e.g. gp without torch: say so, go on
                    console.print(f"[yellow]{sampler}[/]: {type(exc).__name__}: {str(exc)[:200]}")
                    if not runs:
                        continue
                gap = oracle - base
                mean = statistics.fmean
                new_closed = mean((r["new"] - base) / gap for r in runs) if gap > 0 else float("nan")
                old_closed = mean((r["old"] - base) / gap for r in runs) if gap > 0 else float("nan")
                out.add_row(sampler, str(len(runs)), f"{mean(r['old'] for r in runs):.3f}", f"{mean(r['new'] for r in runs):.3f}",
                            f"{new_closed:+.0%}", f"{old_closed:+.0%}", f"{mean(r['worse'] for r in runs):.0%}",
                            f"{mean(r['old_worse'] for r in runs):.0%}",
                            f"{mean(r['emitted_baseline'] for r in runs):.0%}", f"{mean(r['reached'] for r in runs):.1f}",
                            f"{mean(r['calls'] for r in runs):.0f}", f"{mean(r['wall'] for r in runs):.1f}")
        console.print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
