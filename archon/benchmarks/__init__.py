"""Benchmarks: the tasks that define "good", with honest splits, scorers and ``evaluate``.

>>> from archon.benchmarks import load_benchmark
>>> b = load_benchmark("capitals")
>>> splits = b.splits()           # deterministic by seed: test, dev, selection; the shot pool last
>>> b.score(splits.dev[0], "Paris").value in (0.0, 1.0)
True

See docs/benchmarks.md for the built-in tasks, loaders and scorers.
"""

from archon.benchmarks.base import Benchmark, Record, Score, Scorer, Splits, split_order, split_records
from archon.benchmarks.evaluate import EvalReport, evaluate, shot_examples
from archon.benchmarks.registry import benchmark_names, load_benchmark
from archon.benchmarks.scorers import SCORERS, make_scorer

__all__ = [
    "SCORERS",
    "Benchmark",
    "EvalReport",
    "Record",
    "Score",
    "Scorer",
    "Splits",
    "benchmark_names",
    "evaluate",
    "load_benchmark",
    "make_scorer",
    "shot_examples",
    "split_order",
    "split_records",
]
