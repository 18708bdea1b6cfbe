"""Do cascades buy a better accuracy/cost front than fixed architectures? Measured on held-out data.

    python benchmarks/bench_cascade.py [--task capitals|arithmetic ...] [--dev N] [--stage2 K] [--boot 2000]

For each replay table (the quickstart's world capitals, arithmetic_small's one-digit sums), every
fixed architecture of its space is a candidate, and so is every cascade of two of them:

* stage 1, cheap: one greedy call of each prompt, gated by ``parses``, and for the
  ``--logprob-stages`` of them best on dev also by ``logprob`` (thresholds 0.1..0.9); or 3 / 5
  samples at the space's temperature and their vote, gated by ``vote_margin`` (0.2..1.0) or
  ``parses``;
* stage 2: one of the ``--stage2`` fixed architectures with the best dev accuracy (architectures
  that answer every dev query alike counted once).

Every candidate runs through the real executor and scorer. The replay table answers the calls;
the ``logprob`` stages ask for log-probabilities, which the tables do not hold, so those calls
(one greedy call per prompt and record) run live on the embedded SmolLM2 once and are kept in a
call cache beside the table's copy (``--cache-dir``), so reruns make no call.

The records outside the shot pool are split into dev (``--dev``) and test (the rest). The fronts
are *chosen on dev* (accuracy up, tokens per query down: the search's objectives), then *scored on
test only*: the fixed front, the front with cascades, and three pairs against the best fixed
architecture (best dev accuracy, then cheapest): the cheapest cascade at least as accurate on dev
(equal accuracy: how much cheaper on test?), the most accurate cascade no dearer on dev (equal
cost: how much more accurate?) and the most accurate cascade (any cost). Intervals: Wilson 95%
for accuracies; paired bootstrap 95% over test records for differences and cost ratios. Cost is
tokens per query counting cached calls as paid, as the search's cost objective does.

The target (issue 11): at equal accuracy, >= 30% less cost than the best fixed architecture; or at
equal cost, higher accuracy. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "capitals": (ROOT / "search_spaces" / "quickstart.yaml", ROOT / "benchmarks" / "replay" / "quickstart-capitals.sqlite.gz"),
    "arithmetic": (ROOT / "search_spaces" / "arithmetic_small.yaml", ROOT / "benchmarks" / "replay" / "arithmetic-small.sqlite.gz"),
}
DEFAULT_DEV = {"capitals": 60, "arithmetic": 27}
LOGPROB_THRESHOLDS = [round(0.1 * i, 1) for i in range(1, 10)]
MARGIN_THRESHOLDS = [0.2, 0.4, 0.6, 0.8, 1.0]


@dataclass
class Candidate:
    label: str
    kind: str  # "fixed" or "cascade"
    spec: dict[str, Any]
    live: bool = False  # asks for log-probabilities: the replay table cannot answer all its calls
    worst_calls: int = 0
    # per split: record id -> (score, tokens, calls, stage that answered or None)
    rows: dict[str, dict[str, tuple[float, float, float, int | None]]] = field(default_factory=dict)
    answers: dict[str, str | None] = field(default_factory=dict)  # record id -> answer text

    def acc(self, split: str) -> float:
        return statistics.fmean(r[0] for r in self.rows[split].values())

    def tokens(self, split: str) -> float:
        return statistics.fmean(r[1] for r in self.rows[split].values())

    def calls(self, split: str) -> float:
        return statistics.fmean(r[2] for r in self.rows[split].values())

    def escalation(self, split: str) -> float | None:
        stages = [r[3] for r in self.rows[split].values()]
        return None if self.kind == "fixed" else sum(1 for s in stages if s and s > 1) / len(stages)


# ----------------------------------------------------------------------------- candidates


def _generator(pipeline: dict[str, Any]) -> dict[str, Any]:
    return pipeline["layers"][0][0]


def _aggregate(pipeline: dict[str, Any]) -> str:
    layers = pipeline["layers"]
    return "first" if len(layers) == 1 else layers[1][0]["type"]


def _short(pipeline: dict[str, Any], prompts: dict[Any, str]) -> str:
    g = _generator(pipeline)
    shots = f" {g.get('few_shot', 0)}-shot" if g.get("few_shot") else ""
    how = "greedy" if g["temperature"] == 0 else f"{g['samples']}x t{g['temperature']:g}"
    agg = _aggregate(pipeline)
    return f"{prompts[g.get('system_prompt')]}{shots} {how}" + ("" if agg == "first" or g["temperature"] == 0 else f" {agg}")


def _stage(pipeline: dict[str, Any], signal: str | None = None, threshold: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"layers": json.loads(json.dumps(pipeline["layers"]))}
    if signal is not None:
        out.update(signal=signal, threshold=threshold)
    return out


def _gated(fixed: list[Candidate], logprob_stages: int) -> list[Candidate]:
    """The single greedy calls (no examples) that get a ``logprob`` gate: the best on dev."""
    greedy = [c for c in fixed if _generator(c.spec["pipeline"])["temperature"] == 0 and _generator(c.spec["pipeline"])["samples"] == 1
              and _aggregate(c.spec["pipeline"]) == "first" and not _generator(c.spec["pipeline"]).get("few_shot", 0)]
    return sorted(greedy, key=lambda c: (-c.acc("dev"), c.tokens("dev")))[:logprob_stages]


def live_twins(gated: list[Candidate], base: dict[str, Any]) -> list[Candidate]:
    """Each logprob-gated first stage alone (threshold 0: no query goes on), as the fixed
    architecture it is: its calls ask for log-probabilities, so they are run live, and llama.cpp's
    greedy answers can differ from the table's run (another batch composition). Fronts and pairs
    count these runs among the fixed architectures, so a cascade is never credited with them."""
    out = []
    for c in gated:
        first = _stage(c.spec["pipeline"], "logprob", 0.0)
        spec = dict(base, pipeline={"layers": [[{"type": "cascade", "stages": [first, _stage(c.spec["pipeline"])]}]]})
        out.append(Candidate(f"{c.label} (live run)", "fixed", spec, live=True, worst_calls=1))
    return out


def cascades(fixed: list[Candidate], stage2: list[Candidate], base: dict[str, Any], prompts: dict[Any, str],
             gated_stages: list[Candidate]) -> list[Candidate]:
    """Two-stage cascades: cheap first stages from the space's own vocabulary, gated by each
    signal the stage can produce, in front of each strong second stage. The ``logprob`` gate is
    tried on ``gated_stages`` (its calls run live)."""
    from archon.graph import compile_pipeline
    from archon.spec.schema import Spec

    gated = {id(c) for c in gated_stages}
    firsts: list[tuple[str, dict[str, Any], bool]] = []
    for c in fixed:
        p = c.spec["pipeline"]
        g, agg = _generator(p), _aggregate(p)
        if g.get("few_shot", 0):
            continue
        if g["temperature"] == 0 and g["samples"] == 1 and agg == "first":
            for t in LOGPROB_THRESHOLDS if id(c) in gated else []:
                firsts.append((f"{_short(p, prompts)} | logprob<{t:g}", _stage(p, "logprob", t), True))
            firsts.append((f"{_short(p, prompts)} | parses", _stage(p, "parses", 1.0), False))
        elif g["temperature"] > 0 and g["samples"] in (3, 5) and agg == "vote":
            for t in MARGIN_THRESHOLDS:
                firsts.append((f"{_short(p, prompts)} | margin<{t:g}", _stage(p, "vote_margin", t), False))
            firsts.append((f"{_short(p, prompts)} | parses", _stage(p, "parses", 1.0), False))
    out = []
    for label, first, live in firsts:
        for second in stage2:
            if second.spec["pipeline"]["layers"] == first["layers"]:
                continue
            spec = dict(base, pipeline={"layers": [[{"type": "cascade", "stages": [first, _stage(second.spec["pipeline"])]}]]})
            worst = compile_pipeline(Spec.model_validate(spec)).static_cost().calls
            out.append(Candidate(f"{label} | -> {_short(second.spec['pipeline'], prompts)}", "cascade", spec, live, worst))
    return out


# ----------------------------------------------------------------------------- evaluation


async def _evaluate(c: Candidate, bench: Any, splits: dict[str, list[Any]], client: Any) -> None:
    from archon.benchmarks.evaluate import evaluate
    from archon.graph import compile_pipeline
    from archon.search.evaluation import logical_cost
    from archon.spec.schema import Spec

    pipeline = compile_pipeline(Spec.model_validate(c.spec))
    records = [r for rs in splits.values() for r in rs]
    report = await evaluate(pipeline, bench, records, client, batch_size=len(records))
    by_id = {}
    c.answers = {row["id"]: row["answer"] for row in report.rows}
    for row in report.rows:
        if row["score"] is None:
            raise RuntimeError(f"{c.label}: a call failed for good on {row['id']}: {row.get('error')}")
        cost = logical_cost(row["cost"])
        by_id[row["id"]] = (float(row["score"]), float(cost["tokens"]), float(cost["calls"]),
                            max((row.get("answered_by") or {}).values(), default=None))
    c.rows = {name: {r.id: by_id[r.id] for r in rs} for name, rs in splits.items()}
    if not c.worst_calls:
        c.worst_calls = pipeline.static_cost().calls


def _pareto(cands: list[Candidate], split: str = "dev") -> list[Candidate]:
    """Non-dominated on (accuracy up, tokens down); of equal points the first listed."""
    ranked = sorted(cands, key=lambda c: (-c.acc(split), c.tokens(split)))
    front: list[Candidate] = []
    for c in ranked:
        if not front or c.tokens(split) < min(f.tokens(split) for f in front) - 1e-9:
            front.append(c)
    return sorted(front, key=lambda c: c.tokens(split))


# ----------------------------------------------------------------------------- statistics


def _wilson(k: float, n: int) -> tuple[float, float]:
    from archon.util import wilson

    return wilson(k, n)


def _paired(a: Candidate, b: Candidate, boot: int, seed: int) -> dict[str, Any]:
    """b against a on test: accuracy difference and cost ratio with paired bootstrap intervals."""
    ids = sorted(a.rows["test"])
    rng = random.Random(seed)
    sa = [a.rows["test"][i] for i in ids]
    sb = [b.rows["test"][i] for i in ids]

    def stats(idx: list[int]) -> tuple[float, float]:
        d = sum(sb[i][0] - sa[i][0] for i in idx) / len(idx)
        ta, tb = sum(sa[i][1] for i in idx), sum(sb[i][1] for i in idx)
        return d, tb / ta - 1 if ta else float("nan")

    point = stats(list(range(len(ids))))
    draws = [stats([rng.randrange(len(ids)) for _ in ids]) for _ in range(boot)]
    diffs = sorted(d for d, _ in draws)
    ratios = sorted(r for _, r in draws)
    lo, hi = int(0.025 * boot), int(0.975 * boot) - 1
    return {"diff": point[0], "diff_ci": (diffs[lo], diffs[hi]), "cost": point[1], "cost_ci": (ratios[lo], ratios[hi])}


# ----------------------------------------------------------------------------- one task


def run_task(name: str, dev: int, n_stage2: int, logprob_stages: int, boot: int, seed: int, cache_dir: Path, console: Any) -> None:
    from rich.table import Table

    from archon.backends import Client
    from archon.benchmarks import load_benchmark
    from archon.search.replay import open_table, table_points

    spec_path, table = TASKS[name]
    path, meta = open_table(table)
    settings, _, points = table_points(spec_path)
    assert settings.benchmark is not None
    total = meta["records"]
    bench_spec = settings.benchmark.model_copy(update={"dev": dev, "selection": 0, "test": total - dev})
    bench = load_benchmark(bench_spec)
    parts = bench.splits()
    splits = {"dev": list(parts.dev), "test": list(parts.test)}
    base = settings.model_dump(mode="json")
    base.update(benchmark=bench_spec.model_dump(mode="json"), budget={}, search={}, task=None)
    base.pop("task")

    # the table's copy takes the live log-probability calls; the table itself stays read-only
    cache = cache_dir / f"{table.name.removesuffix('.sqlite.gz')}-{meta.get('space_sha256', '')[:12]}.sqlite"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, cache)
    replay = Client.from_spec(settings, cache=path, replay=True, structured=meta.get("structured_output"))
    live = Client.from_spec(settings, cache=cache)

    prompt_names: dict[Any, str] = {}
    for _, data in points:
        sp = _generator(data["pipeline"]).get("system_prompt")
        prompt_names.setdefault(sp, "default" if sp is None else f"prompt{len(prompt_names)}")
    fixed = [Candidate(_short(d["pipeline"], prompt_names), "fixed", dict(base, pipeline=d["pipeline"]))
             for label, d in points if not label.startswith("baseline")]

    loop = asyncio.new_event_loop()
    started = time.monotonic()
    try:
        for c in fixed:
            loop.run_until_complete(_evaluate(c, bench, splits, replay))
        # stage 2: the best fixed architectures on dev, each way of answering counted once
        seen, stage2 = set(), []
        for c in sorted(fixed, key=lambda c: (-c.acc("dev"), c.tokens("dev"))):
            answers = tuple(sorted((i, r[0]) for i, r in c.rows["dev"].items()))
            if answers not in seen:
                seen.add(answers)
                stage2.append(c)
            if len(stage2) == n_stage2:
                break
        gated = _gated(fixed, logprob_stages)
        twins = live_twins(gated, base)
        for c in twins:
            loop.run_until_complete(_evaluate(c, bench, splits, live))
        casc = cascades(fixed, stage2, base, prompt_names, gated)
        for c in casc:
            loop.run_until_complete(_evaluate(c, bench, splits, live if c.live else replay))
        made = live.meter.snapshot().calls
    finally:
        for client in (replay, live):
            loop.run_until_complete(client.aclose())
        loop.close()
    seconds = time.monotonic() - started

    n_test = len(splits["test"])
    agreement = []
    for table_run, live_run in zip(gated, twins):
        same = sum(1 for i, a in table_run.answers.items() if live_run.answers.get(i) == a)
        agreement.append(f"{table_run.label}: the live run answers {same} of {len(table_run.answers)} records as the table's run does "
                         f"(test acc {live_run.acc('test'):.3f} vs {table_run.acc('test'):.3f})")
    fixed = fixed + twins
    fixed_front = _pareto(fixed)
    all_front = _pareto(fixed + casc)
    best = min(fixed, key=lambda c: (-c.acc("dev"), c.tokens("dev")))
    console.print(f"\n[bold]{name}[/]: {spec_path.name} on {table.name}; dev {len(splits['dev'])} / test {n_test} records; "
                  f"{len(fixed)} fixed architectures, {len(casc)} cascades (stage 2: the {len(stage2)} best fixed on dev); "
                  f"{made} live calls (log-probabilities), {seconds:.0f}s. Prompts: "
                  + "; ".join(f"{v} = {k!r}" for k, v in prompt_names.items() if k is not None))
    for line in agreement:
        console.print("  greedy calls asked for log-probabilities, " + line, highlight=False)

    table_out = Table(title=f"{name}: Pareto fronts chosen on dev (accuracy up, tokens/query down), scored on test",
                      title_justify="left")
    for col in ("front", "architecture", "dev acc", "dev tok/q", "test acc [95% CI]", "test tok/q", "test calls/q",
                "escalated (test)", "worst calls"):
        table_out.add_column(col, justify="left" if col in ("front", "architecture") else "right")
    for label, front in (("fixed", fixed_front), ("with cascades", all_front)):
        for c in front:
            k = sum(r[0] for r in c.rows["test"].values())
            lo, hi = _wilson(k, n_test)
            esc = c.escalation("test")
            table_out.add_row(label, c.label, f"{c.acc('dev'):.3f}", f"{c.tokens('dev'):.1f}",
                              f"{c.acc('test'):.3f} [{lo:.2f}, {hi:.2f}]", f"{c.tokens('test'):.1f}", f"{c.calls('test'):.2f}",
                              "" if esc is None else f"{esc:.0%}", str(c.worst_calls))
    console.print(table_out)

    pairs = []
    # a cascade that sent no dev query on is its first stage, a fixed architecture: left out here
    active = [c for c in casc if (c.escalation("dev") or 0) > 0]
    same_acc = [c for c in active if c.acc("dev") >= best.acc("dev") - 1e-9]
    if same_acc:
        pairs.append(("equal accuracy: cheapest cascade with dev acc >= the best fixed's", min(same_acc, key=lambda c: (c.tokens("dev"), -c.acc("dev")))))
    same_cost = [c for c in active if c.tokens("dev") <= best.tokens("dev") + 1e-9]
    if same_cost:
        pairs.append(("equal cost: most accurate cascade with dev tok/q <= the best fixed's", max(same_cost, key=lambda c: (c.acc("dev"), -c.tokens("dev")))))
    pairs.append(("most accurate cascade on dev (any cost)", max(active, key=lambda c: (c.acc("dev"), -c.tokens("dev")))))
    cmp_out = Table(title=f"{name}: cascades against the best fixed architecture on dev ({best.label}: "
                          f"dev {best.acc('dev'):.3f}, {best.tokens('dev'):.1f} tok/q), on test", title_justify="left")
    for col in ("comparison", "cascade", "test acc fixed / cascade", "diff [95% CI]", "test tok/q fixed / cascade",
                "cost change [95% CI]", "escalated", "target met"):
        cmp_out.add_column(col, justify="left" if col in ("comparison", "cascade") else "right")
    if not same_acc:
        cmp_out.add_row("equal accuracy", "no cascade reaches the best fixed's dev accuracy", "", "", "", "", "", "no")
    if not same_cost:
        cmp_out.add_row("equal cost", "no cascade is as cheap as the best fixed on dev", "", "", "", "", "", "no")
    for what, c in pairs:
        s = _paired(best, c, boot, seed)
        if what.startswith("equal accuracy"):
            met = s["cost"] <= -0.30 and s["diff_ci"][1] >= 0
        elif what.startswith("equal cost"):
            met = s["diff_ci"][0] > 0 and s["cost"] <= 0
        else:
            met = None
        cmp_out.add_row(what, c.label, f"{best.acc('test'):.3f} / {c.acc('test'):.3f}",
                        f"{s['diff']:+.3f} [{s['diff_ci'][0]:+.3f}, {s['diff_ci'][1]:+.3f}]",
                        f"{best.tokens('test'):.1f} / {c.tokens('test'):.1f}",
                        f"{s['cost']:+.0%} [{s['cost_ci'][0]:+.0%}, {s['cost_ci'][1]:+.0%}]",
                        f"{c.escalation('test'):.0%}", "" if met is None else ("yes" if met else "no"))
    console.print(cmp_out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", action="append", choices=sorted(TASKS), help="repeatable; default: every task")
    parser.add_argument("--dev", type=int, default=None, help="dev records (default: the space's dev size); test: the rest")
    parser.add_argument("--stage2", type=int, default=6, help="second stages: this many of the best fixed on dev")
    parser.add_argument("--logprob-stages", type=int, default=2,
                        help="first stages gated by logprob: this many of the best single greedy calls on dev (their calls run live)")
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the tables' copies keep the live calls (default: ~/.cache/archon/bench_cascade)")
    args = parser.parse_args(argv)

    from rich.console import Console

    from archon.backends.cache import default_cache_path

    console = Console(width=260)
    cache_dir = args.cache_dir or default_cache_path().parent / "bench_cascade"
    for name in args.task or list(TASKS):
        run_task(name, args.dev or DEFAULT_DEV[name], args.stage2, args.logprob_stages, args.boot, args.seed, cache_dir, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
