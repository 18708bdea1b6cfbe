"""Every composition rule has a spec that breaks it (exactly it) and a close one that passes."""

from __future__ import annotations

import pytest

from archon.graph import RULES

from graph_util import compile_text, rules_broken

M = "models:\n  m: {kind: litellm, model: openai/x, api_base: 'http://127.0.0.1:1/v1', context_window: 4096}\n"

CASES = {
    "unique-ids": (
        "pipeline:\n  - [{type: generate, id: a}, {type: generate, id: a}]\n  - {type: vote}\n",
        "pipeline:\n  - [{type: generate, id: a}, {type: generate, id: b}]\n  - {type: vote}\n",
    ),
    "references": (
        "pipeline:\n  - {type: generate, id: a}\n  - {type: vote, inputs: [b]}\n",
        "pipeline:\n  - {type: generate, id: a}\n  - {type: vote, inputs: [a]}\n",
    ),
    "acyclic": (
        "pipeline:\n  - {type: generate, id: g}\n  - {type: critique, id: a, inputs: [g, b]}\n  - {type: fuse, id: b, inputs: [a]}\n",
        "pipeline:\n  - {type: generate, id: g}\n  - {type: critique, id: a, inputs: [g]}\n  - {type: fuse, id: b, inputs: [a]}\n",
    ),
    "models": (
        "pipeline:\n  - {type: generate, models: [local/smollm2, nope]}\n  - {type: vote}\n",
        M + "pipeline:\n  - {type: generate, models: [local/smollm2, m], max_tokens: 64}\n  - {type: vote}\n",
    ),
    "generators-first": (
        "pipeline:\n  - {type: generate}\n  - {type: generate}\n  - {type: vote}\n",
        "pipeline:\n  - [{type: generate}, {type: generate}]\n  - {type: vote}\n",
    ),
    "has-inputs": (
        "pipeline:\n  - {type: generate}\n  - {type: vote, inputs: []}\n",
        "pipeline:\n  - {type: generate}\n  - {type: vote}\n",
    ),
    "single-output": (
        "pipeline:\n  - {type: generate}\n  - [{type: fuse}, {type: fuse}]\n",
        "pipeline:\n  - {type: generate}\n  - [{type: fuse}, {type: fuse}]\n  - {type: fuse}\n",
    ),
    "all-used": (
        "pipeline:\n  - [{type: generate, id: a}, {type: generate, id: b}]\n  - {type: fuse, inputs: [a]}\n",
        "pipeline:\n  - [{type: generate, id: a}, {type: generate, id: b}]\n  - {type: fuse, inputs: [a, b]}\n",
    ),
    "critic-before-use": (
        "pipeline:\n  - {type: generate, samples: 3}\n  - {type: rank, top_k: 2, use_critiques: true}\n  - {type: fuse}\n",
        "pipeline:\n  - {type: generate, samples: 3}\n  - {type: critique}\n  - {type: rank, top_k: 2, use_critiques: true}\n  - {type: fuse}\n",
    ),
    "critiques-used": (
        "pipeline:\n  - {type: generate, samples: 3}\n  - {type: critique}\n  - {type: vote}\n",
        "pipeline:\n  - {type: generate, samples: 3}\n  - {type: critique}\n  - {type: verify}\n  - {type: fuse}\n",
    ),
    "annotations": (
        "pipeline:\n  - {type: generate, samples: 3}\n  - {type: select, by: verdict}\n",
        "pipeline:\n  - {type: generate, samples: 3}\n  - {type: verify}\n  - {type: select, by: verdict}\n",
    ),
    "max-candidates": (
        "pipeline:\n  - {type: generate, samples: 6}\n  - {type: fuse, max_candidates: 5}\n",
        "pipeline:\n  - {type: generate, samples: 6}\n  - {type: rank, top_k: 5}\n  - {type: fuse, max_candidates: 5}\n",
    ),
    "context-window": (
        # fuse prompt: 60 + 200 + 4 * 1000 tokens, plus 512 max_tokens > 4096
        M + "pipeline:\n  - {type: generate, samples: 4, max_tokens: 1000}\n  - {type: fuse, model: m}\n",
        M + "pipeline:\n  - {type: generate, samples: 3, max_tokens: 1000}\n  - {type: fuse, model: m}\n",
    ),
    "budget-calls": (
        "budget: {per_query: {calls: 6}}\npipeline:\n  - {type: generate, samples: 3}\n  - {type: verify}\n  - {type: vote}\n",
        "budget: {per_query: {calls: 9}}\npipeline:\n  - {type: generate, samples: 3}\n  - {type: verify}\n  - {type: vote}\n",
    ),
    "cascade-stages": (
        # stage 2 reads the cascade's candidates, stage 1 the query
        "pipeline:\n  - type: cascade\n    stages:\n      - {layers: [{type: generate, samples: 3}, {type: vote}], signal: vote_margin, threshold: 0.5}\n"
        "      - {layers: [{type: fuse}]}\n",
        "pipeline:\n  - type: cascade\n    stages:\n      - {layers: [{type: generate, samples: 3}, {type: vote}], signal: vote_margin, threshold: 0.5}\n"
        "      - {layers: [{type: generate, samples: 5}, {type: fuse}]}\n",
    ),
    "cascade-signal": (
        # one sample: nothing to take a vote margin over
        "pipeline:\n  - type: cascade\n    stages:\n      - {layers: [{type: generate}], signal: vote_margin, threshold: 0.5}\n"
        "      - {layers: [{type: generate, samples: 5}, {type: vote}]}\n",
        "pipeline:\n  - type: cascade\n    stages:\n      - {layers: [{type: generate}], signal: parses, threshold: 0.5}\n"
        "      - {layers: [{type: generate, samples: 5}, {type: vote}]}\n",
    ),
}


def test_every_rule_has_a_case():
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fails_then_passes(rule):
    bad, good = CASES[rule]
    assert rules_broken(bad) == [rule]
    assert rules_broken(good) == []


def test_use_critiques_default_means_when_available():
    # the default (unset) use_critiques does not demand a critic: generate -> fuse is Archon's most common shape
    assert rules_broken("pipeline:\n  - {type: generate, samples: 3}\n  - {type: fuse}\n") == []


def test_critiques_survive_filters_but_not_replacement():
    # a refine replaces candidates, so critiques written before it never reach the rank
    text = "pipeline:\n  - {type: generate, samples: 3}\n  - {type: critique}\n  - {type: refine}\n  - {type: rank, use_critiques: true}\n"
    assert sorted(rules_broken(text)) == ["critic-before-use", "critiques-used"]


def test_select_by_tests_needs_unit_test():
    assert rules_broken("pipeline:\n  - {type: generate, samples: 3}\n  - {type: select, by: tests}\n") == ["annotations"]
    assert rules_broken("pipeline:\n  - {type: generate, samples: 3}\n  - {type: unit_test}\n  - {type: select, by: tests}\n") == []


def test_context_window_message_names_numbers_and_position():
    bad = CASES["context-window"][0]
    with pytest.raises(Exception) as err:
        compile_text(bad)
    d = err.value.diagnostics[0]
    assert d.line == 5 and "4096" in d.message and "4 candidates" in d.message
