"""archon.testing's scripted fake backend."""

from __future__ import annotations

import asyncio
import re

import pytest

from archon.backends.records import CallRequest
from archon.errors import BackendError, RetryableBackendError
from archon.testing import FakeBackend, Failure, ScriptedModel, default_text, get_script, register_script


def req(text: str = "hi", i: int = 0, seed: int | None = None, **kw) -> CallRequest:
    return CallRequest(model="m", messages=(("user", text),), sample_index=i, seed=seed, **kw)


def test_rules_in_order_regex_and_predicates() -> None:
    m = ScriptedModel([
        (r"capital of (\w+)", lambda r: "Paris" if "France" in r.messages[-1][1] else "unknown"),
        (re.compile(r"^count$"), ["one", "two", "three"]),
        (lambda r: r.temperature == 0, "greedy"),
    ])
    assert m.respond(req("capital of France?")) == "Paris"
    assert m.respond(req("capital of Mars?")) == "unknown"
    assert [m.respond(req("count", i)) for i in range(4)] == ["one", "two", "three", "one"]
    assert m.respond(req("other", temperature=0)) == "greedy"
    assert m.respond(req("other")) == default_text(req("other"))


def test_mapping_rules_and_default() -> None:
    m = ScriptedModel({"yes": "Y"}, default="N")
    assert m.respond(req("yes please")) == "Y" and m.respond(req("no")) == "N"


def test_default_text_is_deterministic_and_varies_with_seed() -> None:
    assert default_text(req(seed=1)) == default_text(req(seed=1))
    assert len({default_text(req(seed=s)) for s in range(10)}) == 10
    assert "(re: hi)" in default_text(req())


def test_backend_counts_and_injects_failures() -> None:
    fb = FakeBackend()
    fb.inject(kind="retryable", times=1, retry_after=2.0)
    fb.inject(Failure("permanent", times=1, when=lambda r: "x" in r.messages[0][1]))

    async def go():
        with pytest.raises(RetryableBackendError) as e:
            await fb.complete([req()])
        assert e.value.retry_after == 2.0
        assert (await fb.complete([req()]))[0].text
        with pytest.raises(BackendError):
            await fb.complete([req("x")])
        return await fb.complete([req("x")])

    (r,) = asyncio.run(go())
    assert r.ok and fb.call_count == 4 and fb.batch_sizes == [1, 1, 1, 1]
    assert r.usage.prompt_tokens == 1 and r.usage.completion_tokens > 0
    fb.reset()
    assert fb.call_count == 0


def test_unknown_failure_kind_rejected() -> None:
    with pytest.raises(ValueError):
        Failure("explode")


def test_script_registry_for_spec_models() -> None:
    from archon.backends import Client
    from archon.spec.schema import ModelSpec

    register_script("test-capitals", ScriptedModel({"France": "Paris"}))
    assert get_script("test-capitals").respond(req("France")) == "Paris"
    assert get_script("no-such-script").respond(req("France")) == default_text(req("France"))
    client = Client({"cap": ModelSpec(kind="fake", model="test-capitals")}, cache=None)
    (r,) = client.complete_sync([CallRequest(model="cap", messages=(("user", "France?"),))])
    client.close()
    assert r.text == "Paris"
