from __future__ import annotations

import re

import networkx as nx
import pytest

from graph_util import compile_text

TEXT = """
pipeline:
  - [{type: generate, id: "g-1", samples: 2, temperature: 0.9}, {type: generate, id: g.2}]
  - {type: critique}
  - {type: fuse, id: out, system_prompt: 'say "hi"'}
"""


def test_text_lists_layers_settings_and_calls():
    out = compile_text(TEXT).render("text")
    assert "layer 0" in out and "layer 2" in out
    assert "g-1 (generate) model=local/smollm2 temperature=0.9 samples=2" in out
    assert "per query: 7 calls" in out  # 2 + 1 generations, 3 critiques, 1 fusion


def test_mermaid_structure():
    p = compile_text(TEXT)
    out = p.render("mermaid")
    lines = out.strip().splitlines()
    assert lines[0] == "flowchart TD"
    nodes = {m.group(1): m.group(2) for m in (re.match(r'\s+(n\d+)\[?\(?\[?"(.*?)"', l) for l in lines[1:]) if m}
    edges = [tuple(l.split(" --> ")) for l in (l.strip() for l in lines) if " --> " in l]
    assert len(nodes) == 4 and len(edges) == 3
    labels = {k: v.split(":")[0] for k, v in nodes.items()}
    graph = nx.DiGraph([(labels[a], labels[b]) for a, b in edges])
    assert set(graph.edges) == set(p.graph.edges)
    assert '"' not in "".join(nodes.values())  # quotes inside labels are escaped
    assert "#quot;" not in out or "(custom)" in out


def test_dot_structure():
    p = compile_text(TEXT)
    out = p.render("dot")
    assert out.startswith("digraph pipeline {") and out.rstrip().endswith("}")
    edges = re.findall(r'^\s+"([^"]+)" -> "([^"]+)";$', out, flags=re.M)
    assert set(edges) == set(p.graph.edges)
    for node in p.order:
        assert re.search(rf'^\s+"{re.escape(node)}" \[label=".*"', out, flags=re.M)
    assert out.count("{") == out.count("}")


def test_unknown_format():
    with pytest.raises(ValueError):
        compile_text(TEXT).render("png")
