"""The persistent, content-addressed call cache shared by every trial, run and process.

A call is identified by the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the
backend's *identity* (kind, model id, api_base: never the spec's nickname, never an API key) and
every request field that changes the answer: messages, temperature, top_p, max_tokens, stop,
seed, sample_index, response_format (and ``logprobs`` when it is asked for: such an entry also
stores the answer's mean token log-probability). ``tag`` is accounting only and is not part of the key.

Storage is one SQLite file in WAL mode. Why SQLite: many processes (Ray workers, parallel
trials) write at once, and SQLite gives atomic transactions across processes with no server.
Every write is ``INSERT OR IGNORE`` inside a transaction, so two workers racing on the same call
both succeed and the first answer wins; a reader sees an entry only after its transaction
committed, so a writer killed mid-transaction leaves nothing half-written behind (the journal is
rolled back on the next open). Only successful results are stored.

In-flight leases: before a worker sends a call the cache cannot answer, it claims the key in the
``inflight`` table (``INSERT OR IGNORE``: exactly one claimant wins). Another worker — another
trial, shard, process or machine sharing the file — that needs the same call finds the lease and
waits for the answer to appear instead of paying for it again; a lease past its expiry (its
owner died or hung) can be claimed anew, so a lost worker never blocks the rest for longer than
the call's own timeout. A lease whose owner is a process on this machine that no longer runs (a
search killed with SIGKILL, then resumed) is dead at once: waiting out its expiry would stall the
resumed run for the whole timeout. Owners are named by :func:`lease_owner`.

:class:`CallStore` is what the client needs from a cache: this file (:class:`CallCache`) on one
machine, or the cluster's cache service (:mod:`archon.backends.cache_service`) in front of it.
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from archon.backends.records import CallRequest, CallResult, Usage
from archon.util import user_cache_dir

__all__ = ["CallCache", "CallStore", "ModelIdentity", "cache_key", "canonical_json", "default_cache_path", "lease_owner",
           "owner_gone"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    dollars REAL NOT NULL,
    finish_reason TEXT,
    latency REAL NOT NULL,
    created REAL NOT NULL,
    mean_logprob REAL
)
"""

_INFLIGHT = """
CREATE TABLE IF NOT EXISTS inflight (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires REAL NOT NULL
)
"""

#: SQLite limits the number of bound parameters; look keys up in chunks below it.
_CHUNK = 500


