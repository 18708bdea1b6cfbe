"""The OpenAI chat-completions protocol as a served pipeline speaks it: reading a request body
into one query, and writing answers, stream chunks and errors in OpenAI's shapes.

Pure functions and plain data (no Ray, no HTTP framework), so every rule here is tested without
a server. What a request may hold:

- ``messages`` (required): the last one is the user's query (a string, or a list of text parts).
  System and developer messages are accepted and not used (the pipeline's nodes have their own
  system prompts); earlier user/assistant turns are refused, because a pipeline answers one
  query and silently dropping a conversation's context would give wrong answers.
- ``model``: the served name (another name is a 404, as OpenAI answers an unknown model).
- ``stream`` and ``stream_options.include_usage``: the answer as server-sent events.
- ``n``: 1 only; ``response_format``: text only; ``logprobs``: false only.
- Sampling parameters (``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``...) are
  accepted and not used: each node of the pipeline carries the settings the search chose. The
  response names them in the ``X-Archon-Ignored`` header.
- ``archon`` (an extension): ``{"trace": true}`` adds every candidate and the per-node trace to
  the response's ``archon`` field.
- Anything else (tools, functions, audio, unknown keys) is a 400 naming the parameter.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from archon.errors import InputError

__all__ = [
    "BadRequest",
    "ChatRequest",
    "IGNORED_PARAMETERS",
    "chunk_events",
    "completion_body",
    "error_body",
    "models_body",
    "parse_body",
    "parse_chat_request",
]

#: Accepted and not used: the pipeline's nodes carry their own sampling settings.
IGNORED_PARAMETERS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop", "presence_penalty",
    "frequency_penalty", "logit_bias", "user", "metadata", "store", "service_tier", "parallel_tool_calls",
    "reasoning_effort", "prompt_cache_key", "safety_identifier", "top_k", "min_p", "repetition_penalty",
})

#: Parameters that change what an answer is, which a pipeline cannot honour.
_UNSUPPORTED = {
    "tools": "tool calls", "tool_choice": "tool calls", "functions": "function calls",
    "function_call": "function calls", "audio": "audio output", "prediction": "predicted outputs",
    "web_search_options": "web search", "top_logprobs": "log probabilities", "logprobs": "log probabilities",
    "modalities": "output modalities other than text", "response_format": "structured output",
    "n": "more than one choice", "guided_json": "structured output", "guided_regex": "structured output",
    "guided_choice": "structured output", "echo": "echoing the prompt", "suffix": "suffixes",
}

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class BadRequest(InputError):
    """A request the endpoint refuses: rendered as OpenAI's error object with ``status``."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None, status: int = 400,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status
        self.kind = kind

    def body(self) -> dict[str, Any]:
        return error_body(self.message, kind=self.kind, param=self.param, code=self.code)


@dataclass(frozen=True)
class ChatRequest:
    """One request, read: the query and how to answer it."""

    query: str
    model: str | None = None
    stream: bool = False
    include_usage: bool = False
    trace: bool = False
    ignored: tuple[str, ...] = field(default=())


