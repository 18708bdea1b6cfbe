"""The embedded SmolLM2, for real (llama.cpp through xllamacpp, in this process)."""

from __future__ import annotations

import json
import random

import pytest

from archon.backends import CallRequest, Client

pytest.importorskip("xllamacpp", reason="needs pip install 'archon[local]'")

pytestmark = pytest.mark.local_model

QUESTION = (("user", "Name one animal that lives in the sea."),)
COUNTRIES = ["France", "Peru", "Japan", "Kenya", "Chile", "Norway", "Egypt", "Canada", "Nepal", "Ghana"]
# few-shot prompts share a long prefix: the engine's slots reuse it from their KV cache
SHOTS = (("user", "What is the capital of Italy?"), ("assistant", "Rome"),
         ("user", "What is the capital of Spain?"), ("assistant", "Madrid"))


def ask(**kw) -> CallRequest:
    kw.setdefault("max_tokens", 24)
    return CallRequest(model="local/smollm2", messages=QUESTION, **kw)


def agreement(a: list[str], b: list[str]) -> float:
    """The share of positions where two lists of answers hold the same text."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def capital(country: str, *, shots: bool = False, **kw) -> CallRequest:
    kw.setdefault("max_tokens", 16)
    kw.setdefault("temperature", 0.7)
    messages = (SHOTS if shots else ()) + (("user", f"What is the capital of {country}?"),)
    return CallRequest(model="local/smollm2", messages=messages, **kw)


def test_seeded_sampling_is_deterministic_and_samples_differ() -> None:
    client = Client({}, cache=None)
    try:
        samples = [ask(temperature=0.8, sample_index=i) for i in range(4)]
        first = client.complete_sync(samples)
        again = client.complete_sync(list(reversed(samples)))[::-1]
    finally:
        client.close()
    assert all(r.ok for r in first + again), [r.error for r in first + again]
    assert agreement([r.text for r in first], [r.text for r in again]) >= 0.75
    assert len({r.text for r in first}) >= 2
    assert all(r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0 for r in first)
    assert all(r.usage.dollars == 0.0 for r in first)


def test_each_answer_goes_back_to_its_request_whatever_the_batch() -> None:
    """A batch's answers come back to the requests that asked them, in any order or batch size.

    The texts are compared for agreement, not equality: llama.cpp's CPU kernels are not
    batch-invariant. When the batch around a sequence changes (its size, its neighbours, a prefix
    reused from a slot's cache), the rounding changes, and on some CPUs a near-tied token flips
    (CI saw 2 of these 20 sampled answers differ; this machine saw none). An answer sent to the
    wrong request would instead disagree almost everywhere, since every country differs. What keeps
    a search consistent is the call cache: each distinct request is answered once."""
    reqs = [capital(c, shots=i % 2 == 0, sample_index=s) for i, c in enumerate(COUNTRIES) for s in range(2)]
    client = Client({}, cache=None)
    try:
        together = client.complete_sync(reqs)
        shuffled = list(range(len(reqs)))
        random.Random(7).shuffle(shuffled)
        mixed = client.complete_sync([reqs[i] for i in shuffled])
        alone = [client.complete_sync([reqs[i]])[0] for i in (0, 3, 8, 13)]
    finally:
        client.close()
    assert all(r.ok for r in together + mixed + alone)
    texts = [r.text for r in together]
    assert len(set(texts)) >= len(texts) // 2  # distinct answers, so a swap cannot pass unseen
    assert agreement([mixed[shuffled.index(i)].text for i in range(len(reqs))], texts) >= 0.75
    assert agreement([r.text for r in alone], [texts[i] for i in (0, 3, 8, 13)]) >= 0.5


def test_the_backend_takes_a_nodes_calls_as_one_batch() -> None:
    from archon.backends.local import LocalBackend

    assert LocalBackend.batching is True  # the client hands it every request of a complete()
    client = Client({}, cache=None)
    try:
        results = client.complete_sync([capital(c, max_tokens=8) for c in COUNTRIES])
        engine = client._state("local/smollm2").backend._engine()  # noqa: SLF001 - the engine behind it
    finally:
        client.close()
    assert all(r.ok and r.text for r in results)
    assert engine.slots > 1 and engine.pool._max_workers == engine.slots  # noqa: SLF001


def test_cache_serves_the_second_run(tmp_path) -> None:
    client = Client.from_spec(None, cache=tmp_path / "c.sqlite")
    try:
        reqs = [ask(temperature=0.7, sample_index=i, max_tokens=12) for i in range(2)]
        first = client.complete_sync(reqs)
        second = client.complete_sync(reqs)
    finally:
        client.close()
    assert all(r.ok for r in first) and all(r.cached for r in second)
    assert [r.text for r in first] == [r.text for r in second]


def test_structured_output_follows_the_schema() -> None:
    schema = {"type": "object", "properties": {"animal": {"type": "string"}}, "required": ["animal"]}
    # a sampled string may ramble past any token limit; a bounded one must close within it
    short = {"type": "object", "properties": {"animal": {"type": "string", "maxLength": 16}}, "required": ["animal"]}
    wrapped = {"type": "json_schema", "json_schema": {"name": "animal", "schema": short}}
    client = Client({}, cache=None)
    try:
        assert client.supports_structured_output("local/smollm2")
        results = client.complete_sync([ask(temperature=0.0, max_tokens=40, response_format=schema),
                                        ask(temperature=0.7, max_tokens=80, response_format=wrapped, sample_index=3),
                                        ask(temperature=0.0, max_tokens=40, response_format={"type": "json_object"})])
    finally:
        client.close()
    assert all(r.ok for r in results), [r.error for r in results]
    assert isinstance(json.loads(results[0].text)["animal"], str)
    assert isinstance(json.loads(results[1].text)["animal"], str)
    assert len(json.loads(results[1].text)["animal"]) <= 16
    assert isinstance(json.loads(results[2].text), dict)


def test_mean_token_logprob_when_asked() -> None:
    client = Client({}, cache=None)
    try:
        asked, plain = client.complete_sync([capital("Peru", logprobs=True), capital("Peru")])
    finally:
        client.close()
    assert asked.ok and plain.ok
    assert asked.text == plain.text  # asking for log-probabilities does not change the sample
    assert asked.mean_logprob is not None and asked.mean_logprob < 0
    assert plain.mean_logprob is None


def test_a_prompt_beyond_the_context_window_fails_as_a_call_not_the_process() -> None:
    client = Client({}, cache=None)
    try:
        huge = CallRequest(model="local/smollm2", messages=(("user", "word " * 10_000_000),), max_tokens=8)  # 50 MB
        long = CallRequest(model="local/smollm2", messages=(("user", "capital city " * 1500),), max_tokens=8)
        results = client.complete_sync([huge, long, ask(max_tokens=8)])
    finally:
        client.close()
    assert not results[0].ok and "context window" in results[0].error
    assert not results[1].ok and "tokens" in results[1].error and "context window" in results[1].error
    assert results[2].ok and results[2].text  # the engine is still fine afterwards


def test_an_answer_that_fills_the_window_stops_with_length() -> None:
    from archon.backends.local import LocalEngine, embedded_model_path

    engine = LocalEngine(embedded_model_path(), threads=1, slots=1, n_ctx=160)  # a small window, own engine
    out = engine.chat({"messages": [{"role": "user", "content": "List sea animals. " * 20}],
                       "max_tokens": 1000, "temperature": 0.9, "seed": 1})
    assert "error" not in out, out
    usage = out["usage"]
    assert usage["prompt_tokens"] + usage["completion_tokens"] <= 160
    assert out["choices"][0]["finish_reason"] in ("length", "stop")
