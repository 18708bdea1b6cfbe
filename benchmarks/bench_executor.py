"""Throughput of archon's Client + litellm backend against a slow, rate-limited server.

Not a test: it measures and prints a table. The server is archon's loopback test server, run in
its own process (so it does not share this process's GIL), with a fixed latency and a
concurrency limit; its capacity is ``limit / latency`` calls per second (64 / 0.5 s = 128/s).

Rows:
  archon @ latency   N calls through Client (cache off, concurrency = the server's limit);
                     achieved calls/s vs capacity (target: at least 90 %); once with a constant
                     latency (the worst case: answers come back in synchronised bursts) and once
                     with +-20 % jitter around the same mean
  ceilings @ 0 ms    the same server with no latency: raw httpx, raw litellm, and archon, each with
                     the same concurrency; the gap per call is archon's overhead on top of the
                     client library (wall time and this process's CPU time per call)

Usage: python benchmarks/bench_executor.py [--calls 2048] [--latency 0.5] [--limit 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from archon.backends import CallRequest, Client  # noqa: E402
from archon.spec.schema import ModelSpec  # noqa: E402
from archon.testing.server import ServerProcess  # noqa: E402


@dataclass
class Row:
    name: str
    calls: int
    wall: float
    cpu: float
    ok: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.calls / self.wall

    @property
    def wall_ms(self) -> float:
        return 1000 * self.wall / self.calls

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.calls


def requests(n: int, offset: int = 0) -> list[CallRequest]:
    return [
        CallRequest(model="bench", messages=(("user", f"benchmark question {i}"),), sample_index=i,
                    max_tokens=16)
        for i in range(offset, offset + n)
    ]


async def run_archon(url: str, n: int, concurrency: int, offset: int) -> tuple[float, float, int, Client]:
    spec = ModelSpec(kind="litellm", model="openai/bench", api_base=url, concurrency=concurrency,
                     timeout=60, max_retries=6)
    client = Client({"bench": spec}, cache=None)
    await client.complete(requests(concurrency, offset=10**6 + offset))  # warm-up: import, connections
    reqs = requests(n, offset)
    c0, t0 = time.process_time(), time.perf_counter()
    out = await client.complete(reqs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    await client.aclose()
    return wall, cpu, sum(r.ok for r in out), client


async def run_litellm(url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    import litellm

    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> bool:
        async with sem:
            r = await litellm.acompletion(model="openai/bench", api_base=url, api_key="sk-none",
                                          messages=[{"role": "user", "content": f"raw litellm {i}"}],
                                          max_tokens=16, seed=i, max_retries=0, timeout=60)
            return bool(r.choices[0].message.content)

    await asyncio.gather(*(one(-1 - i) for i in range(concurrency)))
    c0, t0 = time.process_time(), time.perf_counter()
    ok = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    return time.perf_counter() - t0, time.process_time() - c0, sum(x is True for x in ok)


async def run_httpx(url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:

        async def one(i: int) -> bool:
            async with sem:
                r = await http.post(url + "/chat/completions", json={
                    "model": "bench", "messages": [{"role": "user", "content": f"raw httpx {i}"}],
                    "max_tokens": 16, "seed": i})
                return bool(r.json()["choices"][0]["message"]["content"])

        await asyncio.gather(*(one(-1 - i) for i in range(concurrency)))
        c0, t0 = time.process_time(), time.perf_counter()
        ok = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
        return time.perf_counter() - t0, time.process_time() - c0, sum(x is True for x in ok)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2048, help="calls in each latency run")
    ap.add_argument("--latency", type=float, default=0.5, help="server latency (s)")
    ap.add_argument("--limit", type=int, default=64, help="server concurrency limit = client concurrency")
    ap.add_argument("--zero-calls", type=int, default=1024, help="calls per zero-latency run")
    ap.add_argument("--jitter", type=float, default=0.2, help="latency jitter of the second run (fraction)")
    a = ap.parse_args(argv)
    capacity = a.limit / a.latency

    print(f"# archon executor throughput: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    with ServerProcess(latency=a.latency, max_concurrency=a.limit, retry_after=0.5) as srv:
        wall, cpu, ok, client = asyncio.run(run_archon(srv.url, a.calls, a.limit, 0))
        stats = srv.stats()
    m = client.meter.snapshot()
    main_row = Row(f"archon @ {a.latency * 1000:.0f} ms, limit {a.limit}", a.calls, wall, cpu, ok,
                   f"retries {m.retries}, server 429s {stats['rejected_over_limit']}, "
                   f"max in flight {stats['max_in_flight']}")
    # the same with +-jitter on the latency (same mean, same capacity): with a constant latency
    # every slot's answer arrives in the same burst wave after wave, and the client's CPU work per
    # answer turns into queueing; real servers jitter, which spreads the waves out
    with ServerProcess(latency=a.latency, max_concurrency=a.limit, retry_after=0.5, jitter=a.jitter) as srv:
        wall, cpu, ok, client = asyncio.run(run_archon(srv.url, a.calls, a.limit, 10**8))
        stats = srv.stats()
    m = client.meter.snapshot()
    jitter_row = Row(f"archon @ {a.latency * 1000:.0f}+-{a.jitter * 100:.0f}%", a.calls, wall, cpu, ok,
                     f"retries {m.retries}, server 429s {stats['rejected_over_limit']}")

    rows: list[Row] = []
    with ServerProcess(latency=0.0) as srv:
        for name, fn in (
            ("raw httpx @ 0 ms", lambda: asyncio.run(run_httpx(srv.url, a.zero_calls, a.limit))),
            ("raw litellm @ 0 ms", lambda: asyncio.run(run_litellm(srv.url, a.zero_calls, a.limit))),
            ("archon @ 0 ms", lambda: asyncio.run(run_archon(srv.url, a.zero_calls, a.limit, 10**7))[:3]),
        ):
            w, c, k = fn()
            rows.append(Row(name, a.zero_calls, w, c, k))

    print()
    print(f"{'run':<28} {'calls':>6} {'ok':>6} {'wall s':>8} {'calls/s':>9} {'ms/call':>8} {'cpu ms/call':>11}")
    for r in [main_row, jitter_row, *rows]:
        print(f"{r.name:<28} {r.calls:>6} {r.ok:>6} {r.wall:>8.2f} {r.rate:>9.1f} {r.wall_ms:>8.2f} {r.cpu_ms:>11.2f}")
    print()
    pct = 100 * main_row.rate / capacity
    verdict = "OK" if pct >= 90 else "BELOW TARGET"
    print(f"latency run: {main_row.rate:.1f} calls/s of capacity {capacity:.0f}/s = {pct:.1f} % "
          f"(target >= 90 %: {verdict}); {main_row.note}")
    jpct = 100 * jitter_row.rate / capacity
    print(f"with +-{a.jitter * 100:.0f} % latency jitter: {jitter_row.rate:.1f} calls/s = {jpct:.1f} % "
          f"(target >= 90 %: {'OK' if jpct >= 90 else 'BELOW TARGET'}); {jitter_row.note}")
    need = capacity * 0.9 * main_row.cpu_ms / 1000
    print(f"  the client used {100 * main_row.cpu / main_row.wall:.0f} % of one core; 90 % of capacity needs "
          f"~{100 * need:.0f} % at {main_row.cpu_ms:.1f} ms CPU per call (check the machine's load if below)")
    try:
        print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    except OSError:
        pass
    httpx_row, litellm_row, archon_row = rows
    print(f"zero-latency ceiling: archon {archon_row.rate:.0f} calls/s, litellm {litellm_row.rate:.0f}/s, "
          f"httpx {httpx_row.rate:.0f}/s")
    print(f"archon overhead per call: on top of litellm {archon_row.wall_ms - litellm_row.wall_ms:+.2f} ms wall, "
          f"{archon_row.cpu_ms - litellm_row.cpu_ms:+.2f} ms CPU; on top of httpx "
          f"{archon_row.wall_ms - httpx_row.wall_ms:+.2f} ms wall, {archon_row.cpu_ms - httpx_row.cpu_ms:+.2f} ms CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
