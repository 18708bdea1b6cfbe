"""The search budget ledger: reserve before spending, settle with what was actually spent.

Why a ledger and not a running total: with many trials (and shards) in flight, checking "spent so
far < limit" before dispatch lets every in-flight task pass the check and together overshoot. So
each task first *reserves* its static worst case; a reservation is granted only when
``spent + reserved + amount`` stays within every limit. When the task returns, its reservation is
replaced by its actual spend (``settle``), which frees the unused part. The limit therefore holds
whenever the worst case really bounds the task (the static cost model's job), no matter how many
tasks run at once.

The ledger lives in a SQLite file in the run directory and every change runs in one
``BEGIN IMMEDIATE`` transaction, so it is safe across threads *and* processes (several drivers on
one storage), and it survives a crash: a resumed search counts what earlier sessions spent.
Reservations left behind by a process that died are charged in full (we cannot know how much of
them the dead process paid), which keeps the guarantee conservative. Settling is idempotent per
key, so a result delivered twice (a retried Ray task) is never counted twice.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["BudgetLedger", "LedgerTotals", "Limits", "Reservation", "Spend"]


#: Marks the key of budget set aside by :meth:`BudgetLedger.hold_back`.
HELD_BACK = "/held-back/"


@dataclass(frozen=True)
class Spend:
    """An amount of search budget: dollars, tokens (prompt + completion) and backend calls."""

    dollars: float = 0.0
    tokens: int = 0
    calls: int = 0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.dollars + other.dollars, self.tokens + other.tokens, self.calls + other.calls)

    def __bool__(self) -> bool:
        """False for nothing at all."""
        return bool(self.dollars or self.tokens or self.calls)

    def scaled(self, n: int) -> Spend:
        return Spend(self.dollars * n, self.tokens * n, self.calls * n)

    def to_dict(self) -> dict[str, Any]:
        return {"dollars": self.dollars, "tokens": self.tokens, "calls": self.calls}


@dataclass(frozen=True)
class Limits:
    """Search-level limits; ``None`` means unlimited. ``wall_time`` is in seconds, summed over
    every session of the search (a resumed search continues the clock)."""

    dollars: float | None = None
    tokens: int | None = None
    calls: int | None = None
    wall_time: float | None = None

    @classmethod
    def from_spec(cls, search_budget: Any) -> Limits:
        return cls(
            dollars=getattr(search_budget, "dollars", None),
            tokens=getattr(search_budget, "tokens", None),
            calls=getattr(search_budget, "calls", None),
            wall_time=getattr(search_budget, "wall_time", None),
        )

    def exceeded_by(self, total: Spend) -> str | None:
        """The first dimension ``total`` exceeds, as a message, or None."""
        if self.dollars is not None and total.dollars > self.dollars + 1e-12:
            return f"dollars {total.dollars:.4f} > {self.dollars:.4f}"
        if self.tokens is not None and total.tokens > self.tokens:
            return f"tokens {total.tokens} > {self.tokens}"
        if self.calls is not None and total.calls > self.calls:
            return f"calls {total.calls} > {self.calls}"
        return None


@dataclass(frozen=True)
class Reservation:
    key: str
    amount: Spend


@dataclass(frozen=True)
class LedgerTotals:
    spent: Spend
    reserved: Spend  # by work in flight
    limits: Limits
    elapsed: float
    in_flight: int
    held: Spend = Spend()  # set aside by hold_back (no work spends from it)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spent": self.spent.to_dict(),
            "reserved": self.reserved.to_dict(),
            "held": self.held.to_dict(),
            "elapsed": self.elapsed,
            "in_flight": self.in_flight,
            "limits": {k: getattr(self.limits, k) for k in ("dollars", "tokens", "calls", "wall_time")},
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS reservations (
    key TEXT PRIMARY KEY, session TEXT NOT NULL,
    dollars REAL NOT NULL, tokens INTEGER NOT NULL, calls INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS spent (
    key TEXT PRIMARY KEY, session TEXT NOT NULL,
    dollars REAL NOT NULL, tokens INTEGER NOT NULL, calls INTEGER NOT NULL, settled REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
    started REAL NOT NULL, elapsed REAL NOT NULL DEFAULT 0);
"""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BudgetLedger:
    """Reserve-before-spend accounting of one search, persisted in ``path`` (SQLite).

    Use one instance per process; it is thread-safe. Other processes may open the same file.
    """

    def __init__(self, path: str | os.PathLike[str], limits: Limits) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self.session = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        with self._txn() as db:
            db.execute(
                "INSERT INTO sessions(session, host, pid, started, elapsed) VALUES (?,?,?,?,0)",
                (self.session, socket.gethostname(), os.getpid(), time.time()),
            )
        self.recover_orphans()

    # ------------------------------------------------------------------ plumbing

    class _Txn:
        def __init__(self, ledger: BudgetLedger) -> None:
            self.ledger = ledger

        def __enter__(self) -> sqlite3.Connection:
            self.ledger._lock.acquire()
            try:
                self.ledger._db.execute("BEGIN IMMEDIATE")
                # keep this session's clock current at every change, so a session killed with
                # SIGKILL (which never reaches close()) still counts against wall_time on resume
                self.ledger._db.execute("UPDATE sessions SET elapsed = ? WHERE session = ?",
                                        (time.monotonic() - self.ledger._started, self.ledger.session))
            except BaseException:  # whatever interrupted the start (Ctrl-C included): undo, unlock, re-raise
                if self.ledger._db.in_transaction:
                    self.ledger._db.execute("ROLLBACK")
                self.ledger._lock.release()
                raise
            return self.ledger._db

        def __exit__(self, exc_type: object, *rest: object) -> None:
            try:
                self.ledger._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.ledger._lock.release()

    def _txn(self) -> BudgetLedger._Txn:
        return BudgetLedger._Txn(self)

    @staticmethod
    def _sum(db: sqlite3.Connection, table: str, where: str = "1", *args: Any) -> Spend:
        row = db.execute(f"SELECT COALESCE(SUM(dollars),0), COALESCE(SUM(tokens),0), COALESCE(SUM(calls),0) FROM {table} WHERE {where}",
                         args).fetchone()
        return Spend(float(row[0]), int(row[1]), int(row[2]))

    # ------------------------------------------------------------------ API

    def recover_orphans(self) -> int:
        """Charge in full the reservations of sessions on this host whose process is gone.

        Returns how many reservations were charged. A dead process may have paid for any part
        of what it reserved; charging all of it keeps the limit a guarantee.
        """
        host = socket.gethostname()
        now = time.time()
        with self._txn() as db:
            rows = db.execute(
                "SELECT r.key, r.session, r.dollars, r.tokens, r.calls, s.pid, s.host FROM reservations r "
                "JOIN sessions s ON s.session = r.session WHERE r.session != ?",
                (self.session,),
            ).fetchall()
            charged = 0
            for key, session, dollars, tokens, calls, pid, rhost in rows:
                if rhost == host and not _pid_alive(pid):
                    db.execute("DELETE FROM reservations WHERE key = ?", (key,))
                    if HELD_BACK in key:
                        continue  # set aside, never work: nothing was spent from it
                    db.execute(
                        "INSERT OR IGNORE INTO spent(key, session, dollars, tokens, calls, settled) VALUES (?,?,?,?,?,?)",
                        (key, session, dollars, tokens, calls, now),
                    )
                    charged += 1
        return charged

    def reserve(self, key: str, amount: Spend) -> Reservation | None:
        """Reserve ``amount`` under ``key``; None when it would break a limit (nothing reserved).

        Reserving a key that is already settled or reserved is a programming error (ValueError):
        the work it stands for has been (or is being) paid for once already.
        """
        with self._txn() as db:
            if db.execute("SELECT 1 FROM spent WHERE key = ? UNION SELECT 1 FROM reservations WHERE key = ?", (key, key)).fetchone():
                raise ValueError(f"budget key {key!r} was reserved before")
            total = self._sum(db, "spent") + self._sum(db, "reservations") + amount
            if self.limits.exceeded_by(total):
                return None
            db.execute(
                "INSERT INTO reservations(key, session, dollars, tokens, calls, created) VALUES (?,?,?,?,?,?)",
                (key, self.session, amount.dollars, amount.tokens, amount.calls, time.time()),
            )
        return Reservation(key, amount)

    def settle(self, key: str, actual: Spend) -> bool:
        """Replace the reservation ``key`` by the actual spend. Idempotent: False if already settled."""
        with self._txn() as db:
            db.execute("DELETE FROM reservations WHERE key = ?", (key,))
            cur = db.execute(
                "INSERT OR IGNORE INTO spent(key, session, dollars, tokens, calls, settled) VALUES (?,?,?,?,?,?)",
                (key, self.session, actual.dollars, actual.tokens, actual.calls, time.time()),
            )
            return cur.rowcount == 1

    def charge_reserved(self, key: str) -> bool:
        """Settle ``key`` at its full reservation: work that was cancelled after it started,
        whose spend is unknown. Idempotent like :meth:`settle`; False if nothing was charged."""
        with self._txn() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO spent(key, session, dollars, tokens, calls, settled) "
                "SELECT key, session, dollars, tokens, calls, ? FROM reservations WHERE key = ?",
                (time.time(), key),
            )
            db.execute("DELETE FROM reservations WHERE key = ?", (key,))
            return cur.rowcount == 1

    def hold_back(self, name: str, amount: Spend) -> str | None:
        """Set ``amount`` aside (a reservation no work spends from) until :meth:`release` of the
        returned key; None when it does not fit. Unlike a reservation for work, a hold left open by
        a crash or at :meth:`close` is dropped, not charged."""
        key = f"{self.session}{HELD_BACK}{name}"
        return key if self.reserve(key, amount) is not None else None

    def release(self, key: str) -> None:
        """Drop a reservation whose work never started (nothing was spent)."""
        with self._txn() as db:
            db.execute("DELETE FROM reservations WHERE key = ? AND session = ?", (key, self.session))

    def is_settled(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM spent WHERE key = ?", (key,)).fetchone() is not None

    def elapsed(self) -> float:
        """Wall time of this search so far: earlier sessions plus this one."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(SUM(elapsed),0) FROM sessions WHERE session != ?", (self.session,)).fetchone()
        return float(row[0]) + (time.monotonic() - self._started)

    def wall_time_left(self) -> float | None:
        if self.limits.wall_time is None:
            return None
        return self.limits.wall_time - self.elapsed()

    def totals(self) -> LedgerTotals:
        with self._lock:
            spent = self._sum(self._db, "spent")
            reserved = self._sum(self._db, "reservations", "instr(key, ?) = 0", HELD_BACK)
            held = self._sum(self._db, "reservations", "instr(key, ?) > 0", HELD_BACK)
            n = self._db.execute("SELECT COUNT(*) FROM reservations WHERE instr(key, ?) = 0", (HELD_BACK,)).fetchone()[0]
        return LedgerTotals(spent=spent, reserved=reserved, limits=self.limits, elapsed=self.elapsed(), in_flight=int(n), held=held)

    def exhausted(self) -> str | None:
        """Why no more work may start (wall time over), or None. Spend limits are enforced by
        :meth:`reserve`, which refuses what would not fit."""
        left = self.wall_time_left()
        if left is not None and left <= 0:
            return f"wall time {self.elapsed():.0f}s reached the limit {self.limits.wall_time:.0f}s"
        return None

    def close(self) -> None:
        """Record this session's wall time. Reservations still open (work that was cancelled or
        abandoned, whose spend is unknown) are charged in full."""
        now = time.time()
        with self._txn() as db:
            db.execute(
                "UPDATE sessions SET elapsed = ? WHERE session = ?", (time.monotonic() - self._started, self.session)
            )
            db.execute("DELETE FROM reservations WHERE session = ? AND instr(key, ?) > 0", (self.session, HELD_BACK))
            db.execute(
                "INSERT OR IGNORE INTO spent(key, session, dollars, tokens, calls, settled) "
                "SELECT key, session, dollars, tokens, calls, ? FROM reservations WHERE session = ?",
                (now, self.session),
            )
            db.execute("DELETE FROM reservations WHERE session = ?", (self.session,))
        self._db.close()

    def __enter__(self) -> BudgetLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
