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
overhead = 1 - served requests/s / direct requests/s (target at 32 clients: <= 10 %).

Usage: python benchmarks/bench_serve.py [--latency 0.5] [--clients 1,8,32] [--requests 8]
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
    from archon.runtime import load_pipeline

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


def main(argv: list[str] | None = None) -> int:
    from archon.serve import Batching, serve_pipeline
    from archon.testing.server import ServerProcess

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", type=float, default=0.5, help="the model server's fixed latency per call (s)")
    ap.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    ap.add_argument("--requests", type=int, default=8, help="requests per client at each level (at least 16 in all)")
    ap.add_argument("--port", type=int, default=0, help="port for the served pipeline (default: a free one)")
    a = ap.parse_args(argv)
    levels = [int(x) for x in a.clients.split(",")]

    print(f"# archon serve vs the executor: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
          f"model latency {a.latency * 1000:.0f} ms per call, 4 calls in 2 rounds per query")
    results: list[tuple[Run, Run]] = []
    with ServerProcess(latency=a.latency) as model, tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bench.yaml"
        spec.write_text(PIPE.format(url=model.url))
        directs = {c: asyncio.run(direct_run(spec, c, max(a.requests, -(-16 // c)))) for c in levels}
        import socket

        port = a.port
        if not port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        started = time.perf_counter()
        with serve_pipeline(spec, port=port, cache=False, dashboard=False,
                            batching=Batching(max_batch_size=32, wait_s=0.01, max_concurrent=4)) as server:
            print(f"# served at {server.url} in {time.perf_counter() - started:.1f} s (start-up, not measured below)")
            for c in levels:
                results.append((directs[c], asyncio.run(served_run(server.url, c, max(a.requests, -(-16 // c))))))

    print()
    print(f"{'clients':>7} {'path':<7} {'requests':>8} {'failed':>6} {'req/s':>7} {'p50 s':>7} {'p95 s':>7} "
          f"{'mean batch':>10} {'overhead':>8}")
    for direct, served in results:
        for r in (direct, served):
            batch = f"{statistics.mean(r.batch_sizes):.1f}" if r.batch_sizes else "-"
            over = f"{100 * (1 - served.rate / direct.rate):+.1f} %" if r is served and direct.rate else ""
            print(f"{r.clients:>7} {r.name:<7} {len(r.latencies):>8} {r.failed:>6} {r.rate:>7.2f} {r.pct(0.5):>7.3f} "
                  f"{r.pct(0.95):>7.3f} {batch:>10} {over:>8}")
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
