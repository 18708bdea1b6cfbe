"""Cascades in the graph layer: stage layout, composition rules with positions, the static cost
(the worst case: every stage), rendering, and exports pinning every node id."""

from __future__ import annotations

import pytest

from archon.errors import SpecError
from archon.graph import check_pipeline
from archon.graph.kinds import KINDS
from archon.spec import dump_yaml, load_spec_text

from graph_util import compile_text, rules_broken

TWO = """
pipeline:
  - type: cascade
    stages:
      - layers:
          - {type: generate, id: answer, samples: 3, max_tokens: 12}
          - type: vote
        signal: vote_margin
        threshold: 0.5
      - layers:
          - {type: generate, id: answer, samples: 5, max_tokens: 12}
          - {type: vote}
"""


def errors(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        check_pipeline(load_spec_text(text, "c.yaml"))
    return [d.format() for d in info.value.diagnostics]


def test_stages_are_laid_out_with_ids_inputs_and_seed_keys() -> None:
    p = compile_text(TWO)
    assert p.order == ["cascade1"] and p.output == "cascade1"
    first, second = p.stages["cascade1"]
    assert first.nodes == ("cascade1.s1.answer", "cascade1.s1.vote1")
    assert first.inputs == {"cascade1.s1.answer": (), "cascade1.s1.vote1": ("cascade1.s1.answer",)}
    assert first.seed_keys["cascade1.s1.answer"] == "answer" == second.seed_keys["cascade1.s2.answer"]
    assert (first.output, first.signal, first.threshold, first.last) == ("cascade1.s1.vote1", "vote_margin", 0.5, False)
    assert first.margin_from == ("cascade1.s1.answer",) and first.margin_candidates == 3
    assert second.last and second.signal is None
    assert KINDS["cascade"].is_source(p.component("cascade1"))


def test_the_static_cost_is_every_stage_and_each_stage_node_has_its_entry() -> None:
    p = compile_text(TWO)
    cost = p.static_cost()
    assert cost.calls == 3 + 5  # the worst case: both stages run (a budget is checked against it)
    assert cost.per_node["cascade1"].calls == 8 and cost.per_node["cascade1"].candidates_out == 1
    assert cost.per_node["cascade1.s1.answer"].calls == 3 and cost.per_node["cascade1.s2.answer"].calls == 5
    assert cost.per_node["cascade1.s2.vote1"].candidates_in == 5
    plain = compile_text("pipeline:\n  - {type: generate, id: answer, samples: 5, max_tokens: 12}\n  - {type: vote}\n")
    assert cost.per_node["cascade1.s2.answer"].input_tokens == plain.static_cost().per_node["answer"].input_tokens
    assert rules_broken("budget: {per_query: {calls: 7}}\n" + TWO) == ["budget-calls"]
    assert rules_broken("budget: {per_query: {calls: 8}}\n" + TWO) == []


def test_a_cascade_over_candidates_costs_its_stages_for_its_inputs() -> None:
    p = compile_text("""
pipeline:
  - {type: generate, samples: 4}
  - type: cascade
    stages:
      - {layers: [{type: vote}], signal: vote_margin, threshold: 0.6}
      - {layers: [{type: fuse, samples: 2}]}
""")
    first, second = p.stages["cascade1"]
    assert first.inputs["cascade1.s1.vote1"] == ("generate1",) and first.margin_from == ("generate1",)
    assert not KINDS["cascade"].is_source(p.component("cascade1"))
    cost = p.static_cost()
    assert cost.per_node["cascade1"].candidates_in == 4 and cost.per_node["cascade1"].calls == 2
    assert cost.per_node["cascade1.s2.fuse1"].candidates_in == 4


def test_the_rules_apply_inside_stages_with_positions() -> None:
    found = errors("""
pipeline:
  - type: cascade
    stages:
      - layers:
          - {type: generate, samples: 2}
          - {type: generate}
        signal: vote_margin
        threshold: 0.5
      - layers:
          - {type: generate, samples: 2}
          - [{type: vote}, {type: vote, inputs: [x]}]
""")
    assert any(e.startswith("c.yaml:7:20: error: generator 'cascade1.s1.generate2' is in layer 1 of stage 1") for e in found), found
    assert any("c.yaml:12:49: error: 'cascade1.s2.vote2' names inputs inside stage 2" in e for e in found), found
    assert any("c.yaml:12:13: error: the last layer of stage 2 of 'cascade1' has 2 nodes" in e for e in found), found


@pytest.mark.parametrize("stage1, message", [
    ("{layers: [{type: generate}], signal: vote_margin, threshold: 0.5}",
     "stage 1 of 'cascade1' cannot produce signal 'vote_margin': it has at most 1 candidate to vote over"),
    ("{layers: [{type: generate}], signal: verdict, threshold: 0.5}",
     "stage 1 of 'cascade1' cannot produce signal 'verdict': no verdict reaches its answer"),
    ("{layers: [{type: generate, model: api}], signal: logprob, threshold: 0.5}",
     "'cascade1.s1.generate1' calls model 'api' (kind litellm), which returns no log-probabilities"),
    ("{layers: [{type: generate}], signal: parses}", "stage 1 of 'cascade1' has no threshold"),
    ("{layers: [{type: generate}]}", "stage 1 of 'cascade1' has no signal and threshold"),
])
def test_a_signal_the_stage_cannot_produce_is_an_error_at_the_stage(stage1: str, message: str) -> None:
    found = errors("models:\n  api: {kind: litellm, model: openai/x}\npipeline:\n  - type: cascade\n    stages:\n"
                   f"      - {stage1}\n      - {{layers: [{{type: generate, samples: 3}}, {{type: vote}}]}}\n")
    assert len(found) == 1 and found[0].startswith("c.yaml:6:") and message in found[0], found


def test_signals_the_stage_can_produce_pass() -> None:
    for stage1 in ("{layers: [{type: generate}, {type: verify}], signal: verdict, threshold: 0.5}",
                   "{layers: [{type: generate, samples: 3}, {type: vote}], signal: logprob, threshold: 0.5}",
                   "{layers: [{type: generate, samples: 2}, {type: fuse}], signal: vote_margin, threshold: 0.5}",
                   "{layers: [{type: generate}], signal: parses, threshold: 0.5}"):
        compile_text(f"pipeline:\n  - type: cascade\n    stages:\n      - {stage1}\n"
                     "      - {layers: [{type: generate, samples: 3}, {type: vote}]}\n")


def test_the_last_stage_has_no_signal_and_stages_take_one_input_and_do_not_nest() -> None:
    found = errors("""
pipeline:
  - type: cascade
    stages:
      - {layers: [{type: generate, samples: 2}, {type: vote}], signal: vote_margin, threshold: 0.5}
      - layers: [{type: fuse}]
        signal: parses
      - layers:
          - type: cascade
            stages: [{layers: [{type: generate}]}, {layers: [{type: generate}]}]
""")
    text = "\n".join(found)
    assert "c.yaml:6:18: error: stage 2 of 'cascade1' reads the cascade's input candidates but stage 1 reads the query" in text
    assert "c.yaml:9:19: error: stage 3 of 'cascade1' holds another cascade" in text
    assert "stage 2 of 'cascade1' has no threshold" in text


def test_a_last_stage_with_a_gate_is_an_error() -> None:
    found = errors("pipeline:\n  - type: cascade\n    stages:\n      - {layers: [{type: generate}], signal: parses, threshold: 0.5}\n"
                   "      - {layers: [{type: generate}], signal: parses, threshold: 0.5}\n")
    assert [f.split(": error: ")[1].split(" (")[0] for f in found] == [
        "the last stage of 'cascade1' has a signal", "the last stage of 'cascade1' has a threshold"]


def test_schema_errors_inside_stages_name_file_line_and_value() -> None:
    found = errors("""
pipeline:
  - type: cascade
    stages:
      - layers: [{type: generate, sampels: 2}]
        signal: vote_margn
        threshold: 1.5
      - layers: [{type: generat}]
""")
    assert "c.yaml:5:35: error: unknown key 'sampels' in a generate component (did you mean 'samples'?)" in found
    assert any(f.startswith("c.yaml:6:17: error: invalid value 'vote_margn' for 'signal' (did you mean 'vote_margin'?") for f in found)
    assert any(f.startswith("c.yaml:7:20: error: threshold 1.5 is out of range") for f in found)
    assert any(f.startswith("c.yaml:8:25: error: unknown component type 'generat'") for f in found)


def test_one_stage_is_not_a_cascade() -> None:
    found = errors("pipeline:\n  - type: cascade\n    stages: [{layers: [{type: generate}]}]\n")
    assert found == ["c.yaml:3:13: error: 'stages' must have at least 2 items"]


def test_rendering_shows_each_stage_and_its_gate() -> None:
    text = compile_text(TWO).render("text")
    assert "8 calls at most (every stage)" in text
    assert "stage 1; a query goes on when vote_margin < 0.5" in text
    assert "cascade1.s2.answer (generate) model=local/smollm2 max_tokens=12 samples=5" in text
    assert "vote_margin &lt; 0.5" in compile_text(TWO).render("mermaid")


def test_dump_round_trips_and_spec_with_ids_pins_every_node() -> None:
    p = compile_text(TWO.replace("id: answer, samples: 5", "samples: 5"))
    pinned = p.spec_with_ids()
    stage2 = pinned.layers[0][0].stages[1]
    assert pinned.layers[0][0].id == "cascade1"
    assert [c.id for layer in stage2.layers for c in layer] == ["generate1", "vote1"]
    text = dump_yaml(p.spec)
    assert "stages:" in text and "signal: vote_margin" in text
    again, _ = check_pipeline(load_spec_text(text, "again.yaml"))
    assert again == p.spec