def error_body(message: str, *, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def parse_body(raw: bytes) -> Any:
    """The JSON value of a request body; a :class:`BadRequest` saying where it is broken."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the request body is not UTF-8 text (byte {exc.start})", code="invalid_json") from None
    if not text.strip():
        raise BadRequest("the request body is empty; send a JSON object with 'messages'", code="invalid_json")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", code="invalid_json") from None
    except RecursionError:
        raise BadRequest("invalid JSON: nested too deeply", code="invalid_json") from None


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise BadRequest(f"{where}[{i}] must be an object with a 'type'", param=f"{where}[{i}]")
            if part["type"] != "text":
                raise BadRequest(f"{where}[{i}] is of type {part['type']!r}; this pipeline reads text only",
                                 param=f"{where}[{i}].type", code="unsupported_content")
            if not isinstance(part.get("text"), str):
                raise BadRequest(f"{where}[{i}].text must be a string", param=f"{where}[{i}].text")
            parts.append(part["text"])
        return "\n".join(parts)
    raise BadRequest(f"{where} must be a string or a list of text parts, got {_kind(content)}", param=where)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _query(messages: Any) -> tuple[str, list[str]]:
    """The query (the last message, a user's) and the names of the messages not used."""
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list of messages", param="messages")
    unused: list[str] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise BadRequest(f"{where} must be an object with 'role' and 'content', got {_kind(message)}", param=where)
        role = message.get("role")
        if role not in _ROLES:
            raise BadRequest(f"{where}.role must be one of {', '.join(_ROLES)}, got {json.dumps(role)}", param=f"{where}.role")
        if i < len(messages) - 1:
            if role not in ("system", "developer"):
                raise BadRequest(f"{where} is a {role} turn: this endpoint answers one query per request (a pipeline "
                                 "is not a chat model); send the question as the only user message",
                                 param=where, code="unsupported_conversation")
            _content_text(message.get("content"), f"{where}.content")
            unused.append(where)
    last = messages[-1]
    if last.get("role") != "user":
        raise BadRequest(f"the last message must be the user's query, got a {last.get('role')} message",
                         param=f"messages[{len(messages) - 1}].role")
    if "content" not in last:
        raise BadRequest(f"messages[{len(messages) - 1}] has no 'content'", param=f"messages[{len(messages) - 1}].content")
    query = _content_text(last["content"], f"messages[{len(messages) - 1}].content")
    if not query.strip():
        raise BadRequest("the query (the last user message) is empty", param=f"messages[{len(messages) - 1}].content")
    return query, unused


def _unsupported(name: str, value: Any) -> bool:
    """Whether ``name: value`` asks for something a pipeline cannot do (defaults are fine)."""
    if value is None:
        return False
    if name == "n":
        return value != 1
    if name in ("logprobs", "echo"):
        return value is not False
    if name == "modalities":
        return value != ["text"]
    if name == "response_format":
        return not (isinstance(value, dict) and value.get("type") == "text")
    if name in ("tools", "functions"):
        return value != []
    if name in ("tool_choice", "function_call"):
        return value != "none"
    return True


def parse_chat_request(body: Any, *, served_model: str) -> ChatRequest:
    """Read a ``/v1/chat/completions`` body; raises :class:`BadRequest` for what it refuses."""
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, got {_kind(body)}")
    if "messages" not in body:
        raise BadRequest("missing required parameter: 'messages'", param="messages", code="missing_required_parameter")
    ignored = []
    for name, value in body.items():
        if name in ("messages", "model", "stream", "stream_options", "archon"):
            continue
        if name in IGNORED_PARAMETERS:
            if value is not None:
                ignored.append(name)
            continue
        if name in _UNSUPPORTED:
            if _unsupported(name, value):
                raise BadRequest(f"'{name}' is not supported: a pipeline does not do {_UNSUPPORTED[name]}",
                                 param=name, code="unsupported_parameter")
            continue
        raise BadRequest(f"unrecognized request argument: {name!r}", param=name, code="unknown_parameter")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest(f"'model' must be a string, got {_kind(model)}", param="model")
    if model not in (None, "", served_model):
        raise BadRequest(f"the model {model!r} does not exist here; this endpoint serves {served_model!r}",
                         param="model", code="model_not_found", status=404)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise BadRequest(f"'stream' must be true or false, got {_kind(stream)}", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict) or not set(options) <= {"include_usage", "include_obfuscation"}:
        raise BadRequest("'stream_options' may only hold include_usage", param="stream_options")
    include_usage = options.get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise BadRequest("'stream_options.include_usage' must be true or false", param="stream_options.include_usage")
    extension = body.get("archon") or {}
    if not isinstance(extension, dict) or not set(extension) <= {"trace"} or not isinstance(extension.get("trace", False), bool):
        raise BadRequest("'archon' may only hold trace: true or false", param="archon")
    query, unused = _query(body["messages"])
    return ChatRequest(query=query, model=model or None, stream=stream, include_usage=stream and include_usage,
                       trace=bool(extension.get("trace", False)), ignored=tuple(ignored + unused))


# ----------------------------------------------------------------------------- responses


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_of(cost: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's ``usage`` from a query's cost: the tokens its model calls spent (cache hits cost
    nothing and are counted apart), plus how many calls the pipeline made."""
    prompt, completion = int(cost.get("prompt_tokens", 0)), int(cost.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "calls": int(cost.get("calls", 0)), "cached_calls": int(cost.get("cached_calls", 0))}


def completion_body(*, answer: str, model: str, usage: dict[str, Any], archon: dict[str, Any] | None,
                    fingerprint: str, completion_id: str | None = None, created: int | None = None) -> dict[str, Any]:
    """A ``chat.completion`` object with one choice."""
    body: dict[str, Any] = {
        "id": completion_id or new_id(),
        "object": "chat.completion",
        "created": int(created if created is not None else time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "logprobs": None,
                     "finish_reason": "stop"}],
        "usage": usage,
    }
    if archon is not None:
        body["archon"] = archon
    return body


def chunk_events(body: dict[str, Any], *, include_usage: bool) -> Iterator[str]:
    """A finished completion as server-sent events: the role, the whole answer, the stop, the
    usage when asked for, and ``[DONE]``. (A pipeline's answer exists only once its last node
    ran, so it arrives as one content chunk.)"""
    head = {k: body[k] for k in ("id", "created", "model", "system_fingerprint")}
    head["object"] = "chat.completion.chunk"
    content = body["choices"][0]["message"]["content"]

    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        return "data: " + json.dumps({**head, "choices": choices, **extra}, ensure_ascii=False) + "\n\n"

    yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}])
    yield event([{"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": None}])
    last: dict[str, Any] = {}
    if "archon" in body:
        last["archon"] = body["archon"]
    yield event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}], **last)
    if include_usage:
        yield event([], usage=body["usage"])
    yield "data: [DONE]\n\n"


def models_body(name: str, created: int) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "archon"}]}
