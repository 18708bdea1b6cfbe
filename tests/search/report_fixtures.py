"""Constants shared by the report tests and their fixtures (tests/search/conftest.py)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent

ROOT = HERE.parents[1]
FIXTURES = HERE / "fixtures"

#: A custom task from a JSONL file (tests/search/fixtures/code_words.jsonl) on the scripted
#: fake model: a prompt that really helps ("careful"), sampling, and vote.
CUSTOM_JSONL_SPACE = """\
name: code-words
description: A custom JSONL task on the scripted fake model - prompt, sampling and vote searched together.
models:
  m: {{kind: fake, model: oracle, api_key_env: ARCHON_REPORT_TEST_KEY, price: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}}}
benchmark: {{name: jsonl, path: {data}, shots: 4, dev: 40, selection: 40, test: 30, seed: 0}}
budget: {{per_query: {{calls: 6}}}}
search: {{sampler: tpe, trials: 14, parallel: 2, seed: 0, fidelity: {{enabled: true, min_queries: 8, factor: 3}}}}
pipeline:
  - type: generate
    model: m
    max_tokens: 8
    system_prompt: {{choice: [null, "Be careful and answer with the code word only."], name: style}}
    temperature: {{choice: [0.0, 0.7], name: temperature}}
    samples: {{choice: [1, 3, 5], name: samples}}
  - one_of: [[], [{{type: vote}}]]
    name: aggregate
    labels: [first, vote]
"""

#: What the report tests plant in the environment: it must not appear in any file a search writes.
REPORT_TEST_SECRET = "sk-archon-report-secret-5f1c2e9a7b"
