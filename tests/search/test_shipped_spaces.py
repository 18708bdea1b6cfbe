"""Every space shipped in search_spaces/ runs a few trials of a real search, on the fake backend,
with no failed trial: a space that `archon space` calls valid must also search (issue 13, item 1:
a fuse left at its default failed every trial of moa.yaml)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from archon.search import run_search
from archon.testing import FakeBackend

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"
NAMES = sorted(p.name for p in SPACES.glob("*.yaml"))


def test_the_shipped_spaces_are_all_here() -> None:
    assert {"quickstart.yaml", "moa.yaml", "archon_itas.yaml"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_shipped_space_searches_without_a_failed_trial(name: str, tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    doc = yaml.safe_load((SPACES / name).read_text(encoding="utf-8"))
    if "benchmark" not in doc:  # a space meant to be given a benchmark by its user
        doc["benchmark"] = {"name": "capitals"}
    # a small run of the same space: few queries, no test split, no cluster
    bench = doc["benchmark"] if isinstance(doc["benchmark"], dict) else {"name": doc["benchmark"]}
    bench.update(dev=9, selection=6, test=1)
    doc["benchmark"] = bench
    doc.setdefault("search", {}).update(trials=4, parallel=1, seed=0)
    doc["search"].pop("fidelity", None)
    spec = tmp_path / name
    spec.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    result = run_search(spec, run_dir=tmp_path / "run", use_ray=False, fake=FakeBackend(), progress=False,
                        final_test=False)
    study = optuna.load_study(study_name=result.study_name, storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    assert len(trials) >= 4
    failed = [(t.number, t.user_attrs.get("status"), t.user_attrs.get("error")) for t in trials
              if t.state == optuna.trial.TrialState.FAIL or t.user_attrs.get("status") == "failed"]
    assert not failed, failed
    assert any(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
