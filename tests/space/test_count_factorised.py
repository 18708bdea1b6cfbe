"""The exact count that checks each distinct situation once (archon.space.count) gives exactly what
checking every point gives: the same valid and total numbers, the same reasons with the same
counts, in the same order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archon.space import Space
from archon.space.count import count_by_classes
from archon.spec import load_spec_file, load_spec_text

from space_util import space_of

ROOT = Path(__file__).resolve().parents[2] / "search_spaces"


def _same_as_every_point(space: Space, *, fast_path: bool = True) -> None:
    fast = space.count()
    slow = space.count(every_point=True)
    assert (fast.exact, fast.total_points, fast.valid, fast.checked) == (slow.exact, slow.total_points, slow.valid, slow.checked)
    assert list(fast.invalid_reasons.items()) == list(slow.invalid_reasons.items())
    if fast_path:  # the comparison must not pass by falling back to checking every point
        assert count_by_classes(space.template, space._reasons, max_checks=10**6) is not None


def _checks(space: Space) -> tuple[int, int]:
    """(checks the fast count makes, points)."""
    calls = 0

    def counting(resolved):
        nonlocal calls
        calls += 1
        return space._reasons(resolved)

    tally = count_by_classes(space.template, counting, max_checks=10**6)
    assert tally is not None
    return calls, sum(tally.values())


@pytest.mark.parametrize("name", ["moa.yaml", "test_time_compute.yaml", "quickstart.yaml", "arithmetic_small.yaml", "arithmetic_mix.yaml",
                                  "cascade.yaml"])
def test_shipped_spaces(name):
    # cascade.yaml names two stage nodes `answer` (one per stage), which the classes' argument
    # does not cover: it is counted point by point, and must still agree
    _same_as_every_point(Space.from_document(load_spec_file(ROOT / name)), fast_path=name != "cascade.yaml")


def test_itas_checks_a_few_hundred_situations_not_every_point():
    space = Space.from_document(load_spec_file(ROOT / "archon_itas.yaml"))
    r = space.count()
    assert (r.total_points, r.exact) == (46_800, 2_763)
    assert r.invalid_reasons == {next(iter(r.invalid_reasons)): 44_037}
    checks, points = _checks(space)
    assert points == 46_800 and checks < points / 20


def test_smaller_itas_matches_every_point():
    # the same structure with fewer values (2,232 points), small enough to check point by point
    text = (ROOT / "archon_itas.yaml").read_text()
    for old, new in [("size: {int: [1, 10]}", "size: {int: [1, 4]}"), ("samples: {int: [1, 5], name: samples}", "samples: {int: [1, 3], name: samples}"),
                     ("repeat: {int: [0, 3]}", "repeat: {int: [0, 2]}")]:
        assert old in text
        text = text.replace(old, new)
    space = Space.from_document(load_spec_text(text, "itas_small.yaml"))
    assert space.count().total_points == 4 * 3 * 2 * (1 + 5 + 25) * 3
    _same_as_every_point(space)


MODELS = """
models:
  small: {kind: litellm, model: openai/small, api_base: "http://127.0.0.1:9/v1", context_window: 2500}
  big: {kind: litellm, model: openai/big, api_base: "http://127.0.0.1:9/v1"}
"""

# Each space puts a rule on both sides of a barrier (a layer of only generate/fuse nodes).
CASES = {
    # a critic whose critiques a fuser drops (critiques-used) before the barrier, one in the tail
    "critiques": """
space:
  - {type: generate, model: big, samples: {int: [1, 3]}}
  - {layer: [{type: critique, model: big}], optional: c1}
  - type: fuse
    model: big
    use_critiques: {choice: [true, false]}
    samples: {int: [1, 2]}
  - {layer: [{type: critique, model: big}], optional: c2}
  - one_of: [[{type: rank, model: big, top_k: 1}], [{type: vote}], [{type: fuse, model: big, use_critiques: false}]]
