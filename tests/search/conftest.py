from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import fake_scripts  # noqa: E402,F401  (registers the 'oracle' script)
from search_kit import write_data  # noqa: E402

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


# ------------------------------------------------------------------ finished searches for the report tests

from report_fixtures import CUSTOM_JSONL_SPACE, FIXTURES, REPORT_TEST_SECRET, ROOT  # noqa: E402


@pytest.fixture(scope="session")
def custom_jsonl_run(tmp_path_factory):
    """A finished search over a custom JSONL file (fake backend, in process): (result, run dir)."""
    import os

    from archon.search import run_search

    base = tmp_path_factory.mktemp("custom-jsonl")
    spec = base / "code_words.yaml"
    spec.write_text(CUSTOM_JSONL_SPACE.format(data=FIXTURES / "code_words.jsonl"), encoding="utf-8")
    old = os.environ.get("ARCHON_REPORT_TEST_KEY")
    os.environ["ARCHON_REPORT_TEST_KEY"] = REPORT_TEST_SECRET
    try:
        result = run_search(spec, run_dir=base / "run", use_ray=False, progress=False)
    finally:
        if old is None:
            os.environ.pop("ARCHON_REPORT_TEST_KEY", None)
        else:
            os.environ["ARCHON_REPORT_TEST_KEY"] = old
    return result, base / "run"


@pytest.fixture(scope="session")
def quickstart_replay_run(tmp_path_factory):
    """The quickstart search answered from its shipped replay table (no model call): (result, run dir)."""
    from archon.search import run_search

    table = ROOT / "benchmarks" / "replay" / "quickstart-capitals.sqlite.gz"
    if not table.exists():
        pytest.skip(f"replay table {table} is not in this checkout")
    run = tmp_path_factory.mktemp("quickstart") / "run"
    result = run_search(ROOT / "search_spaces" / "quickstart.yaml", run_dir=run, use_ray=False, progress=False, replay=str(table))
    return result, run
