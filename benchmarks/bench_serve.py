"""What serving costs: requests/s and p50/p95 latency of a served pipeline against calling its
executor directly, at 1, 8 and 32 concurrent clients.

Not a test: it measures and prints a table. The pipeline's model is archon's loopback test
server in its own process, with a fixed latency, so the numbers measure archon (Serve's proxy,
the replica's HTTP handling, request batching, the executor and the litellm client), not a model.
The pipeline (generate 3 samples, then fuse: 4 calls in 2 rounds per query) runs with the call
cache off, so every query really calls the server.

Rows, for each number of clients C (each client sends its next request when the last returns):
  direct   C asyncio tasks in this process, each awaiting ``LoadedPipeline.arun(query)`` on one
           shared pipeline (what a Python application embedding archon gets)
  served   C HTTP clients (httpx, keep-alive) posting to ``archon serve``'s
           /v1/chat/completions: one replica on a private local Ray, Serve's request batching
overhead = 1 - served requests/s / direct requests/s (target at 32 clients: <= 10 %). CPU ms/req:
CPU time of this process and all its children (Ray, Serve, the replica; not the model server)
per request, which does not depend on what else the machine is running.

Each level runs ``--repeats`` times, direct and served alternating (so both see the same load on
a shared machine); requests/s is the median of the repeats, latencies are pooled.

Usage: python benchmarks/bench_serve.py [--latency 0.5] [--clients 1,8,32] [--requests 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PIPE = """\
name: bench
models:
  m: {{kind: litellm, model: openai/bench, api_base: "{url}", concurrency: 256}}
pipeline:
  - {{type: generate, model: m, samples: 3, max_tokens: 16}}
  - {{type: fuse, model: m, max_tokens: 16}}