@dataclass(frozen=True)
class ModelIdentity:
    """What makes two models "the same model" for the cache."""

    kind: str
    model: str
    api_base: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "api_base": self.api_base}

    def __str__(self) -> str:
        return f"{self.kind}:{self.model}" + (f"@{self.api_base}" if self.api_base else "")


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, non-ASCII kept: the same value always gives the same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def cache_key(identity: ModelIdentity, request: CallRequest) -> str:
    """The content address of ``request`` sent to the model ``identity``.

    ``request.seed`` should already be the effective seed (the client derives it from the sample
    index before looking up), so an implicit and an explicit equal seed share an entry.
    """
    payload = {
        "model": identity.as_dict(),
        "messages": [[role, content] for role, content in request.messages],
        "temperature": float(request.temperature),
        "top_p": float(request.top_p),
        "max_tokens": int(request.max_tokens),
        "stop": list(request.stop),
        "seed": request.seed,
        "sample_index": int(request.sample_index),
        "response_format": request.response_format,
    }
    if request.logprobs:
        # only when asked: a plain request keeps the key it always had (replay tables stay valid)
        payload["logprobs"] = True
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _process_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot ("" when unknown): with the pid
    it names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def lease_owner(tag: str) -> str:
    """An in-flight lease owner for this process: ``host:pid:start:tag``."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}:{tag}"


def owner_gone(owner: str) -> bool:
    """True when ``owner`` names a process on this machine that no longer runs. Owners on other
    machines, or in a form this code did not write, are never judged: their lease expires."""
    parts = owner.split(":")
    if len(parts) < 4 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid, start = int(parts[1]), parts[2]
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        pass
    now = _process_start(pid)
    return bool(start and now and now != start)  # the pid was reused by another process


def default_cache_path() -> Path:
    """``$ARCHON_CACHE`` if set, else ``$XDG_CACHE_HOME/archon/calls.sqlite`` (~/.cache)."""
    env = os.environ.get("ARCHON_CACHE")
    if env:
        return Path(env).expanduser()
    return user_cache_dir() / "calls.sqlite"


def _add_logprob_column(conn: sqlite3.Connection) -> None:
    """Files written before ``mean_logprob`` existed get the column (NULL in their rows)."""
    if any(row[1] == "mean_logprob" for row in conn.execute("PRAGMA table_info(calls)")):
        return
    try:
        conn.execute("ALTER TABLE calls ADD COLUMN mean_logprob REAL")
    except sqlite3.OperationalError as exc:  # another process added it first
        if "duplicate column" not in str(exc):
            raise


class CallStore(abc.ABC):
    """What :class:`~archon.backends.Client` asks of a call cache. Methods block (the client
    calls them from a worker thread); keys are :func:`cache_key` values."""

    #: where the answers live, for messages (a file path, or the file behind a service)
    path: Path

    @abc.abstractmethod
    def get_many(self, keys: Sequence[str]) -> dict[str, CallResult]:
        """The stored results for those keys that have one (as ``cached=True`` results)."""

    @abc.abstractmethod
    def put_many(self, entries: Iterable[tuple[str, ModelIdentity | str, CallResult]]) -> int:
        """Store successful results (failures are skipped); returns how many were new. Returns
        once they are stored: others may then be told the answer is there."""

    @abc.abstractmethod
    def lookup(self, keys: Sequence[str], owner: str, ttl: float) -> tuple[dict[str, CallResult], set[str]]:
        """The stored results among ``keys``, and the missing keys now leased to ``owner`` for at
        most ``ttl`` seconds (nobody held a live lease on them). A missing key that is not
        leased to ``owner`` is being fetched by someone else: look it up again later."""

    @abc.abstractmethod
    def release_many(self, keys: Sequence[str], owner: str) -> None:
        """Give up ``owner``'s leases on ``keys`` (its answers are stored, or its calls failed)."""

    @abc.abstractmethod
    def close(self) -> None: ...


