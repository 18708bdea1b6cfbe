"""``archon space FILE``: how big a search space is, how much of it is invalid, and samples."""

from __future__ import annotations

import argparse
import random
from collections import Counter
from typing import Any

from archon.cli._common import format_size
from archon.errors import InputError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "space",
        help="size of a search space, its invalid share, and sample pipelines",
        description=(
            "Validate a space spec, print its choices and its size (exact when the space is finite "
            "and small enough to count, estimated otherwise), the share of points that break a rule "
            "and why, and --sample N random valid pipelines as YAML documents."
        ),
        epilog="Exit status: 0 ok, 2 invalid spec, 1 internal error.",
    )
    parser.add_argument("file", metavar="FILE", help="space (or pipeline) spec (.yaml)")
    parser.add_argument("--sample", type=int, default=0, metavar="N", help="print N random valid pipelines (default: 0)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed for --sample (default: 0)")
    parser.set_defaults(handler=run)


def _condition(choice: Any) -> str:
    parts = []
    for name, values in (getattr(choice, "condition", None) or {}).items():
        shown = ", ".join(str(v) for v in values)
        parts.append(f"{name} in {{{shown}}}")
    return f"  (when {' and '.join(parts)})" if parts else ""


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def run(args: argparse.Namespace) -> int:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from archon.space import InvalidPoint, Space
    from archon.spec import dump_yaml, load_spec_file

    if args.sample < 0:
        raise InputError(f"archon space: error: --sample must be >= 0, got {args.sample}")
    doc = load_spec_file(args.file)
    space = Space.from_document(doc)
    count = space.count()
    kind = "space" if doc.is_space else "pipeline (a space with no choices)"
    print(f"{args.file}: {kind} with {_plural(len(space.choices), 'choice')}")
    for choice in space.choices:
        desc = choice.domain.describe()
        if not desc.startswith(choice.kind):
            desc = f"{choice.kind} {desc}"
        print(f"  {choice.name}: {desc}{_condition(choice)}")
    valid = format_size(count.exact, count.estimate)
    how = "exact" if count.exact is not None else f"estimated by {count.method}"
    line = f"size: {valid} valid pipelines ({how})"
    if count.total_points is not None:
        total = format_size(None if count.total_is_estimate else int(count.total_points), count.total_points)
        line += f" of {total} points"
    print(line)
    if count.checked:
        invalid = count.checked - count.valid
        print(f"invalid: {format_size(invalid, invalid)} of {format_size(count.checked, count.checked)} checked points"
              f" ({invalid / count.checked:.1%})")
        for reason, n in count.invalid_reasons.items():
            print(f"  {format_size(n, n)} x {reason}")
    if args.sample:
        rng = random.Random(args.seed)
        samples: list[Any] = []
        rejected: Counter[str] = Counter()
        attempts = 0
        limit = max(1000, args.sample * 100)
        while len(samples) < args.sample and attempts < limit:
            attempts += 1
            point = space.sample(rng)
            if isinstance(point, InvalidPoint):
                rejected.update(point.reasons or ["invalid"])
                continue
            samples.append(point)
        if rejected:
            bad = attempts - len(samples)
            print(f"sampling: {bad} of {attempts} random points were invalid ({bad / attempts:.0%}); redrawn")
        for i, pipeline in enumerate(samples, 1):
            assignment = getattr(pipeline, "assignment", None)
            shown = ", ".join(f"{k}={v}" for k, v in (assignment or {}).items())
            print(f"--- # sample {i}" + (f": {shown}" if shown else ""))
            print(dump_yaml(pipeline.spec).rstrip("\n"))
        if len(samples) < args.sample:
            raise InputError(
                f"{args.file}: error: found only {len(samples)} valid pipelines in {attempts} random points "
                "(the space is almost entirely invalid; see the reasons above)"
            )
    return 0
