from __future__ import annotations

import pytest

from archon.errors import SpecError
from archon.graph import CompositionError, Pipeline

from graph_util import compile_text, rules_broken


def test_layered_default_edges_and_auto_ids():
    p = compile_text(
        """
pipeline:
  - [{type: generate, samples: 2}, {type: generate, id: big}]
  - [{type: critique}]
  - [{type: fuse}, {type: fuse}]
  - {type: fuse}
"""
    )
    assert isinstance(p, Pipeline)
    assert p.order == ["generate1", "big", "critique1", "fuse1", "fuse2", "fuse3"]
    assert p.inputs("critique1") == ["generate1", "big"]
    assert p.inputs("fuse2") == ["critique1"]
    assert p.inputs("fuse3") == ["fuse1", "fuse2"]
    assert p.output == "fuse3"
    assert p.layers() == [["generate1", "big"], ["critique1"], ["fuse1", "fuse2"], ["fuse3"]]
    assert set(p.graph.edges) == {
        ("generate1", "critique1"),
        ("big", "critique1"),
        ("critique1", "fuse1"),
        ("critique1", "fuse2"),
        ("fuse1", "fuse3"),
        ("fuse2", "fuse3"),
    }
    assert p.graph.nodes["big"]["component"].type == "generate"


def test_auto_ids_skip_ids_the_user_took():
    p = compile_text(
        """
pipeline:
  - [{type: generate}, {type: generate, id: generate1}]
  - {type: vote}
"""
    )
    assert p.order == ["generate2", "generate1", "vote1"]


def test_explicit_inputs_override_layers():
    p = compile_text(
        """
pipeline:
  - [{type: generate, id: a}, {type: generate, id: b, samples: 3}]
  - {type: critique, id: c, inputs: [b]}
  - {type: fuse, id: f, inputs: [c, a]}
"""
    )
    assert p.inputs("c") == ["b"]
    assert p.inputs("f") == ["c", "a"]
    assert p.static_cost().per_node["f"].candidates_in == 3 + 1


def test_duplicate_ids_report_position():
    with pytest.raises(CompositionError) as err:
        compile_text("pipeline:\n  - [{type: generate, id: x}, {type: generate, id: x}]\n  - {type: vote}\n")
    assert err.value.rules == ["unique-ids"]
    d = err.value.diagnostics[0]
    assert (d.file, d.line) == ("t.yaml", 2)
    assert "duplicate node id 'x'" in d.message


def test_undefined_input_with_suggestion():
    with pytest.raises(SpecError) as err:
        compile_text("pipeline:\n  - {type: generate, id: gen}\n  - {type: vote, inputs: [gne]}\n")
    text = str(err.value)
    assert "t.yaml:3:" in text and "input 'gne' is not a node" in text and "did you mean 'gen'?" in text


def test_cycle_is_rejected():
    text = """
pipeline:
  - {type: generate, id: g}
  - {type: critique, id: a, inputs: [g, b]}
  - {type: rank, id: b, inputs: [a]}
  - {type: fuse, inputs: [b]}
"""
    with pytest.raises(CompositionError) as err:
        compile_text(text)
    assert err.value.rules == ["acyclic"]
    assert "cycle" in str(err.value)


def test_self_input_is_rejected():
    assert rules_broken("pipeline:\n  - {type: generate, id: g}\n  - {type: vote, id: v, inputs: [g, v]}\n") == ["acyclic"]


def test_every_error_is_one_line_with_position():
    text = """
pipeline:
  - {type: critique}
  - [{type: generate}, {type: fuse}]
"""
    with pytest.raises(CompositionError) as err:
        compile_text(text)
    assert len(err.value.diagnostics) >= 3
    for d in err.value.diagnostics:
        line = d.format()
        assert "\n" not in line and line.startswith("t.yaml:") and ": error: " in line and d.line > 0


def test_topological_order_follows_layers_with_forward_inputs():
    p = compile_text(
        """
pipeline:
  - {type: generate, id: g}
  - [{type: fuse, id: late, inputs: [early]}, {type: critique, id: early, inputs: [g]}]
  - {type: rank, id: r, inputs: [late], use_critiques: false}
"""
    )
    assert p.order == ["g", "early", "late", "r"]