""",
    # context windows before and after the barrier, and a fuse layer of several nodes (its cut
    # breaks single-output, which must not count), and a final layer of two nodes (which must)
    "windows": """
space:
  - type: generate
    models: {prefix: [big, small, big], size: {int: [1, 3]}}
    samples: {int: [1, 3]}
    max_tokens: {choice: [64, 1024]}
  - prefix: [{type: fuse, model: small, max_tokens: 512}, {type: fuse, model: big, max_tokens: 2048}]
    size: {int: [1, 2]}
  - {layer: [{type: rank, model: small, top_k: {int: [1, 3]}}], optional: true}
  - one_of:
      - [{type: fuse, model: small}]
      - [[{type: fuse, model: big}, {type: fuse, model: big}]]
      - [{type: fuse, model: small, max_candidates: 1}]
""",
    # annotations: select by verdict needs a verify upstream, not across a fuse
    "annotations": """
space:
  - {type: generate, model: big, samples: {int: [1, 4]}}
  - {layer: [{type: verify, model: big}], optional: v1}
  - {layer: [{type: fuse, model: big, samples: {int: [1, 3]}}], optional: f}
  - {layer: [{type: verify, model: big}], optional: v2}
  - one_of: [[{type: select, by: verdict}], [{type: unit_test, model: big, mode: judge, top_k: 1}], [{type: select, by: judge, model: small}]]
""",
    # vote and refine create candidates but are no barrier (a vote passes on its inputs' size, a
    # refine as many candidates as it gets), nor is a layer with a fuse beside a critic
    "passing": """
space:
  - {type: generate, model: big, samples: {int: [1, 3]}, max_tokens: {choice: [64, 1500]}}
  - one_of:
      - [{type: vote}]
      - [{type: refine, model: big, max_tokens: 600}]
      - [{type: critique, model: big}]
      - [[{type: fuse, model: big, max_tokens: 300}, {type: critique, model: big, max_tokens: 64}]]
  - {type: fuse, model: small, max_tokens: {choice: [1000, 1100]}}
""",
    # a per-query budget: the calls before the barrier must count
    "budget": """
budget: {per_query: {calls: 14}}
space:
  - {type: generate, model: big, samples: {int: [1, 6]}}
  - {layer: [{type: critique, model: big}], optional: true}
  - repeat: {int: [0, 2]}
    layers:
      - {type: fuse, model: big, samples: {int: [1, 3]}}
  - one_of: [[{type: vote}], [{type: verify, model: big}, {type: select, by: verdict}]]
""",
    # schema errors before and after the barrier (samples 2000 > 1024, top_k 0 < 1)
    "schema": """
space:
  - {type: generate, model: big, samples: {choice: [1, 2000]}}
  - {type: fuse, model: big, samples: {int: [1, 2]}}
  - {type: rank, model: big, top_k: {choice: [0, 1]}}
""",
    # a generator after the first layer, and a when naming a choice inside a repeat copy
    "structure": """
space:
  - {type: generate, model: big, samples: {int: [1, 2], name: n}}
  - {layer: [{type: generate, model: big}], optional: late}
  - repeat: {int: [1, 3], name: depth}
    layers:
      - {type: fuse, model: big, samples: {int: [1, 3], name: w}}
      - {layer: [{type: critique, model: big}], when: {w: [2, 3]}}
      - {layer: [{type: rank, model: big, top_k: 1}], when: {w: 3, n: 2}}
  - {type: fuse, model: small, id: answer}
""",
}


def test_choices_inside_cascade_stages_count_as_every_point():
    # layer markers inside a stage, and signals some of the stage's points cannot produce
    space = space_of(MODELS + """
budget: {per_query: {calls: 10}}
space:
  - type: cascade
    stages:
      - layers:
          - {type: generate, model: big, samples: {int: [1, 3], name: k}}
          - one_of: [[], [{type: vote}], [{type: verify, model: small}]]
            name: agg
        signal: {choice: [vote_margin, verdict, parses], name: sig}
        threshold: {choice: [0.3, 0.7], name: thr}
      - layers:
          - {type: generate, model: big, samples: {int: [2, 4], name: k2}}
          - {layer: [{type: rank, model: small, top_k: 1}], optional: rank2}
          - {type: vote}
