"""A loopback OpenAI-compatible HTTP server that misbehaves on purpose.

It answers ``POST /v1/chat/completions`` and ``GET /v1/models`` like an OpenAI-compatible server,
with deterministic answers (derived from a hash of the request, so different seeds or sample
numbers give different texts) and usage fields, and it can emulate what real servers do under
load: a ``latency`` (fixed, or varied by ``jitter``), a concurrency limit (a request over it
gets 429 with Retry-After at once), and scheduled faults (429, 500, 503, 400, hangs, malformed JSON bodies, truncated bodies,
dropped connections) by rate, by request number, or for the first N requests.

Why hand-written HTTP on ``asyncio.start_server``: no extra dependency, HTTP/1.1 keep-alive, and
full control over broken responses (a framework would refuse to send a truncated body). One
event loop sustains far more than the ~200 requests/s the benchmarks need.

It listens on 127.0.0.1 only, on an ephemeral port unless told otherwise. Run it in a
background thread (``with TestServer(...) as srv``) for tests, or in its own process
(``TestServer.spawn(...)`` or ``python -m archon.testing.server``) when the client under test
would otherwise compete with it for the GIL, as in the throughput benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import ipaddress
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from archon.errors import StateError, UsageError

__all__ = ["Fault", "ServerProcess", "TestServer", "main"]

FAULT_KINDS = ("429", "500", "503", "400", "hang", "malformed", "truncated", "close")

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class Fault:
    """A scheduled fault for chat-completion requests (numbered from 1 in arrival order).

    Exactly one trigger: ``rate`` (probability per request, from a seeded RNG), ``at`` (these
    request numbers), ``first`` (requests 1..N) or ``every`` (every N-th request).
    ``retry_after`` is sent with 429/503. A ``hang`` holds the request for ``hang_seconds`` and
    then drops the connection without answering.
    """

    kind: str
    rate: float | None = None
    at: Sequence[int] | None = None
    first: int | None = None
    every: int | None = None
    retry_after: float | None = None

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in FAULT_KINDS:
            raise UsageError(f"unknown fault kind {self.kind!r} (one of {', '.join(FAULT_KINDS)})")
        triggers = [x is not None for x in (self.rate, self.at, self.first, self.every)]
        if sum(triggers) != 1:
            raise UsageError("a Fault needs exactly one of rate=, at=, first=, every=")
        if self.at is not None:
            self.at = sorted(int(n) for n in self.at)

    def hits(self, n: int, rng: random.Random) -> bool:
        if self.rate is not None:
            return rng.random() < self.rate
        if self.at is not None:
            return n in self.at
        if self.first is not None:
            return n <= self.first
        assert self.every is not None
        return n % self.every == 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fault:
        return cls(**d)


@dataclass
class _Stats:
    requests: int = 0
    chat_requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    rejected_over_limit: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    connections: int = 0


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _words(text: str) -> int:
    return len(text.split())


def _answer_text(body: dict[str, Any], index: int) -> str:
    messages = body.get("messages") or []
    last_user = ""
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            last_user = c if isinstance(c, str) else json.dumps(c)
            break
    d = _digest(body.get("model"), messages, body.get("seed"), body.get("temperature"), index)
    head = " ".join(last_user.split()[:10])
    text = f"reply {d[:8]} to: {head}"
    if body.get("response_format"):
        text = json.dumps({"answer": text})
    return text


class _Core:
    """The server's state and request handling; runs inside one event loop."""

    def __init__(self, *, latency: float, max_concurrency: int | None, retry_after: float,
                 faults: Sequence[Fault], seed: int, hang_seconds: float, jitter: float = 0.0) -> None:
        self.latency = latency
        self.jitter = jitter
        self.latency_rng = random.Random(seed + 1)
        self.max_concurrency = max_concurrency
        self.retry_after = retry_after
        self.faults = list(faults)
        self.rng = random.Random(seed)
        self.hang_seconds = hang_seconds
        self.stats = _Stats()
        self.log: collections.deque[tuple[float, int, str]] = collections.deque(maxlen=100_000)
        self.lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            d = asdict(self.stats)
        d["by_status"] = dict(d["by_status"])
        return d

    def _count(self, status: int | str) -> None:
        with self.lock:
            k = str(status)
            self.stats.by_status[k] = self.stats.by_status.get(k, 0) + 1

    # --------------------------------------------------------------- connection loop

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        with self.lock:
            self.stats.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, _version = lines[0].split(" ", 2)
                except ValueError:
                    await self._send(writer, 400, {"error": {"message": "bad request line"}}, close=True)
                    return
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length") or 0)
                raw = await reader.readexactly(length) if length else b""
                keep = headers.get("connection", "").lower() != "close"
                with self.lock:
                    self.stats.requests += 1
                alive = await self._route(method, target.split("?", 1)[0], raw, writer)
                if not alive or not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return  # shutting down: end quietly (a cancelled handler task is logged as an error)
        finally:
            if task is not None:
                self._tasks.discard(task)
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the client may have gone already; the connection is over either way
                pass

    async def _send(self, writer: asyncio.StreamWriter, status: int, payload: Any, *,
                    extra: dict[str, str] | None = None, close: bool = False, raw: bytes | None = None,
                    declared_length: int | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload).encode()
        hdrs = {
            "Content-Type": "application/json",
            "Content-Length": str(declared_length if declared_length is not None else len(body)),
            "Connection": "close" if close else "keep-alive",
        }
        hdrs.update(extra or {})
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        self._count(status)

    async def _route(self, method: str, path: str, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        if path in ("/v1/models", "/models") and method == "GET":
            await self._send(writer, 200, {"object": "list", "data": [
                {"id": "archon-test", "object": "model", "created": 0, "owned_by": "archon"}]})
            return True
        if path == "/_archon/stats" and method == "GET":
            await self._send(writer, 200, self.snapshot())
            return True
        if path in ("/v1/chat/completions", "/chat/completions"):
            if method != "POST":
                await self._send(writer, 405, {"error": {"message": "use POST"}})
                return True
            return await self._chat(raw, writer)
        await self._send(writer, 404, {"error": {"message": f"no route {path}"}})
        return True

    # --------------------------------------------------------------- chat completions

    async def _chat(self, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        with self.lock:
            self.stats.chat_requests += 1
            n = self.stats.chat_requests
            over = self.max_concurrency is not None and self.stats.in_flight >= self.max_concurrency
            if over:
                self.stats.rejected_over_limit += 1
            else:
                self.stats.in_flight += 1
                self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            fault = None if over else next((f for f in self.faults if f.hits(n, self.rng)), None)
            if fault is not None:
                self.stats.faults[fault.kind] = self.stats.faults.get(fault.kind, 0) + 1
        now = time.monotonic()
        if over:
            self.log.append((now, n, "429-limit"))
            await self._send(writer, 429, {"error": {"message": "too many concurrent requests",
                                                     "type": "rate_limit_error"}},
                             extra={"Retry-After": f"{self.retry_after:g}"})
            return True
        self.log.append((now, n, fault.kind if fault else "ok"))
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                with self.lock:
                    self.stats.in_flight -= 1

        try:
            if fault is not None and fault.kind == "hang":
                try:
                    await asyncio.sleep(self.hang_seconds)
                finally:
                    release()
                self._count("hang")
                return False
            if self.latency:
                delay = self.latency
                if self.jitter:
                    delay *= 1 + self.jitter * (2 * self.latency_rng.random() - 1)
                await asyncio.sleep(delay)
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body is not an object")
            except ValueError as exc:
                release()
                await self._send(writer, 400, {"error": {"message": f"invalid JSON: {exc}"}})
                return True
            # free the slot before answering: a client that got its answer may send the next
            # request at once, and must not find its own finished request still counted
            release()
            if fault is not None:
                return await self._fault(fault, writer)
            if body.get("stream"):
                await self._send(writer, 400, {"error": {"message": "streaming is not supported"}})
                return True
            if not isinstance(body.get("messages"), list) or not body["messages"]:
                await self._send(writer, 400, {"error": {"message": "'messages' must be a non-empty list"}})
                return True
            await self._send(writer, 200, self._completion(body))
            return True
        finally:
            release()

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        n = max(1, int(body.get("n") or 1))
        texts = [_answer_text(body, i) for i in range(n)]
        prompt_tokens = sum(_words(str(m.get("content", ""))) for m in body["messages"] if isinstance(m, dict))
        completion_tokens = sum(_words(t) for t in texts)
        return {
            "id": "chatcmpl-" + _digest(body.get("messages"), body.get("seed"))[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or "archon-test",
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop",
                 "logprobs": None}
                for i, t in enumerate(texts)
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    async def _fault(self, fault: Fault, writer: asyncio.StreamWriter) -> bool:
        kind = fault.kind
        if kind in ("429", "503"):
            ra = fault.retry_after if fault.retry_after is not None else self.retry_after
            await self._send(writer, int(kind), {"error": {"message": f"injected {kind}"}},
                             extra={"Retry-After": f"{ra:g}"})
            return True
        if kind in ("500", "400"):
            await self._send(writer, int(kind), {"error": {"message": f"injected {kind}",
                                                           "type": "invalid_request_error" if kind == "400" else "server_error"}})
            return True
        if kind == "malformed":
            await self._send(writer, 200, None, raw=b'{"id": "chatcmpl-broken", "choices": [{"mess')
            return True
        if kind == "truncated":
            full = json.dumps({"id": "x", "object": "chat.completion", "choices": []}).encode()
            await self._send(writer, 200, None, raw=full[: len(full) // 2], declared_length=len(full), close=True)
            return False
        # "close": drop the connection without a word
        self._count("close")
        return False

    def cancel_all(self) -> None:
        for t in list(self._tasks):
            t.cancel()


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise UsageError(f"the test server only listens on loopback addresses, not {host!r}")


class TestServer:
    """The server in a background thread of this process; a context manager.

    ``url`` is the OpenAI base URL (``http://127.0.0.1:<port>/v1``); ``stats()`` a snapshot of
    counters; ``log`` the per-request ``(monotonic time, number, outcome)`` records.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 max_concurrency: int | None = None, retry_after: float = 1.0,
                 faults: Iterable[Fault | dict[str, Any]] = (), seed: int = 0,
                 hang_seconds: float = 3600.0, jitter: float = 0.0) -> None:
        _check_loopback(host)
        self.host = host
        self.port = port
        self._core = _Core(latency=latency, max_concurrency=max_concurrency, retry_after=retry_after,
                           faults=[f if isinstance(f, Fault) else Fault.from_dict(f) for f in faults],
                           seed=seed, hang_seconds=hang_seconds, jitter=jitter)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def log(self) -> list[tuple[float, int, str]]:
        return list(self._core.log)

    def stats(self) -> dict[str, Any]:
        return self._core.snapshot()

    def start(self) -> TestServer:
        if self._thread is not None:
            return self
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._core.handle, self.host, self.port, backlog=1024))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - e.g. port in use: handed to the starting thread, which raises it
                error.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                self._core.cancel_all()
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()

        self._thread = threading.Thread(target=run, name="archon-test-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if error:
            self._thread = None
            raise error[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        loop, server = self._loop, self._server

        async def shutdown() -> None:
            if server is not None:
                server.close()
            self._core.cancel_all()
            await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        except Exception:  # noqa: BLE001 - a shutdown that fails or times out still stops the loop below
            pass
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def spawn(**options: Any) -> ServerProcess:
        """The same server in a child process (see :class:`ServerProcess`)."""
        return ServerProcess(**options)


class ServerProcess:
    """The server in its own Python process, stopped by pid; a context manager.

    Same options as :class:`TestServer`. ``stats()`` asks the server over HTTP.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 max_concurrency: int | None = None, retry_after: float = 1.0,
                 faults: Iterable[Fault | dict[str, Any]] = (), seed: int = 0,
                 hang_seconds: float = 3600.0, jitter: float = 0.0, python: str | None = None) -> None:
        _check_loopback(host)
        self.host = host
        self.port = port
        args = [python or sys.executable, "-m", "archon.testing.server", "--host", host, "--port", str(port),
                "--latency", str(latency), "--retry-after", str(retry_after), "--seed", str(seed),
                "--hang-seconds", str(hang_seconds), "--jitter", str(jitter)]
        if max_concurrency is not None:
            args += ["--max-concurrency", str(max_concurrency)]
        fl = [asdict(f) if isinstance(f, Fault) else dict(f) for f in faults]
        if fl:
            args += ["--faults", json.dumps(fl)]
        self._args = args
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise StateError(f"test server did not start: {line.strip()} {err.strip()}")
        self.port = int(line.rsplit(":", 1)[1].split("/")[0])
        return self

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/_archon/stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for s in (self.proc.stdout, self.proc.stderr):
            if s is not None:
                s.close()
        self.proc = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m archon.testing.server",
                                description="Loopback OpenAI-compatible test server with latency, limits and faults.")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--jitter", type=float, default=0.0,
                   help="latency varies uniformly by this fraction either way (0.2: 0.8x-1.2x)")
    p.add_argument("--max-concurrency", type=int, default=None, help="requests in flight before 429")
    p.add_argument("--retry-after", type=float, default=1.0, help="Retry-After sent with 429/503 (s)")
    p.add_argument("--faults", default="[]", help='JSON list, e.g. \'[{"kind": "500", "rate": 0.1}]\'')
    p.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    p.add_argument("--hang-seconds", type=float, default=3600.0, help="how long a 'hang' fault holds a request")
    a = p.parse_args(argv)
    try:
        _check_loopback(a.host)
        faults = [Fault.from_dict(d) for d in json.loads(a.faults)]
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not 0 <= a.jitter < 1:
        print("error: --jitter must be in [0, 1)", file=sys.stderr)
        return 2
    core = _Core(latency=a.latency, max_concurrency=a.max_concurrency, retry_after=a.retry_after,
                 faults=faults, seed=a.seed, hang_seconds=a.hang_seconds, jitter=a.jitter)

    async def serve() -> None:
        server = await asyncio.start_server(core.handle, a.host, a.port, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        print(f"archon test server listening on http://{a.host}:{port}/v1", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()
        core.cancel_all()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
