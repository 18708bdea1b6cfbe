"""One replica's HTTP handling: routes, bearer auth, body limits, and a pipeline answering.

:class:`Endpoint` is a plain starlette request handler around a loaded pipeline; it knows
nothing of Ray. How queries reach the pipeline is given to it (``run``): in a Ray Serve replica,
Serve's request batching gathers the queries of concurrent requests into one list, and the
executor runs that list node by node (archon.serve.deployment); in tests without Ray, one
query at a time. Every failure becomes an HTTP error in OpenAI's shape: a request can never
take the replica down, and no traceback ever reaches a client (they go to the replica's log).

Routes: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /v1/models/{name}``, and
``GET /health`` (no auth, for load balancers).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from archon.pipeline_file import load_pipeline
from archon.serve.protocol import (
    BadRequest,
    chunk_events,
    completion_body,
    error_body,
    models_body,
    parse_body,
    parse_chat_request,
    usage_of,
)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "Endpoint", "EndpointConfig", "Job", "key_digest"]

logger = logging.getLogger("archon.serve")

DEFAULT_MAX_BODY_BYTES = 1 << 20

#: HTTP status and error code for each way a query can end without an answer.
_FAILED = {
    "call_failed": (502, "server_error", "model_call_failed"),  # a model call failed after its retries
    "over_budget": (400, "invalid_request_error", "over_budget"),  # the spec's per-query budget
    "failed": (500, "server_error", "pipeline_failed"),
}


def key_digest(key: str) -> str:
    """What a replica keeps of the API key: its SHA-256, so the key itself never travels to Ray
    (deployment arguments are stored by Serve's controller)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EndpointConfig:
    """Everything a replica needs, as data: ``spec`` is self-contained (archon.benchmarks.export),
    so no file on the machine that started the server is read where the replica runs."""

    spec: Any
    name: str
    fingerprint: str
    api_key_sha256: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    cache: str | bool | None = None


@dataclass(frozen=True)
class Job:
    """One request's query, as it waits to join a batch."""

    query: str
    trace: bool = False


#: ``run(job) -> (result record, size of the batch it ran in)``
Runner = Callable[[Job], Awaitable[tuple[dict[str, Any], int]]]


class Endpoint:
    """Answers HTTP requests with a pipeline. ``fake`` serves every model with a fake (tests)."""

    def __init__(self, config: EndpointConfig, *, run: Runner | None = None, fake: Any = None) -> None:
        self.config = config
        self.pipeline = load_pipeline(config.spec, cache=config.cache, fake=fake)
        self.created = int(time.time())
        self.run: Runner = run or self._run_alone

    async def answer_batch(self, jobs: list[Job]) -> list[tuple[dict[str, Any], int]]:
        """Run the queries of ``jobs`` through the pipeline together (node by node)."""
        results = await self.pipeline.arun_batch([job.query for job in jobs], trace=any(job.trace for job in jobs))
        return [(result.to_dict(trace=job.trace), len(jobs)) for job, result in zip(jobs, results)]

    async def _run_alone(self, job: Job) -> tuple[dict[str, Any], int]:
        return (await self.answer_batch([job]))[0]

    async def aclose(self) -> None:
        await self.pipeline.aclose()

    # ------------------------------------------------------------------ HTTP

    async def __call__(self, request: Request) -> Response:
        try:
            return await self._route(request)
        except BadRequest as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        except Exception:  # noqa: BLE001 - the replica must outlive any request; the traceback goes to its log only
            logger.exception("archon serve: unexpected error answering %s %s", request.method, request.url.path)
            return JSONResponse(error_body("internal error while answering (details are in the server's log)",
                                           kind="server_error", code="internal_error"), status_code=500)

    async def _route(self, request: Request) -> Response:
        path = request.url.path.rstrip("/") or "/"
        method = request.method
        if path == "/health":
            _allow(method, "GET")
            return JSONResponse({"status": "ok"})
        if path == "/v1/models" or path.startswith("/v1/models/"):
            self._authorize(request)
            _allow(method, "GET")
            if path == "/v1/models":
                return JSONResponse(models_body(self.config.name, self.created))
            wanted = path[len("/v1/models/"):]
            if wanted != self.config.name:
                raise BadRequest(f"the model {wanted!r} does not exist here; this endpoint serves {self.config.name!r}",
                                 param="model", code="model_not_found", status=404)
            return JSONResponse(models_body(self.config.name, self.created)["data"][0])
        if path == "/v1/chat/completions":
            self._authorize(request)
            _allow(method, "POST")
            return await self._chat(request)
        raise BadRequest(f"no route {method} {request.url.path} (this server answers POST /v1/chat/completions, "
                         "GET /v1/models and GET /health)", code="not_found", status=404)

    def _authorize(self, request: Request) -> None:
        expected = self.config.api_key_sha256
        if expected is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BadRequest("missing API key: send 'Authorization: Bearer <key>'", code="invalid_api_key", status=401)
        if not hmac.compare_digest(key_digest(token.strip()), expected):
            raise BadRequest("invalid API key", code="invalid_api_key", status=401)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        too_large = BadRequest(f"the request body is larger than {limit} bytes", code="request_too_large")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    async def _chat(self, request: Request) -> Response:
        chat = parse_chat_request(parse_body(await self._read_body(request)), served_model=self.config.name)
        record, batch_size = await self.run(Job(chat.query, chat.trace))
        extension = {"status": record["status"], "cost": record["cost"], "batch_size": batch_size,
                     "parse_failures": record["parse_failures"]}
        if chat.trace:
            extension["candidates"] = record.get("candidates", [])
            extension["trace"] = record.get("trace")
        headers = {"X-Archon-Ignored": ",".join(chat.ignored)} if chat.ignored else {}
        if record["status"] != "ok":
            status, kind, code = _FAILED.get(record["status"], _FAILED["failed"])
            body = error_body(f"the pipeline did not answer: {record['error']}", kind=kind, code=code)
            return JSONResponse({**body, "archon": extension}, status_code=status, headers=headers)
        body = completion_body(answer=record["answer"] or "", model=self.config.name, usage=usage_of(record["cost"]),
                               archon=extension, fingerprint=self.config.fingerprint)
        if chat.stream:
            return StreamingResponse(chunk_events(body, include_usage=chat.include_usage), media_type="text/event-stream",
                                     headers={**headers, "Cache-Control": "no-cache"})
        return JSONResponse(body, headers=headers)


def _allow(method: str, allowed: str) -> None:
    if method != allowed:
        raise BadRequest(f"method {method} is not allowed here (use {allowed})", code="method_not_allowed", status=405)

