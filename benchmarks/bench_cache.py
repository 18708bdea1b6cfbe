"""What the cluster's call cache costs per call, against the local SQLite file and no cache.

    python benchmarks/bench_cache.py [--calls N] [--repeats R] [--no-cluster]

Each row runs a :class:`~archon.backends.Client` inside a Ray task (where a shard runs) against
an instant fake model, so what is timed is the client's own work plus the cache: ``complete()``
on batches of distinct calls, first on an empty cache ("miss": lookup, lease, store, release),
then the same calls again ("hit": one lookup answers them all). Batch 1 is the worst case (a
round trip per call); 16 is a shard's usual batch (every query of a shard through one node).

Stores compared:

* ``none``: no cache at all (the client's own overhead);
* ``local file``: the SQLite file on the worker's disk (what one machine uses);
* ``service, same node``: the cache service actor (archon.backends.cache_service) on the node
  the task runs on (a private Ray runtime);
* ``service, other node``: the task on a worker node of a loopback cluster, the service on the
  head (archon.testing.ray_cluster): every call crosses between two raylets, as between two
  machines, but over loopback: a real network adds its round-trip time per lookup and write.

Prints the median over ``--repeats`` runs, in microseconds per call, and the service round trips
per batch. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCHES = (1, 16)


def _timed_client(store: Any, batches: tuple[int, ...], calls: int, tag: str) -> dict[str, Any]:
    """Runs in a Ray task: µs per call, miss then hit, for each batch size."""
    import asyncio

    from archon.backends import CallRequest, Client
    from archon.spec.schema import ModelSpec
    from archon.testing import FakeBackend

    loop = asyncio.new_event_loop()
    out: dict[str, Any] = {}
    for batch in batches:
        client = Client({"m": ModelSpec(kind="fake", model="bench", concurrency=8)}, cache=store, fake=FakeBackend())
        reqs = [CallRequest(model="m", messages=(("user", f"{tag} batch {batch} question {i}"),), temperature=0.7)
                for i in range(calls)]
        groups = [reqs[i : i + batch] for i in range(0, calls, batch)]
        for phase in ("miss", "hit"):
            trips = getattr(store, "round_trips", 0)
            t0 = time.perf_counter()
            for group in groups:
                loop.run_until_complete(client.complete(group))
            elapsed = time.perf_counter() - t0
            out[f"{phase}/{batch}"] = 1e6 * elapsed / calls
            out[f"trips/{phase}/{batch}"] = (getattr(store, "round_trips", 0) - trips) / len(groups)
        loop.run_until_complete(client.aclose())
    loop.close()
    return out


def _with_local_file(batches: tuple[int, ...], calls: int, tag: str) -> dict[str, Any]:
    from archon.backends.cache import CallCache

    with tempfile.TemporaryDirectory() as d:
        return _timed_client(CallCache(Path(d) / "calls.sqlite"), batches, calls, tag)


def _with_nothing(batches: tuple[int, ...], calls: int, tag: str) -> dict[str, Any]:
    return _timed_client(None, batches, calls, tag)


def run_rows(ray: Any, calls: int, repeats: int, *, node: str | None, service_dir: Path, label: str) -> dict[str, list]:
    """Every store, ``repeats`` times, in tasks (pinned to ``node`` when given)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from archon.backends.cache_service import start_cache_service

    opts: dict[str, Any] = {"num_cpus": 1}
    if node is not None:
        opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
    rows: dict[str, list] = {}
    for r in range(repeats):
        tag = f"{label}-{r}-{time.time_ns()}"
        if node is None:
            rows.setdefault("none", []).append(ray.get(ray.remote(_with_nothing).options(**opts).remote(BATCHES, calls, tag)))
            rows.setdefault("local file", []).append(
                ray.get(ray.remote(_with_local_file).options(**opts).remote(BATCHES, calls, tag)))
        store = start_cache_service(service_dir / f"{label}-{r}.sqlite")
        try:
            rows.setdefault(label, []).append(
                ray.get(ray.remote(_timed_client).options(**opts).remote(store, BATCHES, calls, tag)))
        finally:
            store.shutdown()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=480, help="distinct calls per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-cluster", action="store_true", help="skip the two-node loopback cluster")
    args = parser.parse_args(argv)
    for k, v in {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
                 "RAY_USAGE_STATS_ENABLED": "0", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}.items():
        os.environ.setdefault(k, v)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

    import ray
    from rich.console import Console
    from rich.table import Table

    service_dir = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    ray.init(address="local", _temp_dir=tempfile.mkdtemp(prefix="bench-ray-"), num_cpus=2, include_dashboard=False,
             logging_level="ERROR", log_to_driver=False)
    try:
        rows = run_rows(ray, args.calls, args.repeats, node=None, service_dir=service_dir, label="service, same node")
    finally:
        ray.shutdown()
    if not args.no_cluster:
        from archon.testing.ray_cluster import LoopbackCluster

        with LoopbackCluster() as cluster:
            worker = cluster.add_node(num_cpus=1)
            ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
            try:
                rows.update(run_rows(ray, args.calls, args.repeats, node=worker.node_id, service_dir=service_dir,
                                     label="service, other node"))
            finally:
                ray.shutdown()

    table = Table(title=f"call cache cost, µs per call (median of {args.repeats}, {args.calls} distinct calls, "
                        f"{os.cpu_count()} cores)")
    table.add_column("store")
    for batch in BATCHES:
        table.add_column(f"miss, batch {batch}", justify="right")
        table.add_column(f"hit, batch {batch}", justify="right")
    table.add_column("round trips per batch, miss / hit", justify="right")
    for name, runs in rows.items():
        cells = []
        for batch in BATCHES:
            for phase in ("miss", "hit"):
                cells.append(f"{statistics.median(r[f'{phase}/{batch}'] for r in runs):.0f}")
        trips = ", ".join(
            f"batch {b}: {statistics.median(r[f'trips/miss/{b}'] for r in runs):.1f} / "
            f"{statistics.median(r[f'trips/hit/{b}'] for r in runs):.1f}" for b in BATCHES) if name.startswith("service") else ""
        table.add_row(name, *cells, trips)
    Console(width=200).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
