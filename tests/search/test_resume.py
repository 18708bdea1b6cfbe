"""Kill `archon search` with SIGKILL mid-run, run the same command again: no completed trial is
lost, interrupted trials run again, and calls already paid for are not paid again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def _complete(run: Path) -> dict[int, tuple[dict, float]]:
    if not (run / "study.db").exists():
        return {}
    try:
        study = optuna.load_study(study_name="fake-search", storage=f"sqlite:///{run / 'study.db'}")
    except KeyError:
        return {}
    return {t.number: (dict(t.params), t.value) for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))}


def _n_complete(run: Path) -> int:
    """Completed trials, read with plain sqlite3: opening an Optuna storage while the search
    process creates it would race with its schema setup."""
    import sqlite3

    db = run / "study.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return int(con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0])
    except sqlite3.Error:
        return 0


def _cmd(spec: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "archon.cli", "search", str(spec), "--run-dir", str(run), "--no-ray", "--quiet", "--no-test"]


@pytest.mark.slow
def test_sigkill_then_resume(space_file, tmp_path) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = space_file(trials=14, parallel=2, dev=24, fidelity="true", sampler="tpe")
    run = tmp_path / "run"
    log = tmp_path / "calls.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]), ARCHON_PRELOAD="fake_scripts",
               ARCHON_TEST_CALL_LOG=str(log), ARCHON_TEST_CALL_DELAY="0.01")
    proc = subprocess.Popen(_cmd(spec, run), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while _n_complete(run) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no trial completed in time"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = _complete(run)
    paid_before = [line.split("\t")[0] for line in log.read_text().splitlines()]
    assert before and paid_before

    again = subprocess.run(_cmd(spec, run), env=dict(env, ARCHON_TEST_CALL_DELAY="0"), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = _complete(run)
    # no completed trial lost, none changed
    for number, (params, value) in before.items():
        assert after[number] == (params, value)
    study = optuna.load_study(study_name="fake-search", storage=f"sqlite:///{run / 'study.db'}")
    states = Counter(t.state for t in study.trials)
    finished = states[optuna.trial.TrialState.COMPLETE] + states[optuna.trial.TrialState.PRUNED]
    assert finished >= 14
    # the trials the kill interrupted were marked failed and run again with the same choices
    interrupted = [t for t in study.trials if t.user_attrs.get("status") == "interrupted"]
    reruns = {t.user_attrs["rerun_of"]: t for t in study.trials if "rerun_of" in t.user_attrs}
    for t in interrupted:
        if t.params:
            assert t.number in reruns
            assert all(reruns[t.number].params.get(k) == v for k, v in t.params.items())
    # calls paid before the kill are not paid again: only calls whose answer had not reached
    # the cache when the process died (at most the model's concurrency) may repeat
    paid_after = [line.split("\t")[0] for line in log.read_text().splitlines()][len(paid_before):]
    repeated = set(paid_before) & set(paid_after)
    assert len(repeated) <= 8, f"{len(repeated)} calls paid twice"
    assert len(set(paid_after)) == len(paid_after)  # and within one run, never twice


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(space_file, tmp_path) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = space_file(trials=30, parallel=2, dev=24)
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]), ARCHON_PRELOAD="fake_scripts",
               ARCHON_TEST_CALL_DELAY="0.02")
    proc = subprocess.Popen(_cmd(spec, run), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while _n_complete(run) < 2:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert "resume with: archon search" in out
    assert "Traceback" not in err
    assert (run / "leaderboard.md").exists()  # the report of what completed was written
    study = optuna.load_study(study_name="fake-search", storage=f"sqlite:///{run / 'study.db'}")
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
