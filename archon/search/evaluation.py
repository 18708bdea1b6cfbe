"""Evaluating one shard: a resolved pipeline over some records of one split. Runs in a worker.

A :class:`ShardJob` carries only plain data (the resolved spec as JSON-ready data, record
positions in the split, the cache file), so it can cross a process boundary (a Ray task) and be
retried by another worker: evaluating the same job twice gives the same rows, and the second run
is served by the call cache. The :class:`ShardResult` carries the job's key and the trial number,
so the driver can recognise a result it has already counted.

Per-worker state — the event loop, one :class:`~archon.backends.Client` per (models, cache file)
and one loaded benchmark per benchmark spec — is kept in module globals and reused by every task
that lands on the same worker process: a local model is loaded once per worker, not per task.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import os
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from archon.errors import ReplayMissError

__all__ = ["ShardJob", "ShardResult", "arun_shard", "run_shard", "logical_cost"]


@dataclass(frozen=True)
class ShardJob:
    key: str  # "trial-<n>/rung-<k>/shard-<s>" (or "baseline-<model>/<split>/shard-<s>")
    trial: int  # trial number; -1 for work that is not a trial (baselines, final test)
    rung: int
    shard: int
    split: str  # "dev" | "test"
    indices: tuple[int, ...]  # positions in the split
    spec_data: dict[str, Any]  # the resolved spec (pipeline + models + benchmark ...)
    cache_path: str | None
    preload: tuple[str, ...] = ()  # modules to import first (e.g. ones registering fake scripts)
    sys_path: tuple[str, ...] = ()
    trace: bool = True
    #: a replay: ``cache_path`` is the table, read only; the value says which model identities
    #: used structured output when it was built (None: a live evaluation)
    replay: dict[str, bool] | None = None


@dataclass
class ShardResult:
    key: str
    trial: int
    rung: int
    shard: int
    split: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per record, in job order
    spent: dict[str, Any] = field(default_factory=dict)  # calls/tokens/dollars that reached a backend
    logical: dict[str, Any] = field(default_factory=dict)  # the same, cached calls included
    wall: float = 0.0
    node: str = ""
    error: str | None = None
    fatal: bool = False  # the error would recur for every trial (a replay table's gap): stop

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------- worker state

_STATE_LOCK = threading.Lock()
_CLIENTS: dict[str, Any] = {}
_BENCHMARKS: dict[str, Any] = {}
_LOOP: asyncio.AbstractEventLoop | None = None


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _prepare(job: ShardJob) -> None:
    for p in job.sys_path:
        if p not in sys.path:
            sys.path.insert(0, p)
    for module in job.preload:
        importlib.import_module(module)


def _client_for(spec: Any, cache_path: str | None, fake: Any = None, replay: dict[str, bool] | None = None) -> Any:
    from archon.backends import Client

    if fake is not None:
        return Client.from_spec(spec, cache_path=cache_path, fake=fake)
    key = _fingerprint([spec.model_dump(mode="json")["models"], cache_path, spec.cache, replay])
    with _STATE_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            if replay is not None:
                client = Client.from_spec(spec, cache=cache_path, replay=True, structured=replay)
            else:
                client = Client.from_spec(spec, cache_path=cache_path)
            _CLIENTS[key] = client
        return client


def _benchmark_for(spec: Any) -> Any:
    from archon.benchmarks import load_benchmark

    key = _fingerprint(spec.benchmark.model_dump(mode="json"))
    with _STATE_LOCK:
        bench = _BENCHMARKS.get(key)
        if bench is None:
            bench = load_benchmark(spec.benchmark)
            _BENCHMARKS[key] = bench
        return bench


def _get(cost: Any, name: str) -> float:
    if isinstance(cost, dict):
        return cost.get(name, 0) or 0
    return getattr(cost, name, 0) or 0


def _saved_tokens(cost: Any) -> float:
    direct = _get(cost, "saved_tokens")
    return direct or (_get(cost, "saved_prompt_tokens") + _get(cost, "saved_completion_tokens"))


def logical_cost(cost: Any) -> dict[str, Any]:
    """What a query's calls would cost with an empty cache (spent + saved)."""
    return {
        "calls": int(_get(cost, "calls") + _get(cost, "cached_calls")),
        "tokens": int(_get(cost, "prompt_tokens") + _get(cost, "completion_tokens") + _saved_tokens(cost)),
        "dollars": float(_get(cost, "dollars") + _get(cost, "saved_dollars")),
    }


def spent_cost(cost: Any) -> dict[str, Any]:
    """What a query's calls actually cost (calls that reached a backend), and what the cache saved."""
    return {
        "calls": int(_get(cost, "calls")),
        "cached_calls": int(_get(cost, "cached_calls")),
        "tokens": int(_get(cost, "prompt_tokens") + _get(cost, "completion_tokens")),
        "saved_tokens": int(_saved_tokens(cost)),
        "dollars": float(_get(cost, "dollars")),
        "saved_dollars": float(_get(cost, "saved_dollars")),
    }


def _sum(dicts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


async def arun_shard(job: ShardJob, *, client: Any = None, benchmark: Any = None) -> ShardResult:
    """Evaluate ``job``; never raises for a model or scoring fault (they become row errors).

    ``client``/``benchmark`` may be supplied by an in-process caller (the fake-backend path);
    otherwise the worker's cached ones are used.
    """
    from archon.benchmarks.evaluate import evaluate
    from archon.graph import compile_pipeline
    from archon.spec.schema import Spec

    started = time.monotonic()
    result = ShardResult(job.key, job.trial, job.rung, job.shard, job.split, node=f"{socket.gethostname()}:{os.getpid()}")
    try:
        _prepare(job)
        spec = Spec.model_validate(job.spec_data)
        pipeline = compile_pipeline(spec)
        bench = benchmark if benchmark is not None else _benchmark_for(spec)
        client = client if client is not None else _client_for(spec, job.cache_path, replay=job.replay)
        records = bench.splits().get(job.split)
        chosen = [records[i] for i in job.indices]
        report = await evaluate(pipeline, bench, chosen, client, trace=job.trace, batch_size=max(1, len(chosen)))
        spent, logical = [], []
        for index, row in zip(job.indices, report.rows):
            cost = row.get("cost") or {}
            spent.append(spent_cost(cost))
            logical.append(logical_cost(cost))
            out = {
                "index": index,
                "id": row["id"],
                "score": None if row["score"] is None else float(row["score"]),
                "extracted": row.get("extracted"),
                "reference": row.get("reference"),  # for the report's drill-down
                "answer": row.get("answer"),
                "status": row.get("status"),
                "error": row.get("error") or row.get("scorer_error"),
                "cost": logical[-1],
            }
            if job.trace and "trace" in row:
                out["trace"] = row["trace"]
            result.rows.append(out)
        result.spent = _sum(spent)
        result.logical = _sum(logical)
    except ReplayMissError as exc:
        result.error = f"ReplayMissError: {exc}"
        result.fatal = True
    except Exception as exc:  # noqa: BLE001 - a broken shard is reported, the search goes on
        result.error = f"{type(exc).__name__}: {exc}"
    result.wall = time.monotonic() - started
    return result


def run_shard(job: ShardJob) -> ShardResult:
    """Synchronous entry point for a worker process (a Ray task): one event loop per process."""
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    return _LOOP.run_until_complete(arun_shard(job))
