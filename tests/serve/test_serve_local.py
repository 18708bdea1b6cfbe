"""A pipeline on the real embedded SmolLM2, served by Ray Serve, called by real clients: the
official openai SDK, litellm (``openai/<name>`` with ``api_base``), and another archon spec that
uses the served pipeline as one of its models (composition through the same interface)."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_kit import free_port

pytestmark = [pytest.mark.local_model, pytest.mark.slow, pytest.mark.ray]

pytest.importorskip("xllamacpp", reason="needs pip install '.[local]'")

KEY = "local-serve-key"
QUERY = "What is the capital city of Italy? Answer with the name of the city only."
SERVED = """\
name: capitals
pipeline:
  - {type: generate, model: local/smollm2, samples: 3, few_shot: 2, temperature: 0.7, max_tokens: 24}
  - {type: vote}
task:
  answer: exact
  shots:
    - {input: "What is the capital city of France? Answer with the name of the city only.", reference: Paris}
    - {input: "What is the capital city of Japan? Answer with the name of the city only.", reference: Tokyo}
    - {input: "What is the capital city of Egypt? Answer with the name of the city only.", reference: Cairo}
"""
OUTER = """\
name: outer
models:
  served: {{kind: litellm, model: openai/capitals, api_base: "{url}", api_key_env: ARCHON_TEST_SERVED_KEY}}
pipeline:
  - {{type: generate, model: served, samples: 2, temperature: 0.7, max_tokens: 64}}
  - {{type: vote}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from archon.serve import serve_pipeline

    spec = Path(tmp_path_factory.mktemp("local")) / "capitals.yaml"
    spec.write_text(SERVED)
    with serve_pipeline(spec, port=free_port(), api_key=KEY, dashboard=False, cache=False) as running:
        yield running


@pytest.fixture(scope="module")
def direct(server):
    import openai

    client = openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0, timeout=300)
    return client.chat.completions.create(model="capitals", messages=[{"role": "user", "content": QUERY}])


def test_the_openai_sdk_gets_the_pipelines_answer_and_usage(server, direct) -> None:
    import openai

    answer = direct.choices[0].message.content
    assert answer and answer.strip()
    assert direct.model == "capitals" and direct.system_fingerprint.startswith("archon-")
    assert direct.usage.model_extra["calls"] == 3
    assert direct.usage.completion_tokens > 0 and direct.usage.prompt_tokens > 0
    client = openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0, timeout=300)
    # the same query again: the same seeds, so the same answer (the local model honours seeds)
    chunks = list(client.chat.completions.create(model="capitals", messages=[{"role": "user", "content": QUERY}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer
    assert chunks[-1].usage.total_tokens == direct.usage.total_tokens
    traced = client.chat.completions.create(model="capitals", messages=[{"role": "user", "content": QUERY}],
                                            extra_body={"archon": {"trace": True}})
    extension = traced.model_extra["archon"]
    assert len([c for c in extension["candidates"] if c["node"] == "generate1"]) == 3
    assert extension["cost"]["calls"] == 3


def test_litellm_calls_it_as_an_openai_model(server, direct) -> None:
    import litellm

    reply = litellm.completion(model="openai/capitals", api_base=server.url, api_key=KEY,
                               messages=[{"role": "user", "content": QUERY}], timeout=300)
    assert reply.choices[0].message.content == direct.choices[0].message.content
    assert reply.usage.total_tokens == direct.usage.total_tokens


def test_a_served_pipeline_is_a_model_inside_another_spec(server, direct, tmp_path, monkeypatch) -> None:
    from archon.pipeline_file import load_pipeline

    monkeypatch.setenv("ARCHON_TEST_SERVED_KEY", KEY)
    outer = tmp_path / "outer.yaml"
    outer.write_text(OUTER.format(url=server.url))
    with load_pipeline(outer, cache=False, trace=True) as pipeline:
        result = pipeline.run(QUERY)
    assert result.status == "ok", result.error
    # each outer sample is one call to the served pipeline, which answers the query as it did directly
    assert result.answer == direct.choices[0].message.content
    assert result.cost.calls == 2
    assert result.cost.prompt_tokens == 2 * direct.usage.prompt_tokens
