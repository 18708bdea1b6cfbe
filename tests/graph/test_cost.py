"""The static cost model counts exactly what each component calls."""

from __future__ import annotations

import pytest

from archon.graph import calls_for, candidates_out
from archon.graph.cost import calls_by_model
from archon.spec.schema import (
    CritiqueSpec,
    FuseSpec,
    GenerateSpec,
    RankSpec,
    RefineSpec,
    SelectSpec,
    UnitTestSpec,
    VerifySpec,
    VoteSpec,
)

from graph_util import compile_text

N = 7  # candidates arriving at the node


@pytest.mark.parametrize(
    "component, calls, out",
    [
        (GenerateSpec(models=["a", "b", "a"], samples=4), 12, 12),
        (GenerateSpec(samples=5), 5, 5),
        (CritiqueSpec(), N, N),
        (RankSpec(top_k=3), 1, 3),
        (RankSpec(top_k=10), 1, N),
        (FuseSpec(samples=3), 3, 3),
        (VerifySpec(), 2 * N, N),
        (UnitTestSpec(mode="execute"), 1, N),
        (UnitTestSpec(mode="judge", top_k=2), 1 + N, 2),
        (UnitTestSpec(mode="auto"), 1 + N, N),  # not a code task: judged by the model
        (RefineSpec(rounds=3), 2 * 3 * N, N),
        (SelectSpec(by="judge", top_k=2), N, 2),
        (SelectSpec(by="verdict"), 0, 1),
        (SelectSpec(by="tests"), 0, 1),
        (VoteSpec(), 0, 1),
    ],
)
def test_calls_and_candidates_per_component(component, calls, out):
    assert calls_for(component, N) == calls
    assert candidates_out(component, N) == out


def test_unit_test_auto_executes_on_code_tasks():
    assert calls_for(UnitTestSpec(mode="auto"), N, code_task=True) == 1


def test_no_inputs_no_calls():
    for comp in (CritiqueSpec(), RankSpec(), FuseSpec(samples=2), VerifySpec(), UnitTestSpec(), RefineSpec(), SelectSpec()):
        assert calls_for(comp, 0) == 0


def test_calls_by_model_splits_generators():
    assert calls_by_model(GenerateSpec(models=["a", "b", "a"], samples=2), 0) == {"a": 4, "b": 2}
    assert calls_by_model(FuseSpec(model="m", samples=2), 5) == {"m": 2}
    assert calls_by_model(VoteSpec(), 5) == {}


PIPE = """
models:
  big: {kind: litellm, model: openai/big, api_base: "http://127.0.0.1:1/v1", price: {input_per_mtok: 2.0, output_per_mtok: 8.0}}
  free: {kind: litellm, model: openai/free, api_base: "http://127.0.0.1:1/v1"}
pipeline:
  - {type: generate, models: [local/smollm2, big], samples: 3, max_tokens: 100}
  - {type: critique, max_tokens: 50}
  - {type: rank, top_k: 4, model: big}
  - {type: verify, model: big, max_tokens: 30}
  - {type: fuse, samples: 2, model: big, max_tokens: 80}
  - {type: refine, rounds: 2, max_tokens: 80}
  - {type: select, by: judge, top_k: 1}
"""


def test_pipeline_calls_are_exact_and_per_model():
    p = compile_text(PIPE)
    c = p.static_cost()
    # generate 2*3=6 -> critique 6 -> rank 1 (4 left) -> verify 8 -> fuse 2 (2 new) -> refine 2*2*2=8 -> select 2
    assert [c.per_node[n].calls for n in p.order] == [6, 6, 1, 8, 2, 8, 2]
    assert c.calls == 33
    assert c.per_model["big"].calls == 3 + 1 + 8 + 2
    assert c.per_model["local/smollm2"].calls == 3 + 6 + 8 + 2
    assert sum(m.calls for m in c.per_model.values()) == c.calls
    assert sum(n.input_tokens for n in c.per_node.values()) == c.input_tokens


def test_tokens_grow_with_candidates_and_dollars_use_prices():
    p = compile_text(PIPE)
    small = p.static_cost(query_tokens=100)
    large = p.static_cost(query_tokens=1000)
    assert large.input_tokens > small.input_tokens
    assert small.per_node["rank1"].input_tokens > small.per_node["critique1"].input_tokens / 6  # rank shows all 6
    big = small.per_model["big"]
    assert big.dollars == pytest.approx((big.input_tokens * 2.0 + big.output_tokens * 8.0) / 1e6)
    assert small.per_model["local/smollm2"].dollars == 0.0
    assert small.dollars == pytest.approx(big.dollars)
    # output bound: generate emits at most max_tokens per call
    assert small.per_node["generate1"].output_tokens == 6 * 100
    # answer_tokens lowers the estimate but never above max_tokens
    assert p.static_cost(answer_tokens=20).per_node["generate1"].output_tokens == 6 * 20
    assert p.static_cost(answer_tokens=10_000).per_node["generate1"].output_tokens == 6 * 100


def test_unpriced_model_makes_dollars_unknown():
    p = compile_text(PIPE.replace("model: big, max_tokens: 30", "model: free, max_tokens: 30"))
    c = p.static_cost()
    assert c.dollars is None and c.per_model["free"].dollars is None
