"""How long an exact count of a search space takes, checking each distinct situation once
(``Space.count()``) against checking every point (``Space.count(every_point=True)``).

Not a test: it measures and prints a table. Times are this process's CPU seconds (the machines
are shared, so wall time says more about the neighbours than about the count), the best of
``--repeat`` runs. ``checks`` is how many pipelines the fast count validated and compiled; the
point-by-point count checks every point. Both columns of counts must agree: the row says
``MISMATCH`` if they do not.

Spaces: the shipped ones, ITAS with a per-query call budget added (a budget sums over every node,
the hardest case for the fast count), and a deep repeat (0-64 copies of a fuse with a choice, an
optional critic and a ranker: about 4e50 points, which only the fast count can count exactly;
its point-by-point column is left empty).

Usage: python benchmarks/bench_space_count.py [--repeat 3] [--skip-every-point]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from archon.space import Space  # noqa: E402
from archon.space.count import count_by_classes  # noqa: E402
from archon.spec import load_spec_file, load_spec_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "search_spaces"

DEEP_REPEAT = """
space:
  - {type: generate, model: local/smollm2, samples: {int: [1, 5]}}
  - repeat: {int: [0, 64]}
    layers:
      - {type: fuse, model: local/smollm2, samples: {int: [1, 3]}}
      - {layer: [{type: critique, model: local/smollm2}], optional: true}
      - {type: rank, model: local/smollm2, top_k: 2}
  - {type: fuse, model: local/smollm2}
"""


def spaces() -> list[tuple[str, Space, bool]]:
    out = [(p.name, Space.from_document(load_spec_file(p)), True) for p in sorted(ROOT.glob("*.yaml"))]
    itas = (ROOT / "archon_itas.yaml").read_text().replace("\nsearch:", "\nbudget: {per_query: {calls: 60}}\nsearch:", 1)
    out.append(("archon_itas.yaml + calls budget 60", Space.from_document(load_spec_text(itas, "itas_budget.yaml")), True))
    out.append(("repeat 0..64 (fuse, critic?, rank)", Space.from_document(load_spec_text(DEEP_REPEAT, "deep.yaml")), False))
    return out


def cpu(fn, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-every-point", action="store_true", help="only time the fast count")
    args = parser.parse_args()

    print(f"{'space':38} {'points':>10} {'valid':>10} {'checks':>7} {'fast s':>7} {'every-point s':>14}")
    for name, space, small_enough in spaces():
        checks = 0

        def counting(resolved, space=space):
            nonlocal checks
            checks += 1
            return space._reasons(resolved)

        count_by_classes(space.template, counting, max_checks=10**9)
        fast_s, fast = cpu(space.count, args.repeat)
        every = ""
        if small_enough and not args.skip_every_point:
            slow_s, slow = cpu(lambda space=space: space.count(every_point=True), 1)
            same = (slow.exact, slow.total_points, list(slow.invalid_reasons.items())) == (
                fast.exact, fast.total_points, list(fast.invalid_reasons.items()))
            every = f"{slow_s:.2f}" + ("" if same else "  MISMATCH")
        points = fast.total_points
        shown = f"{points:.3g}" if points >= 1e9 else f"{int(points)}"
        valid = f"{fast.exact:.3g}" if fast.exact >= 1e9 else str(fast.exact)
        print(f"{name:38} {shown:>10} {valid:>10} {checks:>7} {fast_s:>7.2f} {every:>14}")


if __name__ == "__main__":
    main()
