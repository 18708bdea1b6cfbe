"""The litellm backend over real HTTP, against archon's faulty loopback server."""

from __future__ import annotations

import asyncio
import os

import pytest

from archon.backends import CallRequest, Client
from archon.backends.litellm_backend import parse_retry_after
from archon.spec.schema import ModelSpec
from archon.testing.server import Fault, TestServer

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# litellm imports provider modules lazily; one of them makes pydantic warn about a ReadOnly
# TypedDict, which the suite's "warnings are errors" setting would turn into a failed call
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")


class Sleeps:
    """Records requested waits and waits a tiny fraction of them (keeps tests fast)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(min(delay, 0.01))


def client_for(srv: TestServer, sleeps=None, **spec_kw) -> Client:
    spec_kw.setdefault("max_retries", 4)
    spec_kw.setdefault("timeout", 10)
    spec = ModelSpec(kind="litellm", model="openai/archon-test", api_base=srv.url, **spec_kw)
    return Client({"m": spec}, cache=None, sleep=sleeps or Sleeps())


def req(i: int = 0, text: str = "what is two plus two") -> CallRequest:
    return CallRequest(model="m", messages=(("user", text),), sample_index=i, max_tokens=16)


def complete(client: Client, reqs):
    async def go():
        try:
            return await client.complete(reqs)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_plain_calls_carry_text_usage_and_seed() -> None:
    with TestServer() as srv:
        out = complete(client_for(srv), [req(0), req(1), req(0)])
    assert all(r.ok for r in out), [r.error for r in out]
    assert out[0].text == out[2].text != out[1].text  # the server's text depends on the seed
    assert out[0].usage.prompt_tokens == 5 and out[0].usage.completion_tokens > 0
    assert out[0].usage.dollars == 0.0  # an unknown self-hosted model costs nothing


def test_429_retry_after_is_honoured() -> None:
    sleeps = Sleeps()
    with TestServer(faults=[Fault("429", at=[1], retry_after=3)]) as srv:
        (r,) = complete(client_for(srv, sleeps), [req()])
        assert srv.stats()["chat_requests"] == 2
    assert r.ok
    assert sleeps.delays and sleeps.delays[0] >= 3.0


def test_500_and_503_are_retried() -> None:
    sleeps = Sleeps()
    with TestServer(faults=[Fault("500", at=[1]), Fault("503", at=[2], retry_after=0)]) as srv:
        (r,) = complete(client_for(srv, sleeps), [req()])
        assert srv.stats()["by_status"] == {"500": 1, "503": 1, "200": 1}
    assert r.ok and len(sleeps.delays) == 2


def test_hang_times_out_and_is_retried() -> None:
    with TestServer(faults=[Fault("hang", at=[1])], hang_seconds=5) as srv:
        client = client_for(srv, timeout=0.5)
        (r,) = complete(client, [req()])
        assert srv.stats()["chat_requests"] == 2
    assert r.ok and client.meter.retries == 1


@pytest.mark.parametrize("kind", ["malformed", "truncated", "close"])
def test_broken_bodies_are_retried(kind: str) -> None:
    with TestServer(faults=[Fault(kind, first=2)]) as srv:
        client = client_for(srv)
        (r,) = complete(client, [req()])
        assert srv.stats()["chat_requests"] == 3
    assert r.ok and client.meter.retries == 2


def test_persistent_malformed_body_ends_as_recorded_error() -> None:
    with TestServer(faults=[Fault("malformed", rate=1.0)]) as srv:
        client = client_for(srv, max_retries=2)
        bad, = complete(client, [req()])
        assert srv.stats()["chat_requests"] == 3
    assert not bad.ok and "gave up after 3 attempts" in (bad.error or "")
    assert client.meter.failures == 1


def test_400_is_permanent_and_not_retried() -> None:
    sleeps = Sleeps()
    with TestServer(faults=[Fault("400", at=[1])]) as srv:
        (r,) = complete(client_for(srv, sleeps), [req()])
        assert srv.stats()["chat_requests"] == 1
    assert not r.ok and "400" in (r.error or "") and sleeps.delays == []


def test_client_concurrency_stays_under_the_server_limit() -> None:
    with TestServer(latency=0.05, max_concurrency=4) as srv:
        client = client_for(srv, concurrency=4)
        out = complete(client, [req(i) for i in range(24)])
        stats = srv.stats()
    assert all(r.ok for r in out)
    assert stats["rejected_over_limit"] == 0 and stats["max_in_flight"] <= 4
    assert client.meter.retries == 0


def test_over_the_server_limit_429s_are_absorbed_by_retries() -> None:
    with TestServer(latency=0.05, max_concurrency=2, retry_after=0.05) as srv:
        # real waits here: the server's Retry-After is what spreads the retries out
        client = client_for(srv, asyncio.sleep, concurrency=6, max_retries=20)
        out = complete(client, [req(i) for i in range(12)])
        stats = srv.stats()
    assert all(r.ok for r in out)
    assert stats["rejected_over_limit"] > 0 and stats["max_in_flight"] <= 2
    assert client.meter.retries == stats["rejected_over_limit"]


def test_meter_sums_server_usage() -> None:
    with TestServer() as srv:
        client = client_for(srv)
        out = complete(client, [req(i, "one two three four five") for i in range(5)])
    m = client.meter.snapshot()
    assert m.calls == 5 and m.prompt_tokens == 25
    assert m.completion_tokens == sum(r.usage.completion_tokens for r in out) > 0


def test_missing_key_variable_is_a_permanent_error(monkeypatch) -> None:
    monkeypatch.delenv("ARCHON_TEST_KEY_UNSET", raising=False)
    with TestServer() as srv:
        (r,) = complete(client_for(srv, api_key_env="ARCHON_TEST_KEY_UNSET"), [req()])
        assert srv.stats()["chat_requests"] == 0
    assert not r.ok and "ARCHON_TEST_KEY_UNSET is not set" in (r.error or "")


def test_api_key_never_appears_in_errors(monkeypatch) -> None:
    secret = "sk-archon-test-secret-0123456789"
    monkeypatch.setenv("ARCHON_TEST_KEY", secret)
    with TestServer(faults=[Fault("400", rate=1.0)]) as srv:
        client = client_for(srv, api_key_env="ARCHON_TEST_KEY")
        (r,) = complete(client, [req()])
    assert not r.ok and secret not in (r.error or "")
    backend = client._state("m").backend  # type: ignore[union-attr]
    assert secret not in repr(vars(backend))


def test_structured_output_request_reaches_the_server() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    with TestServer() as srv:
        spec = ModelSpec(kind="litellm", model="hosted_vllm/archon-test", api_base=srv.url)
        client = Client({"m": spec}, cache=None)
        assert client.supports_structured_output("m")
        (r,) = complete(client, [CallRequest(model="m", messages=(("user", "x"),), response_format=schema)])
    assert r.ok and r.text.startswith('{"answer"')


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0.5", 0.5), (None, None), ("soon", None), ("-4", 0.0)],
)
def test_parse_retry_after(value, expected) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    import email.utils
    import time

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(when) <= 31  # type: ignore[operator]


def test_send_gate_arms_and_is_released_by_failed_calls() -> None:
    # the first call arms the send gate; a call rejected by the server (400, not retried) and
    # concurrent calls afterwards must all finish: a ticket left held would stall the rest
    with TestServer(latency=0.01, faults=[{"kind": "400", "at": [2]}]) as srv:
        client = client_for(srv, concurrency=8)
        first = client.complete_sync([req(0)])
        backend = client._state("m").backend
        assert first[0].ok and backend._gate_armed
        out = client.complete_sync([req(i) for i in range(1, 25)])
        client.close()
    assert sum(not r.ok for r in out) == 1 and sum(r.ok for r in out) == 23
