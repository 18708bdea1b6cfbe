"""Every hosted provider, and any OpenAI-compatible server, through litellm.

``model`` is a litellm model id (``openai/gpt-4o-mini``, ``anthropic/...``); with ``api_base``,
``openai/<name>`` or ``hosted_vllm/<name>`` reach any OpenAI-compatible server (vLLM's
``api_server``, llama-cpp's server, archon's own test server).

The API key is read from ``os.environ[api_key_env]`` at each call and handed straight to litellm:
never stored on the backend, never put in an error message. litellm's own retries are switched
off (``max_retries=0``) because the client retries for every backend alike; this module only
sorts litellm's exceptions into retryable (429 with its Retry-After, 408, 5xx, connection
errors, timeouts, unreadable responses) and permanent (other 4xx).

Send gate (why calls of one model take turns building their requests): litellm spends a few ms
of CPU per call, in several steps with event-loop round trips (and a thread hop) between them.
When many answers arrive together -- a server with a steady latency answers a full batch at
once -- their successors' requests are built side by side, round-robin, so they all leave
together and come back together, wave after wave, each call waiting for the whole wave's CPU
work. The gate is a FIFO lock per backend, held from the start of a call until litellm's HTTP
transport starts sending it: requests leave one by one as each is ready, the answers come back
spread out, and the waves dissolve (measured: 75 % -> 90+ % of a 64-slot, 500 ms server's
capacity; docs/backends.md). It is released by a hook on litellm's aiohttp transport that acts
only for calls carrying this module's ticket, and it is used only after the hook has been seen
to fire for this backend, so a transport without the hook never serialises calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import os
import time
from typing import Any, Sequence

from archon.backends.records import CallRequest, CallResult, Usage
from archon.errors import BackendError, RetryableBackendError
from archon.util import import_optional

__all__ = ["LiteLLMBackend", "classify_exception", "parse_retry_after"]

#: Placeholder key for servers that need none (the openai SDK refuses an empty key).
_NO_KEY = "sk-no-key-required"


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # imported on first use, not with this module: litellm takes seconds and ~200 MB to import
    litellm: Any = import_optional("litellm", feature="the litellm backend", extra=None)
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


class _Ticket:
    """One call's hold on a send gate (``lock`` None: a probe that only notes the hook fired)."""

    __slots__ = ("lock", "released", "sent")

    def __init__(self, lock: asyncio.Lock | None) -> None:
        self.lock = lock
        self.released = lock is None
        self.sent = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            assert self.lock is not None
            self.lock.release()


_TICKET: contextvars.ContextVar[_Ticket | None] = contextvars.ContextVar("archon_send_gate", default=None)
_HOOKED = False


def _install_send_hook() -> bool:
    """Wrap litellm's aiohttp transport once so a call's ticket is released as its request leaves."""
    global _HOOKED
    if _HOOKED:
        return True
    try:  # lazy like litellm itself (seconds to import); called when the first call is made
        from litellm.llms.custom_httpx.aiohttp_transport import LiteLLMAiohttpTransport
    except Exception:  # noqa: BLE001 - another litellm layout (any import failure): no gate, calls simply do not take turns
        return False
    original = getattr(LiteLLMAiohttpTransport, "handle_async_request", None)
    if original is None or getattr(original, "_archon_send_hook", False):
        _HOOKED = original is not None
        return _HOOKED

    async def handle_async_request(self: Any, request: Any) -> Any:
        ticket = _TICKET.get()
        if ticket is not None:
            ticket.sent = True
            ticket.release()
        return await original(self, request)

    handle_async_request._archon_send_hook = True  # type: ignore[attr-defined]  # marks the hook as installed
    LiteLLMAiohttpTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]  # the hook wraps litellm's transport on purpose
    _HOOKED = True
    return True


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _headers_of(exc: BaseException) -> dict[str, str]:
    headers: dict[str, str] = {}
    response = getattr(exc, "response", None)
    h = getattr(response, "headers", None)
    if h is not None:
        try:
            headers.update({k.lower(): v for k, v in h.items()})
        except Exception:  # noqa: BLE001 - an odd headers object: read what Retry-After we can, never fail over it
            pass
    extra = getattr(exc, "headers", None) or getattr(exc, "litellm_response_headers", None)
    if extra is not None and (isinstance(extra, dict) or hasattr(extra, "items")):
        try:
            headers.update({str(k).lower(): str(v) for k, v in extra.items()})
        except Exception:  # noqa: BLE001 - as above: the headers are a hint, the error is reported anyway
            pass
    return headers