"""


@dataclass
class Run:
    name: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    failed: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    spread: tuple[float, float] | None = None  # min and max requests/s over repeats
    cpu: float = 0.0  # CPU seconds of this process and its children (the model server's excluded)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def queries(clients: int, per_client: int, tag: str) -> list[list[str]]:
    # distinct queries everywhere: nothing is answered from a cache at any level
    return [[f"{tag} question {c}-{i}: which word?" for i in range(per_client)] for c in range(clients)]


async def direct_run(spec: Path, clients: int, per_client: int) -> Run:
    from archon.pipeline_file import load_pipeline

    pipeline = load_pipeline(spec, cache=False)
    run = Run("direct", clients)
    await pipeline.arun(f"warm-up question {clients}")  # imports, connections

    async def client(mine: list[str]) -> None:
        for q in mine:
            t0 = time.perf_counter()
            result = await pipeline.arun(q)
            run.latencies.append(time.perf_counter() - t0)
            run.failed += result.status != "ok"

    t0 = time.perf_counter()
    await asyncio.gather(*(client(mine) for mine in queries(clients, per_client, f"direct{clients}")))
    run.wall = time.perf_counter() - t0
    await pipeline.aclose()
    return run


async def served_run(url: str, clients: int, per_client: int) -> Run:
    import httpx

    run = Run("served", clients)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=300) as http:

        async def ask(q: str) -> httpx.Response:
            return await http.post(f"{url}/chat/completions", json={"model": "bench", "messages": [{"role": "user", "content": q}]})

        await ask(f"warm-up question {clients}")

        async def client(mine: list[str]) -> None:
            for q in mine:
                t0 = time.perf_counter()
                r = await ask(q)
                run.latencies.append(time.perf_counter() - t0)
                if r.status_code == 200:
                    run.batch_sizes.append(r.json()["archon"]["batch_size"])
                else:
                    run.failed += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(client(mine) for mine in queries(clients, per_client, f"served{clients}")))
        run.wall = time.perf_counter() - t0
    return run


def _merged(runs: list[Run]) -> Run:
    """Repeats of one measurement: latencies pooled, requests/s the median of the repeats."""
    out = Run(runs[0].name, runs[0].clients)
    for r in runs:
        out.latencies += r.latencies
        out.batch_sizes += r.batch_sizes
        out.failed += r.failed
    out.cpu = sum(r.cpu for r in runs)
    rates = [r.rate for r in runs]
    out.wall = len(out.latencies) / statistics.median(rates)
    out.spread = (min(rates), max(rates))
    return out


def _cpu_seconds(exclude: int | None) -> float:
    """CPU time (user + system) of this process and every live descendant but ``exclude``."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[bytes]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            fields = raw[raw.rfind(b")") + 2:].split()
            stats[int(entry)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo, seen = 0.0, [os.getpid()], set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid == exclude:
            continue
        seen.add(pid)
        if pid in stats:
            total += (int(stats[pid][11]) + int(stats[pid][12])) / ticks  # utime, stime
        todo.extend(children.get(pid, []))
    return total


def _measured(fn, exclude: int | None) -> Run:
    before = _cpu_seconds(exclude)
    run = fn()
    run.cpu = _cpu_seconds(exclude) - before
    return run


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    from archon.serve import Batching, serve_pipeline
    from archon.testing.server import ServerProcess

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", type=float, default=0.5, help="the model server's fixed latency per call (s)")
    ap.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    ap.add_argument("--requests", type=int, default=8, help="requests per client at each level (at least 16 in all)")
    ap.add_argument("--max-concurrent", type=int, default=16, help="batches a replica runs at once (serve's default 16)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating direct/served runs per level (median req/s)")
    ap.add_argument("--port", type=int, default=0, help="port for the served pipeline (default: a free one)")
    a = ap.parse_args(argv)
    levels = [int(x) for x in a.clients.split(",")]

    print(f"# archon serve vs the executor: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
          f"model latency {a.latency * 1000:.0f} ms per call, 4 calls in 2 rounds per query")
    results: list[tuple[Run, Run]] = []
    with ServerProcess(latency=a.latency) as model, tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bench.yaml"
        spec.write_text(PIPE.format(url=model.url))
        port = a.port or _free_port()
        started = time.perf_counter()
        with serve_pipeline(spec, port=port, cache=False, dashboard=False,
                            batching=Batching(max_batch_size=32, wait_s=0.01, max_concurrent=a.max_concurrent)) as server:
            print(f"# served at {server.url} in {time.perf_counter() - started:.1f} s (start-up, not measured below)")
            # direct and served alternate, so both see the same load on a shared machine
            for c in levels:
                per_client = max(a.requests, -(-16 // c))
                pairs = [(_measured(lambda: asyncio.run(direct_run(spec, c, per_client)), model.pid),
                          _measured(lambda: asyncio.run(served_run(server.url, c, per_client)), model.pid))
                         for _ in range(a.repeats)]
                results.append((_merged([d for d, _ in pairs]), _merged([s for _, s in pairs])))

    print()
    print("| clients | path | requests | failed | req/s (median) | req/s range | p50 s | p95 s | mean batch | CPU ms/req | overhead |")
    print("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for direct, served in results:
        for r in (direct, served):
            batch = f"{statistics.mean(r.batch_sizes):.1f}" if r.batch_sizes else "-"
            over = f"{100 * (1 - served.rate / direct.rate):+.1f} %" if r is served and direct.rate else ""
            spread = f"{r.spread[0]:.2f}-{r.spread[1]:.2f}" if r.spread else ""
            cpu = 1000 * r.cpu / max(1, len(r.latencies))
            print(f"| {r.clients} | {r.name} | {len(r.latencies)} | {r.failed} | {r.rate:.2f} | {spread} | {r.pct(0.5):.3f} | "
                  f"{r.pct(0.95):.3f} | {batch} | {cpu:.1f} | {over} |")
    print()
    last_direct, last_served = results[-1]
    overhead = 1 - last_served.rate / last_direct.rate
    print(f"at {last_served.clients} clients: served {last_served.rate:.2f} req/s vs direct {last_direct.rate:.2f} req/s: "
          f"overhead {100 * overhead:.1f} % (target <= 10 %: {'OK' if overhead <= 0.10 else 'ABOVE TARGET'}); "
          f"p50 {last_served.pct(0.5):.3f} s vs {last_direct.pct(0.5):.3f} s")
    try:
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