""")
    r = space.count()
    assert 0 < r.valid < r.checked and "cascade-signal" in " ".join(r.invalid_reasons)
    _same_as_every_point(space, fast_path=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rules_across_barriers(name):
    space = space_of(MODELS + CASES[name])
    r = space.count()
    assert r.checked - r.valid > 0 or name == "structure"  # each case has invalid points to get right
    _same_as_every_point(space)


def test_preconditions_send_other_spaces_to_every_point():
    wired = space_of("space:\n  - {type: generate, id: g, samples: {int: [1, 3]}}\n  - {type: fuse, inputs: [g]}\n")
    assert count_by_classes(wired.template, wired._reasons, max_checks=100) is None
    repeated_id = space_of("space:\n  - {type: generate, samples: {int: [1, 3]}}\n  - repeat: 2\n    layers: [{type: fuse, id: f}]\n  - {type: vote}\n")
    assert count_by_classes(repeated_id.template, repeated_id._reasons, max_checks=100) is None
    model_choice = space_of(
        "models:\n  m: {kind: litellm, model: openai/m, api_base: 'http://127.0.0.1:9/v1', context_window: {choice: [300, 9000]}}\n"
        "space:\n  - {type: generate, model: m, samples: {int: [1, 3]}}\n  - {type: fuse, model: m}\n"
    )
    assert count_by_classes(model_choice.template, model_choice._reasons, max_checks=100) is None
    for space in (wired, repeated_id, model_choice):
        _same_as_every_point(space, fast_path=False)


def test_too_many_checks_falls_back_and_then_estimates():
    space = space_of(MODELS + CASES["budget"])
    assert count_by_classes(space.template, space._reasons, max_checks=3) is None
    exact = space.count()
    assert exact.exact is not None
    r = space.count(max_points=3, samples=50)
    assert r.exact is None and r.method == "sampling"


# ----------------------------------------------------------------------------- random spaces


def _count_marker(draw, lo, hi):
    a = draw(st.integers(lo, hi))
    b = draw(st.integers(a, hi))
    return draw(st.sampled_from([{"int": [a, b]}, {"int": [a, b]}, a]))


# weights: mostly kinds that compose (so that most spaces have valid points), some that break rules
_KINDS = ["fuse"] * 4 + ["rank"] * 2 + ["critique"] * 2 + ["verify", "vote", "select", "unit_test", "refine"]


@st.composite
def _component(draw):
    kind = draw(st.sampled_from(_KINDS + (["generate"] if draw(st.integers(0, 9)) == 0 else [])))
    comp: dict = {"type": kind}
    if kind != "vote":
        comp["model"] = draw(st.sampled_from(["small", "big", "big", "local/smollm2"]))
        if draw(st.booleans()):
            comp["max_tokens"] = draw(st.sampled_from([64, 700, {"choice": [64, 1200]}]))
    if kind in ("rank", "fuse") and draw(st.integers(0, 3)) == 0:
        comp["use_critiques"] = draw(st.sampled_from([True, False, {"choice": [True, False]}]))
    if kind in ("rank", "select"):
        comp["top_k"] = _count_marker(draw, 1, 3)
    if kind == "fuse":
        comp["samples"] = _count_marker(draw, 1, 3)
        if draw(st.booleans()):
            comp["max_candidates"] = draw(st.integers(2, 6))
    if kind == "select":
        comp["by"] = draw(st.sampled_from(["judge", "judge", "verdict", "tests"]))
    if kind == "unit_test":
        comp["mode"] = "judge"
    if kind == "refine":
        comp["rounds"] = draw(st.sampled_from([1, 2, {"choice": [1, 2]}]))
    return comp


@st.composite
def _layer(draw, depth=0):
    shapes = ["one", "one", "one", "fuse", "fuse", "two", "optional", "one_of", "prefix"] + (["repeat"] if depth == 0 else [])
    shape = draw(st.sampled_from(shapes))
    if shape == "fuse":  # a barrier, after which different prefixes can meet
        return {"type": "fuse", "model": draw(st.sampled_from(["small", "big"])), "samples": _count_marker(draw, 1, 3)}
    if shape == "one":
        return draw(_component())
    if shape == "two":
        return [draw(_component()), draw(_component())]
    if shape == "optional":
        return {"layer": [draw(_component())], "optional": True}
    if shape == "one_of":
        alts = [[draw(_layer(depth + 1)) for _ in range(draw(st.integers(0, 2)))] for _ in range(draw(st.integers(2, 3)))]
        return {"one_of": alts}
    if shape == "prefix":
        return {"prefix": [draw(_component()) for _ in range(3)], "size": {"int": [1, 3]}}
    return {"repeat": {"int": [0, draw(st.integers(1, 2))]}, "layers": [draw(_layer(depth + 1)) for _ in range(draw(st.integers(1, 2)))]}


@st.composite
def layered_spaces(draw):
    gen: dict = {"type": "generate", "samples": _count_marker(draw, 1, 4)}
    if draw(st.integers(0, 2)):
        gen["models"] = {"prefix": ["big", "small", "local/smollm2"], "size": {"int": [1, 3]}}
    if draw(st.booleans()):
        gen["max_tokens"] = draw(st.sampled_from([{"choice": [64, 1500]}, 900]))
    if draw(st.booleans()):
        gen["temperature"] = {"choice": [0, 0.7]}
    layers = [gen] + [draw(_layer()) for _ in range(draw(st.integers(2, 4)))]
    last = [{"type": "vote"}, {"type": "fuse", "model": "small"}, {"type": "fuse", "model": "big", "max_candidates": 3}, {"type": "rank", "model": "small", "top_k": 1}]
    layers.append(draw(st.sampled_from(last)))
    models = yaml.safe_load(MODELS)["models"]
    models["small"]["context_window"] = draw(st.sampled_from([2500, 4000, 6000]))
    data = {"models": models, "space": layers}
    budget = draw(st.sampled_from([None, 8, 15, 30]))
    if budget:
        data["budget"] = {"per_query": {"calls": budget}}
    return data


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(layered_spaces())
def test_random_layered_spaces_match_every_point(data):
    space = Space.from_document(load_spec_text(yaml.safe_dump(data, sort_keys=False), "space.yaml"))
    if space.count(every_point=True, max_points=3000).exact is None:
        return  # too big to check point by point in a test
    _same_as_every_point(space)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(layered_spaces(), st.integers(0, 2**32 - 1))
def test_calls_of_a_cut_are_the_cost_models(data, seed):
    # the count sums a cut's calls itself (a cut that breaks a rule does not compile), so that sum
    # must be the static cost's on every pipeline that does compile
    from archon.graph import Pipeline
    from archon.space.count import _chain_calls

    space = Space.from_document(load_spec_text(yaml.safe_dump(data, sort_keys=False), "space.yaml"))
    rng = random.Random(seed)
    for _ in range(10):
        point = space.sample(rng)
        if isinstance(point, Pipeline):
            assert _chain_calls(point.spec) == point.static_cost().calls


def test_a_huge_range_is_not_listed():
    # 10^7 values: listing them would take hundreds of MB before the check limit could stop it
    import tracemalloc

    space = space_of("space:\n  - {type: generate, temperature: 0.5, samples: 3}\n  - {type: fuse, max_tokens: {int: [1, 10000000]}}\n")
    tracemalloc.start()
    try:
        assert count_by_classes(space.template, space._reasons, max_checks=20) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000
    r = space.count(samples=50)
    assert r.exact is None and r.total_points == pytest.approx(10_000_000)