class CallCache(CallStore):
    """A call cache in one SQLite file; safe to share between threads and processes.

    Each thread (and each process, after a fork) opens its own connection. Methods block: the
    client calls them through a worker thread.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 60.0) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        # create the schema once, up front, so readers never race a CREATE TABLE
        self._conn()

    # ------------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        conn = sqlite3.connect(
            str(self.path), timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        # WAL: readers never block writers and vice versa; NORMAL sync is crash-consistent in WAL
        # (a power cut may lose the last commits, never corrupt or half-apply one).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        conn.execute(_INFLIGHT)
        _add_logprob_column(conn)
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._lock:
            self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            try:
                c.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    def __enter__(self) -> CallCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reads

    def get(self, key: str) -> CallResult | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Sequence[str]) -> dict[str, CallResult]:
        """The stored results for those keys that have one (as ``cached=True`` results)."""
        return self._fetch(self._conn(), list(dict.fromkeys(keys)))

    @staticmethod
    def _fetch(conn: sqlite3.Connection, unique: list[str]) -> dict[str, CallResult]:
        found: dict[str, CallResult] = {}
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT key, text, prompt_tokens, completion_tokens, dollars, finish_reason, latency, mean_logprob "
                f"FROM calls WHERE key IN ({marks})",
                chunk,
            ).fetchall()
            for key, text, pt, ct, dollars, finish, latency, logprob in rows:
                found[key] = CallResult(
                    text=text,
                    usage=Usage(prompt_tokens=pt, completion_tokens=ct, dollars=dollars),
                    latency=latency,
                    cached=True,
                    finish_reason=finish,
                    mean_logprob=logprob,
                )
        return found

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def keys(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT key FROM calls ORDER BY key")]

    # ------------------------------------------------------------------ writes

    def put(self, key: str, identity: ModelIdentity | str, result: CallResult) -> bool:
        return self.put_many([(key, identity, result)]) == 1

    def put_many(self, entries: Iterable[tuple[str, ModelIdentity | str, CallResult]]) -> int:
        """Store successful results in one transaction; returns how many were new.

        Failed results are skipped (a failure is not an answer). ``entries`` is consumed inside
        the transaction: nothing becomes visible until all of it committed.
        """
        conn = self._conn()
        inserted = 0
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key, identity, result in entries:
                if not result.ok:
                    continue
                cur = conn.execute(
                    "INSERT OR IGNORE INTO calls (key, identity, text, prompt_tokens, completion_tokens,"
                    " dollars, finish_reason, latency, created, mean_logprob) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        key,
                        str(identity),
                        result.text,
                        int(result.usage.prompt_tokens),
                        int(result.usage.completion_tokens),
                        float(result.usage.dollars),
                        result.finish_reason,
                        float(result.latency),
                        now,
                        result.mean_logprob,
                    ),
                )
                inserted += cur.rowcount
        except BaseException:  # any way out (interrupts too) leaves no half transaction
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return inserted

    # ------------------------------------------------------------------ in-flight leases

    def claim_many(self, keys: Sequence[str], owner: str, ttl: float) -> set[str]:
        """Claim the keys nobody else holds a live lease on; returns the ones now ours."""
        conn = self._conn()
        now = time.time()
        mine: set[str] = set()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key in dict.fromkeys(keys):
                if self._claim(conn, key, owner, now, ttl):
                    mine.add(key)
        except BaseException:  # any way out (interrupts too) leaves no half transaction
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return mine

    @staticmethod
    def _claim(conn: sqlite3.Connection, key: str, owner: str, now: float, ttl: float) -> bool:
        row = conn.execute("SELECT owner, expires FROM inflight WHERE key = ?", (key,)).fetchone()
        if row is not None and (row[1] < now or owner_gone(row[0])):
            conn.execute("DELETE FROM inflight WHERE key = ?", (key,))
        cur = conn.execute("INSERT OR IGNORE INTO inflight (key, owner, expires) VALUES (?,?,?)", (key, owner, now + ttl))
        return cur.rowcount == 1

    def lookup(self, keys: Sequence[str], owner: str, ttl: float) -> tuple[dict[str, CallResult], set[str]]:
        unique = list(dict.fromkeys(keys))
        conn = self._conn()
        hits = self._fetch(conn, unique)  # a plain read first: an all-hit batch takes no write lock
        misses = [k for k in unique if k not in hits]
        mine: set[str] = set()
        if not misses:
            return hits, mine
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            # an answer stored between the read and the lock is an answer, not a call to make
            late = self._fetch(conn, misses)
            hits.update(late)
            for key in misses:
                if key not in late and self._claim(conn, key, owner, now, ttl):
                    mine.add(key)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return hits, mine

    def release_many(self, keys: Sequence[str], owner: str) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("DELETE FROM inflight WHERE key = ? AND owner = ?", [(k, owner) for k in keys])
        except BaseException:  # any way out (interrupts too) leaves no half transaction
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def live_leases(self, keys: Sequence[str]) -> set[str]:
        """The keys someone holds an unexpired lease on, whose owner is not known to be gone."""
        conn = self._conn()
        now = time.time()
        out: set[str] = set()
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT key, owner FROM inflight WHERE key IN ({marks}) AND expires >= ?", [*chunk, now])
            out.update(key for key, owner in rows if not owner_gone(owner))
        return out

    def entry_info(self, key: str) -> Mapping[str, Any] | None:
        """Everything stored for one key (for inspection and tests)."""
        row = self._conn().execute(
            "SELECT key, identity, text, prompt_tokens, completion_tokens, dollars, finish_reason,"
            " latency, created FROM calls WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        names = ("key", "identity", "text", "prompt_tokens", "completion_tokens", "dollars",
                 "finish_reason", "latency", "created")
        return dict(zip(names, row))
