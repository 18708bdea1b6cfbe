"""How often does the selection stage find a real winner, and how often does it claim a false one?

    python benchmarks/bench_selection_power.py [--draws 400] [--dev 60] [--selection 60]
                                               [--allocations 80:40,60:60,40:80,30:90]

Simulated ground truth: a space of 30 architectures with known true accuracies, the baseline at
0.45, every architecture's per-record outcome correlated with the baseline's (a shared difficulty
draw, as architectures built on the same model fail on the same questions). Each draw: dev
outcomes rank the architectures, the top 5 by dev go to archon's real selection stage
(``archon.search.selection.race``) on fresh selection records. Compares the weighted Holm
correction (half of alpha for the best by dev, archon's default) with plain Holm (equal weights).

A second table keeps the weighted Holm rule and moves the same records between dev and
selection (``--allocations DEV:SELECTION,...``): how the default split (an unset selection is
twice dev, archon.benchmarks.base) was chosen.

Columns: P(a truly better architecture is emitted), P(an architecture no better than the
baseline is emitted as a win). Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random

from archon.search.selection import TOP_K, Contender, race

SCENARIOS = {
    "null (all = baseline)": [0.0] * 30,
    "one +0.15": [0.15] + [0.0] * 29,
    "one +0.20": [0.20] + [0.0] * 29,
    "three +0.10": [0.10] * 3 + [0.0] * 27,
    "spread -0.20..+0.12": [-0.2 + 0.32 * i / 29 for i in range(30)],
}


def draw(rng: random.Random, gains: list[float], n: int, p0: float, rho: float) -> tuple[list[float], list[list[float]]]:
    """0/1 outcomes of the baseline and each architecture on ``n`` records."""
    u = [rng.random() for _ in range(n)]
    base = [1.0 if x < p0 else 0.0 for x in u]
    archs = [[1.0 if (u[i] if rng.random() < rho else rng.random()) < p0 + g else 0.0 for i in range(n)] for g in gains]
    return base, archs


def one(rng: random.Random, gains: list[float], n_dev: int, n_sel: int, top_weight: float,
        p0: float = 0.45, rho: float = 0.6) -> tuple[bool, bool]:
    _, dev = draw(rng, gains, n_dev, p0, rho)
    ranked = sorted(range(len(gains)), key=lambda i: (-sum(dev[i]), i))[:TOP_K]
    base, sel = draw(rng, gains, n_sel, p0, rho)
    contenders = [Contender(f"trial-{i}", {}, i, cost={"calls": 1.0}) for i in ranked]
    baseline = Contender("baseline", {}, None, cost={"calls": 1.0})

    def evaluate(c: Contender, indices: list[int]) -> dict[int, float]:
        row = base if c.trial is None else sel[c.trial]
        return {i: row[i] for i in indices}

    decision = race(contenders, baseline, evaluate, n_sel, top_weight=top_weight)
    if decision is None or not decision.beats_baseline:
        return False, False
    gain = gains[decision.emitted.trial]
    return gain > 0, gain <= 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--dev", type=int, default=60)
    ap.add_argument("--selection", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--allocations", default="80:40,60:60,40:80,30:90",
                    help="DEV:SELECTION pairs for the second table (comma-separated)")
    args = ap.parse_args(argv)
    rules = {"weighted Holm (0.5 to the best by dev)": 0.5, "plain Holm (equal weights)": 1.0 / TOP_K}
    print(f"{args.draws} draws, dev {args.dev}, selection {args.selection}, top {TOP_K} by dev, baseline 0.45")
    print(f"| scenario | rule | P(real winner emitted) | P(false win emitted) |")
    print("|---|---|---|---|")
    for name, gains in SCENARIOS.items():
        for rule, weight in rules.items():
            rng = random.Random(args.seed)
            found = false = 0
            for _ in range(args.draws):
                real, wrong = one(rng, gains, args.dev, args.selection, weight)
                found += real
                false += wrong
            print(f"| {name} | {rule} | {found / args.draws:.3f} | {false / args.draws:.3f} |")
    allocations = [tuple(int(x) for x in pair.split(":")) for pair in args.allocations.split(",") if pair]
    print(f"\nthe same rule (weighted Holm), records moved between dev and selection")
    print("| scenario | " + " | ".join(f"dev {d} / selection {s}" for d, s in allocations) + " |")
    print("|---|" + "---|" * len(allocations))
    for name, gains in SCENARIOS.items():
        cells = []
        for n_dev, n_sel in allocations:
            rng = random.Random(args.seed)
            found = false = 0
            for _ in range(args.draws):
                real, wrong = one(rng, gains, n_dev, n_sel, rules["weighted Holm (0.5 to the best by dev)"])
                found += real
                false += wrong
            cells.append(f"{found / args.draws:.3f} / {false / args.draws:.3f}")
        print(f"| {name} (real / false) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
