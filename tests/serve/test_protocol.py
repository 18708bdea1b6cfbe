"""Reading OpenAI chat-completion requests and writing responses (archon.serve.protocol): pure
functions, no server."""

from __future__ import annotations

import json

import pytest

from archon.serve.protocol import BadRequest, chunk_events, completion_body, parse_body, parse_chat_request, usage_of

NAME = "capitals"


def read(body: dict) -> object:
    return parse_chat_request(body, served_model=NAME)


def refused(body: object) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse_chat_request(body, served_model=NAME)
    return info.value


def test_the_last_user_message_is_the_query() -> None:
    chat = read({"model": NAME, "messages": [{"role": "user", "content": "What is the capital of Peru?"}]})
    assert chat.query == "What is the capital of Peru?"
    assert (chat.stream, chat.trace, chat.ignored) == (False, False, ())


def test_text_parts_are_joined_and_system_messages_are_reported_unused() -> None:
    chat = read({"messages": [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": [{"type": "text", "text": "Capital"}, {"type": "text", "text": "of Peru?"}]}],
                 "temperature": 0.3, "max_tokens": 20, "seed": None})
    assert chat.query == "Capital\nof Peru?"
    # seed: null is a default, not a request; the others are named so the client knows
    assert chat.ignored == ("temperature", "max_tokens", "messages[0]")


def test_stream_usage_and_trace_options() -> None:
    chat = read({"messages": [{"role": "user", "content": "q"}], "stream": True,
                 "stream_options": {"include_usage": True}, "archon": {"trace": True}})
    assert chat.stream and chat.include_usage and chat.trace
    assert not read({"messages": [{"role": "user", "content": "q"}], "stream_options": {"include_usage": True}}).include_usage


def test_defaults_of_unsupported_features_are_accepted() -> None:
    chat = read({"messages": [{"role": "user", "content": "q"}], "n": 1, "tools": [], "tool_choice": "none",
                 "logprobs": False, "response_format": {"type": "text"}, "modalities": ["text"]})
    assert chat.query == "q"


@pytest.mark.parametrize(("body", "param", "code", "words"), [
    ([], None, None, "must be a JSON object"),
    ({}, "messages", "missing_required_parameter", "missing required parameter"),
    ({"messages": []}, "messages", None, "non-empty list"),
    ({"messages": "hi"}, "messages", None, "non-empty list"),
    ({"messages": [{"role": "user"}]}, "messages[0].content", None, "has no 'content'"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", None, "must be one of"),
    ({"messages": [{"role": "assistant", "content": "x"}]}, "messages[0].role", None, "must be the user's query"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]},
     "messages[0]", "unsupported_conversation", "one query per request"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content[0].type", "unsupported_content", "text only"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", None, "a string or a list of text parts"),
    ({"messages": [{"role": "user", "content": "  "}]}, "messages[0].content", None, "empty"),
    ({"messages": [{"role": "user", "content": "q"}], "tools": [{"type": "function"}]}, "tools", "unsupported_parameter", "tool calls"),
    ({"messages": [{"role": "user", "content": "q"}], "n": 3}, "n", "unsupported_parameter", "more than one choice"),
    ({"messages": [{"role": "user", "content": "q"}], "response_format": {"type": "json_object"}}, "response_format",
     "unsupported_parameter", "structured output"),
    ({"messages": [{"role": "user", "content": "q"}], "logprobs": True}, "logprobs", "unsupported_parameter", "log probabilities"),
    ({"messages": [{"role": "user", "content": "q"}], "temprature": 0.2}, "temprature", "unknown_parameter", "unrecognized"),
    ({"messages": [{"role": "user", "content": "q"}], "stream": "yes"}, "stream", None, "true or false"),
    ({"messages": [{"role": "user", "content": "q"}], "stream_options": {"foo": 1}}, "stream_options", None, "include_usage"),
    ({"messages": [{"role": "user", "content": "q"}], "archon": {"trace": "yes"}}, "archon", None, "trace"),
    ({"messages": [{"role": "user", "content": "q"}], "model": 7}, "model", None, "must be a string"),
])
def test_bad_requests_are_refused_naming_the_parameter(body: object, param: str | None, code: str | None, words: str) -> None:
    exc = refused(body)
    assert exc.status == 400 and exc.param == param and exc.code == code
    assert words in exc.message
    error = exc.body()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"


def test_an_unknown_model_is_a_404() -> None:
    exc = refused({"model": "gpt-4o", "messages": [{"role": "user", "content": "q"}]})
    assert (exc.status, exc.code, exc.param) == (404, "model_not_found", "model")
    assert "'capitals'" in exc.message


@pytest.mark.parametrize(("raw", "words"), [
    (b"", "empty"),
    (b'{"messages": [', "invalid JSON at line 1 column 15"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[" * 100_000, "invalid JSON"),
])
def test_bodies_that_are_not_json(raw: bytes, words: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_body(raw)
    assert words in info.value.message and info.value.code == "invalid_json"


def test_usage_counts_spent_tokens_and_calls() -> None:
    usage = usage_of({"prompt_tokens": 30, "completion_tokens": 12, "calls": 4, "cached_calls": 2, "saved_tokens": 99})
    assert usage == {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42, "calls": 4, "cached_calls": 2}


def test_a_completion_streams_as_role_content_stop_usage_done() -> None:
    body = completion_body(answer="Lima", model=NAME, usage=usage_of({"prompt_tokens": 5, "completion_tokens": 1}),
                           archon={"status": "ok"}, fingerprint="archon-x")
    assert body["object"] == "chat.completion" and body["choices"][0]["message"] == {"role": "assistant", "content": "Lima"}
    events = list(chunk_events(body, include_usage=True))
    assert events[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert all(c["id"] == body["id"] and c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Lima"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[2]["choices"][0]["finish_reason"] == "stop" and chunks[2]["archon"] == {"status": "ok"}
    assert chunks[3]["choices"] == [] and chunks[3]["usage"]["total_tokens"] == 6
    assert len(list(chunk_events(body, include_usage=False))) == 4
