from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import fake_scripts  # noqa: E402,F401  (registers the 'oracle' script)


def write_data(path: Path, n: int = 80) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"item{i}", "input": f"What is the code word for item {i}?", "reference": f"w{i}"}) + "\n")
    return path


SPACE = """\
name: {name}
models:
  m: {{kind: fake, model: oracle, price: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}}}
benchmark: {{name: jsonl, path: data.jsonl, shots: 4, dev: {dev}, test: {test}, seed: 0}}
budget:
  per_query: {{calls: {per_query_calls}}}
  search: {search_budget}
search:
  sampler: {sampler}
  trials: {trials}
  parallel: {parallel}
  seed: {seed}
  objectives: {objectives}
  fidelity: {{enabled: {fidelity}, min_queries: 8, factor: 3}}
pipeline:
  - type: generate
    model: m
    max_tokens: 8
    samples: {{int: [1, {max_samples}], name: samples}}
    temperature: {{choice: [0.0, 0.7], name: temperature}}
    system_prompt: {{choice: ["Answer briefly.", "Be careful and answer with the code word only."], name: style}}
  - {{type: vote, optional: vote}}
"""


def make_space(tmp_path: Path, **overrides) -> Path:
    params = dict(name="fake-search", dev=40, test=20, per_query_calls=6, search_budget="{}", sampler="tpe",
                  trials=12, parallel=2, seed=0, objectives="[accuracy]", fidelity="true", max_samples=8)
    params.update(overrides)
    write_data(tmp_path / "data.jsonl")
    path = tmp_path / "space.yaml"
    path.write_text(SPACE.format(**params))
    return path


@pytest.fixture
def space_file(tmp_path):
    return lambda **kw: make_space(tmp_path, **kw)
