"""Dollars per call: the spec's price, litellm's cost map, free local models."""

from __future__ import annotations

import os

import pytest

from archon.backends.accounting import call_dollars, litellm_dollars
from archon.spec.schema import ModelSpec

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# litellm imports provider modules lazily; one of them makes pydantic warn about a ReadOnly
# TypedDict, which the suite's "warnings are errors" setting would turn into a failed call
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")


def test_spec_price_wins_for_every_kind() -> None:
    price = {"input_per_mtok": 2.0, "output_per_mtok": 8.0}
    for kind, model in (("litellm", "openai/gpt-4o-mini"), ("local", "smollm2"), ("fake", "x")):
        spec = ModelSpec(kind=kind, model=model, price=price)
        assert call_dollars(spec, 1_000_000, 500_000) == pytest.approx(6.0)


def test_local_and_fake_models_are_free_unless_priced() -> None:
    assert call_dollars(ModelSpec(kind="local", model="smollm2"), 10_000, 10_000) == 0.0
    assert call_dollars(ModelSpec(kind="fake", model="x"), 10_000, 10_000) == 0.0


def test_litellm_cost_map_for_known_models_and_zero_for_unknown() -> None:
    known = litellm_dollars("openai/gpt-4o-mini", 1_000_000, 1_000_000)
    assert known > 0
    assert call_dollars(ModelSpec(kind="litellm", model="openai/gpt-4o-mini"), 1_000_000, 1_000_000) == known
    assert litellm_dollars("hosted_vllm/my-own-model", 1000, 1000) == 0.0
    assert litellm_dollars("openai/gpt-4o-mini", 0, 0) == 0.0
