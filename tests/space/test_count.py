"""Counting small spaces whose sizes are derived by hand in each test."""

from __future__ import annotations

import math

import pytest

from archon.graph import Pipeline
from archon.space import InvalidPoint

from space_util import space_of

PLAIN = """
space:
  - type: generate
    samples: {int: [1, 3], name: n}
    temperature: {choice: [0.2, 0.7], name: t}
  - {type: vote}
"""

# critic optional, but the rank demands critiques: only critic=true is valid.
CRITIC = """
space:
  - {type: generate, samples: {int: [1, 4], name: n}}
  - {layer: [{type: critique}], optional: critic}
  - {type: rank, top_k: 1, use_critiques: true}
"""

# n in {1,2}; depth 0..2 copies of a fuser with w in {1,2} samples; last = vote | fuse(max_candidates 1)
NESTED = """
space:
  - {type: generate, samples: {int: [1, 2], name: n}}
  - repeat: {int: [0, 2]}
    name: depth
    layers:
      - type: fuse
        samples: {choice: [1, 2], name: w}
  - one_of:
      - [{type: vote}]
      - [{type: fuse, max_candidates: 1}]
    labels: [vote, fuse]
    name: last
"""

WHEN = """
space:
  - type: generate
    samples: {int: [1, 3], name: n}
    temperature: {choice: [0.3, 0.9], name: t, when: {n: [2, 3]}}
  - {type: vote}
"""


def test_product_space():
    r = space_of(PLAIN).count()
    assert (r.exact, r.total_points, r.invalid_reasons) == (3 * 2, 6, {})


def test_invalid_points_and_reasons():
    r = space_of(CRITIC).count()
    # 4 sample counts x critic on/off = 8 points; without the critic the rank has no critiques
    assert r.total_points == 8 and r.exact == 4 and r.valid == 4
    assert list(r.invalid_reasons) == [next(k for k in r.invalid_reasons if k.startswith("critic-before-use"))]
    assert sum(r.invalid_reasons.values()) == 4


def test_repeat_one_of_conditional_count():
    s = space_of(NESTED)
    r = s.count()
    # points per n: depth 0 -> 1, depth 1 -> 2 (w#1), depth 2 -> 4 (w#1, w#2): 7; x2 (n) x2 (last) = 28
    # last=vote: all 14 valid. last=fuse needs exactly 1 candidate in: depth 0 -> n=1 (1 point),
    # depth 1 -> w#1=1 (2 points: any n), depth 2 -> w#2=1 (4 points): 7 valid. Total 21.
    assert r.total_points == 28 and r.exact == 21
    assert sum(r.invalid_reasons.values()) == 7
    assert [c.name for c in s.choices] == ["n", "depth", "w#1", "w#2", "last"]
    assert s.choices[3].condition == {"depth": (2,)}
    assert len(list(s.enumerate())) == 21
    assert len(list(s.enumerate(limit=5))) == 5


def test_when_drops_the_value():
    s = space_of(WHEN)
    r = s.count()
    assert r.total_points == 1 + 2 + 2 and r.exact == 5
    p = s.resolve({"n": 1})
    assert p.component("generate1").temperature == 0.7  # the schema default: the key was dropped
    p = s.resolve({"n": 2, "t": 0.3})
    assert p.component("generate1").temperature == 0.3


def test_estimate_matches_exact_when_too_big_to_enumerate():
    s = space_of(NESTED)
    r = s.count(max_points=5, samples=4000, seed=1)
    assert r.exact is None and r.method == "sampling" and r.total_is_estimate
    assert r.total_points == pytest.approx(28, rel=0.1)
    assert r.estimate == pytest.approx(21, rel=0.1)


def test_continuous_space_is_estimated():
    s = space_of("space:\n  - {type: generate, temperature: {float: [0.1, 1.0]}}\n  - {type: vote}\n")
    assert not s.is_finite
    r = s.count(samples=50)
    assert r.exact is None and r.total_points is None and math.isinf(r.estimate) and r.valid == 50
    with pytest.raises(ValueError):
        list(s.enumerate())


def test_float_step_and_log_int_domains_are_exact():
    s = space_of(
        "space:\n  - type: generate\n    samples: {int: {low: 1, high: 8, log: true}}\n"
        "    temperature: {float: {low: 0.1, high: 0.5, step: 0.1}}\n  - {type: vote}\n"
    )
    assert s.count().exact == 8 * 5
    assert {c.name for c in s.choices} == {"pipeline.0.0.samples", "pipeline.0.0.temperature"}


def test_pipeline_without_choices_is_a_space_of_one():
    s = space_of("pipeline:\n  - {type: generate}\n  - {type: vote}\n")
    assert s.choices == [] and s.count().exact == 1
    assert isinstance(s.resolve({}), Pipeline)


def test_sample_returns_pipelines_or_invalid_points():
    s = space_of(CRITIC)
    seen = {type(s.sample(seed)) for seed in range(40)}
    assert seen == {Pipeline, InvalidPoint}
    bad = next(x for x in (s.sample(seed) for seed in range(40)) if isinstance(x, InvalidPoint))
    assert bad.assignment["critic"] is False and bad.reasons[0].startswith("critic-before-use")


def test_repeat_renames_ids_per_copy():
    s = space_of(
        """
space:
  - {type: generate, id: g, samples: 3}
  - repeat: 2
    layers:
      - {type: fuse, id: f, samples: 2}
      - {type: rank, id: r, inputs: [f], top_k: 1}
  - {type: vote}
"""
    )
    p = s.resolve({})
    assert p.order == ["g", "f_1", "r_1", "f_2", "r_2", "vote1"]
    assert p.inputs("r_2") == ["f_2"]


def test_prefix_at_a_layer_position():
    s = space_of(
        """
space:
  - {type: generate, samples: 4}
  - prefix: [{type: fuse, id: a}, {type: fuse, id: b}, {type: fuse, id: c}]
    size: {int: [1, 3], name: width}
  - {type: fuse}
"""
    )
    assert s.resolve({"width": 2}).layers() == [["generate1"], ["a", "b"], ["fuse1"]]
    assert s.count().exact == 3
