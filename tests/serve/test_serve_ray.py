"""A pipeline served by Ray Serve for real (private runtime on 127.0.0.1), its model the loopback
test server (real HTTP): concurrent requests batched into one executor batch, the official
openai SDK as the client, bad requests that leave the replica serving, every listener on
loopback, and nothing left running after stop."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from serve_kit import descendants, free_port, listeners, on_loopback, wait_gone

pytestmark = [pytest.mark.ray, pytest.mark.slow]

KEY = "serve-test-key"
PIPE = """\
name: words
models:
  m: {{kind: litellm, model: openai/loopback, api_base: "{url}", concurrency: 64}}
pipeline:
  - {{type: generate, model: m, samples: 2, max_tokens: 16}}
  - {{type: fuse, model: m, max_tokens: 16}}
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from archon.serve import Batching, serve_pipeline
    from archon.testing.server import TestServer

    model = TestServer(latency=0.3).start()
    spec = Path(tmp_path_factory.mktemp("serve")) / "words.yaml"
    spec.write_text(PIPE.format(url=model.url))
    before = descendants()
    server = serve_pipeline(spec, port=free_port(), api_key=KEY, dashboard=False, cache=False,
                            batching=Batching(max_batch_size=16, wait_s=0.1, max_concurrent=2))
    started = descendants() - before
    try:
        yield server, model, started
    finally:
        server.stop()
        model.stop()
        assert not wait_gone(started), "processes of the served pipeline still run after stop()"


def chat(server, query: str, **extra) -> httpx.Response:
    return httpx.post(f"{server.url}/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
                      json={"model": "words", "messages": [{"role": "user", "content": query}], **extra})


def test_concurrent_requests_run_as_one_batch(served) -> None:
    server, model, _ = served
    barrier = threading.Barrier(8)
    responses: list[httpx.Response] = [None] * 8  # type: ignore[list-item]

    def user(i: int) -> None:
        barrier.wait()
        responses[i] = chat(server, f"Which word goes with number {i}?")

    threads = [threading.Thread(target=user, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    sizes = [r.json()["archon"]["batch_size"] for r in responses]
    assert max(sizes) > 1, sizes
    # the batch went through the pipeline node by node: its generate calls reached the model together
    assert model.stats()["max_in_flight"] >= 2 * max(sizes)
    for r in responses:
        body = r.json()
        assert body["usage"]["calls"] == 3 and body["usage"]["prompt_tokens"] > 0


def test_the_openai_sdk_talks_to_it(served) -> None:
    import openai

    server, _, _ = served
    client = openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == ["words"]
    reply = client.chat.completions.create(model="words", messages=[{"role": "user", "content": "Name a colour."}])
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert reply.usage.model_extra["calls"] == 3
    stream = client.chat.completions.create(model="words", messages=[{"role": "user", "content": "Name a colour."}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply.choices[0].message.content
    assert chunks[-1].usage.total_tokens == reply.usage.total_tokens
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url, api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="words", messages=[{"role": "user", "content": "x"}],
                                       tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert info.value.body["code"] == "unsupported_parameter"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])


def test_bad_requests_get_400s_and_the_replica_keeps_serving(served) -> None:
    server, _, _ = served
    auth = {"Authorization": f"Bearer {KEY}"}
    url = f"{server.url}/chat/completions"
    cases = [
        httpx.post(url, headers=auth, content=b'{"messages": [{"role": "user", "content": "x"'),
        httpx.post(url, headers=auth, json={"model": "words"}),
        httpx.post(url, headers=auth, json={"model": "words", "messages": [{"role": "user", "content": "x"}], "n": 4}),
        httpx.post(url, headers=auth, content=b'{"messages": "' + b"a" * (2 << 20) + b'"}', timeout=60),
    ]
    for response in cases:
        assert response.status_code == 400, response.text
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert "Traceback" not in response.text
    assert [r.json()["error"]["code"] for r in cases] == ["invalid_json", "missing_required_parameter",
                                                         "unsupported_parameter", "request_too_large"]
    assert httpx.post(url, json={"messages": [{"role": "user", "content": "x"}]}).status_code == 401
    assert chat(server, "still there?").status_code == 200
    assert httpx.get(f"{server.base_url}/health").json() == {"status": "ok"}


def test_every_listener_is_on_loopback(served) -> None:
    _, _, started = served
    found = listeners(started)
    assert found, "no listening socket found: the check itself is broken"
    assert all(on_loopback(address) for _, address in found), found
