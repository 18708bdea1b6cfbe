"""The SVG picture of a pipeline: a well-formed document with one card per node, one arrow per
edge (plus the query in and the answer out), candidate counts on the arrows and the static cost
of every node; text from the spec is escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from graph_util import compile_text

SVG = "{http://www.w3.org/2000/svg}"

TEXT = """
pipeline:
  - [{type: generate, id: "g-1", samples: 3, temperature: 0.9}, {type: generate, id: g.2, system_prompt: 'Say <b>"hi"</b> & go'}]
  - {type: critique}
  - {type: fuse, id: out}
"""


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_one_card_per_node_and_one_arrow_per_edge() -> None:
    p = compile_text(TEXT)
    root = _parse(p.render("svg"))
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert sorted(g.get("data-node") for g in nodes) == sorted(p.order)
    arrows = [e for e in root.iter(f"{SVG}path") if e.get("marker-end")]
    starts = [n for n in p.order if not p.inputs(n)]
    assert len(arrows) == p.graph.number_of_edges() + len(starts) + 1  # query -> sources, edges, output -> answer


def test_cards_carry_settings_cost_and_counts() -> None:
    p = compile_text(TEXT)
    cost = p.static_cost(query_tokens=50)
    svg = p.render("svg", query_tokens=50)
    text = " ".join(t.text or "" for t in _parse(svg).iter(f"{SVG}text"))
    assert "g-1 \u00b7 generate" in text and "samples: 3" in text and "temperature: 0.9" in text
    assert f"{cost.per_node['g-1'].calls} calls" in text and "critique1 \u00b7 critique" in text
    # 3 + 1 candidates reach the critic: both counts sit on its incoming arrows
    assert "3" in text.split() and "1" in text.split()
    # a custom prompt shows its words (escaped), not "(custom)"
    assert "prompt: \u201cSay <b>\"hi\"</b> & go\u201d" in text
    assert "<b>" not in svg.replace("&lt;b&gt;", "")


def test_a_sampling_generator_is_drawn_as_a_stack() -> None:
    single = compile_text("pipeline:\n  - {type: generate, id: g}\n").render("svg")
    stacked = compile_text("pipeline:\n  - {type: generate, id: g, samples: 5}\n").render("svg")
    count = lambda svg: sum(1 for r in _parse(svg).iter(f"{SVG}rect") if r.get("stroke-opacity"))  # noqa: E731
    assert count(single) == 0 and count(stacked) == 2
