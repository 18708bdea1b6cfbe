"""Evaluating one shard: a resolved pipeline over some records of one split. Runs in a worker.

A :class:`ShardJob` carries only data: the resolved spec (JSON-ready), and record positions in a
split. What every shard of a search shares travels beside it as :class:`ShardContext`: the
benchmark (under Ray, a reference into the object store, put there once per search), the call
cache (under Ray, the cluster's cache service, archon.backends.cache_service), the replay setting
and the modules to import first. Nothing in either is a path on the driver's disk, so a shard runs
the same on a machine that cannot see that disk, and can be retried by another worker: evaluating
the same job twice gives the same rows, and the second run is served by the call cache. The
:class:`ShardResult` brings back everything the driver records (rows with their traces, spend),
keyed by the job's key and trial, so the driver can recognise a result it has already counted;
a shard writes no file.

Per-worker state — the event loop, one :class:`~archon.backends.Client` per (models, cache) and
one benchmark per object-store reference — is kept in module globals and reused by every task
that lands on the same worker process: a local model is loaded once per worker, not per task, and
the benchmark is fetched from the object store once per worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from archon.errors import ReplayMissError

__all__ = ["ShardContext", "ShardJob", "ShardResult", "arun_shard", "run_shard", "logical_cost"]


@dataclass(frozen=True)
class ShardJob:
    key: str  # "trial-<n>/rung-<k>/shard-<s>" (or "baseline-<model>/<split>/shard-<s>")
    trial: int  # trial number; -1 for work that is not a trial (baselines, final test)
    rung: int
    shard: int
    split: str  # "dev" | "test"
    indices: tuple[int, ...]  # positions in the split
    spec_data: dict[str, Any]  # the resolved spec (pipeline + models + benchmark ...)
    trace: bool = True


@dataclass(frozen=True)
class ShardContext:
    """What every shard of one search shares; built once by the dispatcher."""

    #: the :class:`~archon.benchmarks.Benchmark` (records, shots, prompt format, scorer), or under
    #: Ray an ``ObjectRef`` to it in the object store
    benchmark: Any
    #: where calls are looked up and stored (a :class:`~archon.backends.cache.CallStore`; under
    #: Ray the cluster's cache service); None: no cache
    cache: Any = None
    #: a replay: ``cache`` is the table, read only; the value says which model identities used
    #: structured output when it was built (None: a live evaluation)
    replay: dict[str, bool] | None = None
    #: modules to import first (e.g. ones registering fake-model scripts); under Ray their code
    #: reaches the workers through the job's runtime_env (archon.search.worker_code)
    preload: tuple[str, ...] = ()


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


def _prepare(context: ShardContext) -> None:
    for module in context.preload:
        importlib.import_module(module)


def _client_for(spec: Any, context: ShardContext) -> Any:
    """This worker's client for ``spec``'s models on the context's cache (built once, reused)."""
    from archon.backends import Client

    store = context.cache
    where = getattr(store, "service_id", None) or (str(store.path) if store is not None else None)
    key = _fingerprint([spec.model_dump(mode="json")["models"], where, context.replay])
    with _STATE_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            # the driver decided which cache (the spec's choice included): use exactly that one
            replay = context.replay is not None
            client = Client(spec.models, cache=store, replay=replay, structured=context.replay)
            _CLIENTS[key] = client
        return client


def _benchmark_for(context: ShardContext) -> Any:
    """The benchmark itself; an object-store reference is fetched once per worker process."""
    from archon.benchmarks import Benchmark

    ref = context.benchmark
    if isinstance(ref, Benchmark):
        return ref
    import ray  # lazy: only a Ray worker is handed an object-store reference

    key = ref.hex()
    with _STATE_LOCK:
        bench = _BENCHMARKS.get(key)
    if bench is None:
        bench = ray.get(ref)
        with _STATE_LOCK:
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


async def arun_shard(job: ShardJob, context: ShardContext, *, client: Any = None) -> ShardResult:
    """Evaluate ``job``; never raises for a model or scoring fault (they become row errors).

    ``client`` may be supplied by an in-process caller (the fake-backend path); otherwise the
    worker's client for the context's cache is used.
    """
    from archon.benchmarks.evaluate import evaluate
    from archon.graph import compile_pipeline
    from archon.spec.schema import Spec

    started = time.monotonic()
    result = ShardResult(job.key, job.trial, job.rung, job.shard, job.split, node=f"{socket.gethostname()}:{os.getpid()}")
    try:
        _prepare(context)
        spec = Spec.model_validate(job.spec_data)
        pipeline = compile_pipeline(spec)
        bench = _benchmark_for(context)
        client = client if client is not None else _client_for(spec, context)
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
            if row.get("answered_by"):
                out["answered_by"] = row["answered_by"]  # which cascade stage answered
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


def run_shard(job: ShardJob, context: ShardContext) -> ShardResult:
    """Synchronous entry point for a worker process (a Ray task): one event loop per process."""
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    return _LOOP.run_until_complete(arun_shard(job, context))
