"""Property tests: random small spaces resolve into pipelines that validate and round-trip
through YAML (space -> pipeline objects -> YAML -> objects -> YAML is the identity)."""

from __future__ import annotations

import random

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archon.graph import Pipeline
from archon.space import InvalidPoint, Space
from archon.graph import validate_pipeline
from archon.spec import dump_yaml, load_spec_text

MODELS = {"m1": {"kind": "litellm", "model": "openai/m1", "api_base": "http://127.0.0.1:9/v1", "context_window": 6000}}


def int_marker(draw, lo, hi, name=None):
    a = draw(st.integers(lo, hi))
    b = draw(st.integers(a, hi))
    marker = {"int": [a, b]}
    if name:
        marker["name"] = name
    return draw(st.sampled_from([marker, a]))


@st.composite
def spaces(draw):
    gen = {"type": "generate", "samples": int_marker(draw, 1, 4, "n")}
    if draw(st.booleans()):
        gen["models"] = {"prefix": ["local/smollm2", "m1"], "size": {"int": [1, 2]}, "name": "k"}
    if draw(st.booleans()):
        gen["temperature"] = draw(st.sampled_from([{"choice": [0.2, 0.8]}, {"float": {"low": 0.1, "high": 0.9, "step": 0.4}}, 0.5]))
    if draw(st.booleans()):
        gen["max_tokens"] = {"choice": [64, 2048], "name": "len"}
    layers: list = [gen]
    if draw(st.booleans()):
        layers.append({"layer": [{"type": "critique", "max_tokens": 64}], "optional": True})
    if draw(st.booleans()):
        layers.append({"one_of": [[], [{"type": "rank", "top_k": int_marker(draw, 1, 3), "model": draw(st.sampled_from(["local/smollm2", "m1"]))}]], "name": "ranker"})
    if draw(st.booleans()):
        layers.append({"repeat": {"int": [0, draw(st.integers(0, 2))]}, "layers": [{"type": "fuse", "samples": {"choice": [1, 2]}, "max_tokens": 64}]})
    layers.append(
        draw(
            st.sampled_from(
                [
                    {"type": "vote"},
                    {"type": "fuse", "model": "m1", "max_candidates": 4},
                    {"one_of": [[{"type": "select", "by": "judge"}], [{"type": "verify"}, {"type": "select", "by": "verdict"}]]},
                ]
            )
        )
    )
    budget = draw(st.sampled_from([None, {"per_query": {"calls": 12}}]))
    data = {"models": MODELS, "space": layers}
    if budget:
        data["budget"] = budget
    return data


def _roundtrip(p: Pipeline) -> None:
    text = dump_yaml(p.spec)
    again = validate_pipeline(load_spec_text(text, "dumped.yaml"))
    assert again == p.spec
    assert dump_yaml(again) == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces(), st.integers(0, 2**32 - 1))
def test_random_spaces_resolve_validate_and_round_trip(data, seed):
    text = yaml.safe_dump(data, sort_keys=False)
    space = Space.from_document(load_spec_text(text, "space.yaml"))
    rng = random.Random(seed)
    for _ in range(5):
        point = space.sample(rng)
        if isinstance(point, InvalidPoint):
            assert point.reasons
            continue
        assert isinstance(point, Pipeline)
        # the same assignment resolves to the same spec, and the spec validates and round-trips
        assert space.resolve(point.assignment).spec == point.spec
        _roundtrip(point)


@settings(max_examples=25, deadline=None)
@given(spaces())
def test_count_agrees_with_enumerate_and_sampling(data):
    space = Space.from_document(load_spec_text(yaml.safe_dump(data, sort_keys=False), "space.yaml"))
    result = space.count()
    every = space.count(every_point=True)  # the fast count agrees with checking point by point
    assert (result.exact, result.total_points, list(result.invalid_reasons.items())) == (
        every.exact, every.total_points, list(every.invalid_reasons.items()))
    valid = list(space.enumerate())
    assert result.exact == len(valid)
    assert result.total_points == sum(1 for _ in space.points())
    assert sum(result.invalid_reasons.values()) >= result.total_points - result.exact
    for assignment in valid[:5]:
        assert space.resolve(assignment).assignment == assignment