def _short(message: str, limit: int = 300) -> str:
    message = " ".join(str(message).split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def classify_exception(exc: BaseException, model: str) -> BackendError:
    """A litellm/openai exception as a retryable or permanent archon error."""
    litellm = _import_litellm()
    status = getattr(exc, "status_code", None)
    try:
        status = int(status) if status is not None else None
    except (TypeError, ValueError):
        status = None
    name = type(exc).__name__
    text = _short(f"{model}: {name}: {exc}")
    ex = litellm.exceptions
    if isinstance(exc, ex.RateLimitError) or status == 429:
        retry_after = parse_retry_after(_headers_of(exc).get("retry-after"))
        return RetryableBackendError(text, retry_after=retry_after, status=429)
    if isinstance(exc, (ex.Timeout, ex.APIConnectionError, ex.InternalServerError,
                        ex.ServiceUnavailableError, ex.BadGatewayError, ex.APIResponseValidationError)):
        return RetryableBackendError(text, status=status)
    if status is not None and (status >= 500 or status in (408, 409)):
        return RetryableBackendError(text, status=status)
    if isinstance(exc, ex.APIError) and status is None:
        return RetryableBackendError(text)
    if isinstance(exc, (ValueError, KeyError, TypeError)) and "json" in str(exc).lower():
        return RetryableBackendError(text)  # an unreadable body: the next answer may be fine
    return BackendError(text)


class LiteLLMBackend:
    """Calls one litellm model; one request per ``complete`` item, concurrently."""

    batching = False

    def __init__(self, spec: Any) -> None:
        self._litellm = _import_litellm()
        self.spec = spec
        self.model = spec.model
        self.api_base = spec.api_base
        self.api_key_env = spec.api_key_env
        self.timeout = float(spec.timeout)
        self.supports_structured_output = self._supports_schema()
        self._gate_hooked = _install_send_hook()
        self._gate_armed = False  # set once the hook has fired for one of this backend's calls
        self._gate: asyncio.Lock | None = None
        self._gate_loop: asyncio.AbstractEventLoop | None = None

    def _ticket(self) -> _Ticket | None:
        if not self._gate_hooked:
            return None
        if not self._gate_armed:
            return _Ticket(None)
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate_loop is not loop:  # a lock belongs to one event loop
            self._gate, self._gate_loop = asyncio.Lock(), loop
        return _Ticket(self._gate)

    def _supports_schema(self) -> bool:
        if self.model.startswith(("hosted_vllm/",)):
            return True  # vLLM's server does guided decoding for json_schema
        try:
            return bool(self._litellm.supports_response_schema(model=self.model))
        except Exception:  # noqa: BLE001 - litellm raises for models it does not know: ask for no schema
            return False

    def _api_key(self) -> str | None:
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise BackendError(
                    f"{self.model}: environment variable {self.api_key_env} is not set (it should hold the API key)"
                )
            return key
        return _NO_KEY if self.api_base else None

    def _response_format(self, rf: dict[str, Any] | None) -> dict[str, Any] | None:
        if rf is None:
            return None
        if rf.get("type") in ("json_object", "json_schema", "text"):
            return rf
        # a bare JSON schema: wrap it in the OpenAI json_schema envelope
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": rf, "strict": False}}

    async def _one(self, req: CallRequest) -> CallResult:
        kwargs: dict[str, Any] = dict(
            model=self.model,
            messages=req.message_dicts(),
            temperature=req.temperature,
            top_p=req.top_p,
            max_tokens=req.max_tokens,
            timeout=self.timeout,
            max_retries=0,
            num_retries=0,
        )
        if req.stop:
            kwargs["stop"] = list(req.stop)
        if req.seed is not None:
            kwargs["seed"] = req.seed
        if self.api_base:
            kwargs["api_base"] = self.api_base
        key = self._api_key()
        if key is not None:
            kwargs["api_key"] = key
        rf = self._response_format(req.response_format) if self.supports_structured_output else None
        if rf is not None:
            kwargs["response_format"] = rf
        ticket = self._ticket()
        if ticket is not None and ticket.lock is not None:
            await ticket.lock.acquire()
        t0 = time.perf_counter()
        token = _TICKET.set(ticket)
        try:
            resp = await self._litellm.acompletion(**kwargs)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - litellm's many exception types are sorted by classify_exception
            raise classify_exception(exc, self.model) from None
        finally:
            _TICKET.reset(token)
            if ticket is not None:
                ticket.release()  # a call that failed before sending
                if ticket.sent:
                    self._gate_armed = True
        latency = time.perf_counter() - t0
        try:
            choice = resp.choices[0]
            text = choice.message.content
            finish = getattr(choice, "finish_reason", None)
            usage = getattr(resp, "usage", None)
            pt = int(getattr(usage, "prompt_tokens", 0) or 0)
            ct = int(getattr(usage, "completion_tokens", 0) or 0)
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise RetryableBackendError(f"{self.model}: malformed response ({type(exc).__name__})") from None
        if text is None:
            raise RetryableBackendError(f"{self.model}: response without message content")
        return CallResult(
            text=str(text),
            usage=Usage(prompt_tokens=pt, completion_tokens=ct),
            latency=latency,
            finish_reason=finish,
        )

    async def complete(self, requests: Sequence[CallRequest]) -> list[CallResult]:
        # the client sends one request per call for non-batching backends; a longer batch is
        # served one after another so a failure maps to exactly the requests it hit
        return [await self._one(r) for r in requests]

    async def aclose(self) -> None:
        # litellm runs a process-wide logging task on the loop that made the first call; if that
        # loop closes with the task pending, asyncio reports "Task was destroyed but it is pending".
        # Stop it here while its loop is still running (it restarts on the next call's loop).
        try:
            from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
        except ImportError:
            return
        if getattr(GLOBAL_LOGGING_WORKER, "_bound_loop", None) is asyncio.get_running_loop():
            try:
                await GLOBAL_LOGGING_WORKER.stop(timeout=5)
            except Exception:  # best effort: closing must never fail a finished run
                pass
