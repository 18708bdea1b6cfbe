"""The run directory of a search, its Optuna study, and resuming after a crash.

Layout (``runs/<spec-stem>/`` unless ``--run-dir`` or ``search.run_dir`` says otherwise)::

    study.db          the Optuna study (SQLite), unless search.storage names another storage
    calls.sqlite      the call cache shared by every trial (and every resumed session)
    ledger.db         the search budget ledger (reservations and spend, all sessions)
    run.json          what was run: spec path and fingerprint, storage, sessions
    best.yaml         the best pipeline, a plain spec `archon run` / `archon eval` accept
    pareto/           one pipeline per Pareto-optimal trial (multi-objective searches)
    leaderboard.md    every trial: choices, dev score with interval, cost, status
    leaderboard.csv   the same, for a spreadsheet
    plots/            the report's charts as standalone SVG (accuracy vs cost, dev vs selection vs test, history)
    report.html       everything above on one self-contained page
    traces/           trial-<n>.jsonl: every dev query of every trial, with candidates and calls
    ray/              the private Ray runtime's temp dir (local mode)

Storage: ``sqlite:///...`` by default; any Optuna storage URL (``postgresql://...``) works, and
``journal:<path>`` selects Optuna's JournalFileBackend (a plain append-only file that several
machines can share over NFS, and much cheaper per trial than SQLite on a slow disk).

Resume: opening a run directory again loads the study. Trials left RUNNING by a process that is
gone (this host, dead pid) are marked FAIL and enqueued again with the same parameters; so are
trials that a previous session stopped on purpose (Ctrl-C, budget, wall time). Completed trials
are kept, and the cache answers every call the earlier session already paid for.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.storages import BaseStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from archon.errors import InputError

__all__ = ["Direction", "RunDir", "open_storage", "open_study", "recover_interrupted", "OWNER_KEY", "STATUS_KEY"]

#: An objective's direction, as Optuna names it.
Direction = Literal["minimize", "maximize"]

#: trial system attr: "host:pid" of the driver that asked it
OWNER_KEY = "archon:owner"
#: trial user attr: our status (complete, pruned, infeasible, failed, interrupted, budget)
STATUS_KEY = "status"
#: statuses that mean "stopped by us, not judged": these trials run again on resume
RERUN_STATUSES = ("interrupted", "budget", "wall_time")


@dataclass(frozen=True)
class RunDir:
    path: Path

    @classmethod
    def for_spec(cls, spec_path: str | os.PathLike[str], run_dir: str | os.PathLike[str] | None = None) -> RunDir:
        if run_dir is None:
            run_dir = Path("runs") / Path(spec_path).stem
        path = Path(run_dir).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    # paths ---------------------------------------------------------------------------------
    @property
    def study_db(self) -> Path:
        return self.path / "study.db"

    @property
    def cache(self) -> Path:
        return self.path / "calls.sqlite"

    @property
    def ledger(self) -> Path:
        return self.path / "ledger.db"

    @property
    def meta(self) -> Path:
        return self.path / "run.json"

    @property
    def traces(self) -> Path:
        p = self.path / "traces"
        p.mkdir(exist_ok=True)
        return p

    @property
    def plots(self) -> Path:
        p = self.path / "plots"
        p.mkdir(exist_ok=True)
        return p

    @property
    def pareto(self) -> Path:
        return self.path / "pareto"

    def default_storage(self) -> str:
        return f"sqlite:///{self.study_db}"

    def clear(self) -> None:
        """Start over (``--fresh``): remove the study, ledger, outputs and traces; keep the call
        cache (answers already paid for stay valid)."""
        for name in ("study.db", "study.db-journal", "ledger.db", "ledger.db-wal", "ledger.db-shm", "run.json",
                     "best.yaml", "leaderboard.md", "leaderboard.csv", "report.html", "summary.json", "study.journal"):
            (self.path / name).unlink(missing_ok=True)
        for name in ("pareto", "plots", "traces"):
            shutil.rmtree(self.path / name, ignore_errors=True)

    def write_meta(self, spec_path: str, fingerprint: str, storage: str) -> None:
        data: dict[str, Any] = {}
        if self.meta.exists():
            try:
                data = json.loads(self.meta.read_text())
            except (OSError, ValueError):
                data = {}
        data.setdefault("spec", str(Path(spec_path).resolve()))
        data["fingerprint"] = fingerprint
        data["storage"] = storage
        data.setdefault("sessions", []).append({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()})
        self.meta.write_text(json.dumps(data, indent=2))


def spec_fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def open_storage(url: str, run_dir: RunDir) -> BaseStorage:
    """An Optuna storage for ``url`` (``journal:<path>`` -> JournalFileBackend, else RDB)."""
    if url.startswith("journal:"):
        path = url[len("journal:"):] or str(run_dir.path / "study.journal")
        return JournalStorage(JournalFileBackend(path))
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        # a generous timeout: several Ray callbacks / drivers may write at once
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.storages.RDBStorage(url)


def open_study(
    *, storage: BaseStorage, study_name: str, directions: list[Direction], sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> Study:
    """Create or load the study; a study created with other objectives is an input error."""
    try:
        existing = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        existing = None
    if existing is not None:
        have = [d.name.lower() for d in existing.directions]
        if have != directions:
            raise InputError(
                f"error: the run directory holds a study with objectives {have}, but the spec asks for "
                f"{directions} (use --fresh to start over, or another --run-dir)"
            )
        return existing
    return optuna.create_study(
        study_name=study_name, storage=storage, directions=directions, sampler=sampler, pruner=pruner
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_gone(trial: FrozenTrial) -> bool:
    owner = trial.system_attrs.get(OWNER_KEY)
    if not owner:
        return True
    host, _, pid = str(owner).rpartition(":")
    if host != socket.gethostname():
        return False  # another machine's trial: it may still be running there
    try:
        return not _pid_alive(int(pid)) or int(pid) == os.getpid()
    except ValueError:
        return True


def recover_interrupted(study: Study) -> list[int]:
    """Mark orphaned RUNNING trials FAIL and enqueue every interrupted trial again, once.

    Returns the numbers of the trials that were enqueued again.
    """
    storage = study._storage  # a trial of a dead process has no Trial object: only the storage can end it
    trials = study.get_trials(deepcopy=False)
    # a trial counts as enqueued again when some trial says it re-runs it
    already = {t.user_attrs.get("rerun_of") for t in trials}
    requeued: list[int] = []
    for t in trials:
        if t.state == TrialState.RUNNING and _owner_gone(t):
            storage.set_trial_user_attr(t._trial_id, STATUS_KEY, "interrupted")
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            rerun = True
        elif t.state == TrialState.FAIL and t.user_attrs.get(STATUS_KEY) in RERUN_STATUSES:
            rerun = True
        else:
            rerun = False
        if rerun and t.number not in already and t.params:
            study.enqueue_trial(dict(t.params), user_attrs={"rerun_of": t.number}, skip_if_exists=False)
            requeued.append(t.number)
    return requeued
