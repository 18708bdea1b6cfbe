"""One replica's HTTP handling (archon.serve.endpoint) through starlette's test client, on a
fake backend: routes, auth, body limits, errors in OpenAI's shape, failures mapped to statuses,
and a request that breaks the handler never breaking the next one. Ray is not involved here;
tests/serve/test_serve_ray.py runs the same endpoint in Ray Serve replicas."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from archon.serve.endpoint import Endpoint, EndpointConfig, key_digest
from archon.graph import validate_pipeline
from archon.spec import load_spec_text
from archon.testing import FakeBackend
from archon.testing import Failure

PIPE = """\
name: demo
models:
  m: {kind: fake, model: endpoint-test}
pipeline:
  - {type: generate, model: m, samples: 3, max_tokens: 16}
  - {type: vote}
"""
KEY = "test-key-123"


def client(*, key: str | None = None, backend: FakeBackend | None = None, spec: str = PIPE, max_body: int = 4096):
    config = EndpointConfig(spec=validate_pipeline(load_spec_text(spec, "pipe.yaml")), name="demo", fingerprint="archon-test",
                            api_key_sha256=key_digest(key) if key else None, max_body_bytes=max_body, cache=False)
    endpoint = Endpoint(config, fake=backend or FakeBackend())

    async def app(scope, receive, send):
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)

    return TestClient(app), endpoint


def ask(query: str = "What is the capital of Peru?", **extra) -> dict:
    return {"model": "demo", "messages": [{"role": "user", "content": query}], **extra}


def assert_openai_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code
    return error


def test_a_chat_completion_reports_the_answer_usage_and_cost() -> None:
    backend = FakeBackend()
    http, _ = client(backend=backend)
    response = http.post("/v1/chat/completions", json=ask(temperature=0.1, max_tokens=5))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "demo" and body["system_fingerprint"] == "archon-test"
    assert body["choices"][0]["message"]["role"] == "assistant" and body["choices"][0]["message"]["content"]
    cost = body["archon"]["cost"]
    assert body["usage"]["calls"] == cost["calls"] == backend.call_count == 3
    assert body["usage"]["prompt_tokens"] == cost["prompt_tokens"] > 0
    assert body["usage"]["total_tokens"] == cost["prompt_tokens"] + cost["completion_tokens"]
    assert body["archon"]["status"] == "ok" and body["archon"]["batch_size"] == 1
    assert "candidates" not in body["archon"]
    assert response.headers["x-archon-ignored"] == "temperature,max_tokens"
    # the sampling parameters really were not used: each call has the node's own settings
    assert {c.max_tokens for c in backend.calls} == {16}


def test_trace_on_request() -> None:
    http, _ = client()
    body = http.post("/v1/chat/completions", json=ask(archon={"trace": True})).json()
    candidates = body["archon"]["candidates"]
    assert {c["node"] for c in candidates} == {"generate1", "vote1"}
    assert list(body["archon"]["trace"]["nodes"]) == ["generate1", "vote1"]


def test_stream_sends_the_same_answer_as_events() -> None:
    http, _ = client()
    plain = http.post("/v1/chat/completions", json=ask()).json()
    response = http.post("/v1/chat/completions", json=ask(stream=True, stream_options={"include_usage": True}))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [line[len("data: "):] for line in response.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"] == plain["usage"]


def test_models_and_health() -> None:
    http, _ = client()
    models = http.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["demo"] and models["object"] == "list"
    assert http.get("/v1/models/demo").json()["id"] == "demo"
    assert_openai_error(http.get("/v1/models/other"), 404, "model_not_found")
    assert http.get("/health").json() == {"status": "ok"}


def test_bearer_auth() -> None:
    http, _ = client(key=KEY)
    missing = http.post("/v1/chat/completions", json=ask())
    assert_openai_error(missing, 401, "invalid_api_key")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_openai_error(http.post("/v1/chat/completions", json=ask(), headers={"Authorization": "Bearer wrong"}), 401)
    assert_openai_error(http.get("/v1/models", headers={"Authorization": f"Basic {KEY}"}), 401)
    assert_openai_error(http.get("/v1/models"), 401)
    ok = http.post("/v1/chat/completions", json=ask(), headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200
    assert http.get("/health").status_code == 200  # load balancers probe without a key
    assert KEY not in ok.text and KEY not in missing.text


@pytest.mark.parametrize(("send", "status", "code"), [
    (dict(content=b'{"messages": [{"role": "user", "content": "x"}'), 400, "invalid_json"),
    (dict(content=b"not json at all"), 400, "invalid_json"),
    (dict(content=b"\xc3\x28"), 400, "invalid_json"),
    (dict(json={"model": "demo"}), 400, "missing_required_parameter"),
    (dict(json=ask(tools=[{"type": "function", "function": {"name": "f"}}])), 400, "unsupported_parameter"),
    (dict(json=ask(frobnicate=True)), 400, "unknown_parameter"),
    (dict(json={"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]}), 404, "model_not_found"),
    (dict(content=b'{"messages": "' + b"x" * 5000 + b'"}'), 400, "request_too_large"),
])
def test_bad_requests_get_openai_errors_and_the_endpoint_goes_on(send: dict, status: int, code: str) -> None:
    http, _ = client()
    assert_openai_error(http.post("/v1/chat/completions", **send), status, code)
    assert http.post("/v1/chat/completions", json=ask()).status_code == 200


def test_an_oversize_body_without_a_length_is_cut_off() -> None:
    http, _ = client(max_body=1000)

    def chunks():
        for _ in range(100):
            yield b"x" * 100

    assert_openai_error(http.post("/v1/chat/completions", content=chunks()), 400, "request_too_large")


def test_wrong_method_and_unknown_route() -> None:
    http, _ = client()
    assert_openai_error(http.get("/v1/chat/completions"), 405, "method_not_allowed")
    assert_openai_error(http.post("/v1/models"), 405, "method_not_allowed")
    assert_openai_error(http.post("/v1/completions", json={}), 404, "not_found")


def test_a_model_call_that_fails_for_good_is_a_502_with_the_cost() -> None:
    backend = FakeBackend(failures=[Failure(kind="permanent", times=None, message="the model is down")])
    http, _ = client(backend=backend)
    response = http.post("/v1/chat/completions", json=ask())
    error = assert_openai_error(response, 502, "model_call_failed")
    assert "the model is down" in error["message"]
    assert response.json()["archon"]["status"] == "call_failed"


def test_over_the_per_query_budget_is_a_400() -> None:
    http, _ = client(spec=PIPE.replace("pipeline:", "budget: {per_query: {input_tokens: 1}}\npipeline:"))
    error = assert_openai_error(http.post("/v1/chat/completions", json=ask()), 400, "over_budget")
    assert "per-query limit" in error["message"]


def test_a_crash_inside_the_pipeline_is_a_500_without_a_traceback(monkeypatch) -> None:
    http, endpoint = client()
    original = endpoint.pipeline.arun_batch

    async def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(endpoint.pipeline, "arun_batch", broken)
    response = http.post("/v1/chat/completions", json=ask())
    assert_openai_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    monkeypatch.setattr(endpoint.pipeline, "arun_batch", original)
    assert http.post("/v1/chat/completions", json=ask()).status_code == 200
