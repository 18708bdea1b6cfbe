"""The Client on the fake backend: routing, seeds, cache, concurrency, batching, retries, meter."""

from __future__ import annotations

import asyncio
import threading

import pytest

from archon.backends import CallRequest, Client, Cost
from archon.backends.cache import CallCache
from archon.backends.meter import Meter
from archon.errors import MissingDependencyError
from archon.spec.schema import ModelSpec
from archon.testing import FakeBackend, Failure, ScriptedModel


def req(i: int = 0, text: str = "hello", model: str = "m", **kw) -> CallRequest:
    return CallRequest(model=model, messages=(("user", text),), sample_index=i, **kw)


def run(coro):
    return asyncio.run(coro)


class Sleeps:
    """Records the waits the client asks for, without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def fake_spec(**kw) -> ModelSpec:
    return ModelSpec(kind="fake", model="echo", **kw)


def make(fake: FakeBackend, *, cache=None, sleep=None, **spec_kw) -> Client:
    return Client({"m": fake_spec(**spec_kw)}, cache=cache, fake=fake, sleep=sleep or Sleeps())


# ----------------------------------------------------------------------------- basics


def test_results_in_order_and_seeds_derived_from_sample_index() -> None:
    fake = FakeBackend()
    client = make(fake)
    reqs = [req(i, f"q{i % 3}") for i in range(9)] + [req(0, "explicit", seed=42)]
    out = run(client.complete(reqs))
    assert [r.ok for r in out] == [True] * 10
    assert {c.messages: c for c in fake.calls}  # every request reached the backend
    by_text = {(c.messages[0][1], c.sample_index): c.seed for c in fake.calls}
    assert by_text[("q1", 4)] == 4 and by_text[("explicit", 0)] == 42
    # each result answers its own request
    assert [r.text.split("(re: ")[1].split(")")[0] for r in out] == [r.messages[0][1] for r in reqs]
    # different samples of one prompt differ, reruns agree
    assert len({r.text for r in out[:9]}) == 9
    assert [r.text for r in run(make(FakeBackend()).complete(reqs))] == [r.text for r in out]


def test_unknown_model_is_an_error_result_not_an_exception() -> None:
    client = make(FakeBackend())
    a, b = run(client.complete([req(model="nope"), req()]))
    assert not a.ok and "unknown model 'nope'" in (a.error or "")
    assert b.ok


def test_local_model_name_is_implicit() -> None:
    fake = FakeBackend({"capital": "Paris"})
    client = Client({}, cache=None, fake=fake)
    (r,) = run(client.complete([req(text="capital?", model="local/smollm2")]))
    assert r.text == "Paris"


def test_missing_dependency_reported_per_call_and_by_check(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "vllm" else real(n, *a))
    client = Client({"big": ModelSpec(kind="vllm", model="some/model")}, cache=None)
    (r,) = run(client.complete([req(model="big")]))
    assert not r.ok and "archon[vllm]" in (r.error or "")
    with pytest.raises(MissingDependencyError):
        client.check()


def test_sync_wrapper() -> None:
    fake = FakeBackend({"x": "y"})
    client = make(fake)
    assert [r.text for r in client.complete_sync([req(text="x")])] == ["y"]
    assert [r.text for r in client.complete_sync([req(text="x", i=1)])] == ["y"]
    client.close()
    assert fake.closed


# ----------------------------------------------------------------------------- cache


def test_second_run_served_from_cache_with_original_usage(tmp_path) -> None:
    fake = FakeBackend()
    spec = fake_spec(price={"input_per_mtok": 1_000_000, "output_per_mtok": 2_000_000})
    client = Client({"m": spec}, cache=CallCache(tmp_path / "c.sqlite"), fake=fake)
    reqs = [req(i) for i in range(4)]
    first = run(client.complete(reqs))
    assert not any(r.cached for r in first) and fake.call_count == 4
    assert all(r.usage.dollars == r.usage.prompt_tokens + 2 * r.usage.completion_tokens for r in first)
    second = run(client.complete(reqs))
    assert all(r.cached for r in second) and fake.call_count == 4
    assert [(r.text, r.usage) for r in second] == [(r.text, r.usage) for r in first]
    m = client.meter.snapshot()
    assert m.calls == 4 and m.cache_hits == 4
    assert m.dollars == pytest.approx(sum(r.usage.dollars for r in first))
    assert m.saved_dollars == pytest.approx(m.dollars)
    assert m.saved_prompt_tokens == m.prompt_tokens and m.saved_completion_tokens == m.completion_tokens
    # a new client on the same file (another trial, another process) hits too
    other = Client({"m": spec}, cache=CallCache(tmp_path / "c.sqlite"), fake=FakeBackend())
    assert all(r.cached for r in run(other.complete(reqs)))


def test_failures_are_not_cached(tmp_path) -> None:
    fake = FakeBackend(failures=[Failure("permanent", times=1)])
    client = make(fake, cache=CallCache(tmp_path / "c.sqlite"))
    (bad,) = run(client.complete([req()]))
    (good,) = run(client.complete([req()]))
    assert not bad.ok and good.ok and not good.cached


def test_identical_requests_in_one_batch_are_sent_once(tmp_path) -> None:
    fake = FakeBackend()
    client = make(fake, cache=CallCache(tmp_path / "c.sqlite"))
    out = run(client.complete([req(0), req(0, tag="again"), req(1)]))
    assert fake.call_count == 2
    assert out[0].text == out[1].text and out[1].cached and not out[0].cached


def test_without_cache_nothing_is_reused() -> None:
    fake = FakeBackend()
    client = make(fake, cache=None)
    run(client.complete([req(0), req(0)]))
    run(client.complete([req(0)]))
    assert fake.call_count == 3


def test_from_spec_cache_rules(tmp_path, monkeypatch) -> None:
    from archon.spec.schema import Spec

    monkeypatch.setenv("ARCHON_CACHE", str(tmp_path / "default.sqlite"))
    pipeline = {"layers": [[{"type": "generate"}]]}
    spec = Spec(pipeline=pipeline)
    assert Client.from_spec(spec, cache=False).cache is None
    assert Client.from_spec(Spec(pipeline=pipeline, cache=False), cache=tmp_path / "x").cache is None
    scoped = Client.from_spec(Spec(pipeline=pipeline, cache=str(tmp_path / "scoped.sqlite")), cache=tmp_path / "x")
    assert scoped.cache is not None and scoped.cache.path.name == "scoped.sqlite"
    explicit = Client.from_spec(spec, cache_path=tmp_path / "run.sqlite")
    assert explicit.cache is not None and explicit.cache.path.name == "run.sqlite"
    # the implicit user-level cache exists, but never keeps fake answers
    fake = FakeBackend()
    implicit = Client.from_spec(spec, fake=fake)
    assert implicit.cache is not None and implicit.cache.path.name == "default.sqlite"
    run(implicit.complete([req(model="local/smollm2")]))
    run(implicit.complete([req(model="local/smollm2")]))
    assert fake.call_count == 2 and len(implicit.cache) == 0


# ----------------------------------------------------------------------------- concurrency, batching


def test_per_model_concurrency_limit() -> None:
    fake = FakeBackend(latency=0.02)
    client = make(fake, concurrency=3)
    out = run(client.complete([req(i) for i in range(15)]))
    assert all(r.ok for r in out)
    assert fake.max_in_flight == 3


def test_backend_limit_lowers_the_spec_limit() -> None:
    fake = FakeBackend(latency=0.01, max_concurrency=1)
    client = make(fake, concurrency=8)
    run(client.complete([req(i) for i in range(5)]))
    assert fake.max_in_flight == 1


def test_batching_backend_gets_the_whole_batch_at_once() -> None:
    fake = FakeBackend(batching=True)
    client = make(fake)
    out = run(client.complete([req(i, f"q{i}") for i in range(7)]))
    assert fake.batch_sizes == [7]
    assert all(r.ok for r in out)


# ----------------------------------------------------------------------------- retries


def test_retryable_faults_are_retried_with_backoff() -> None:
    fake = FakeBackend(failures=[Failure("retryable", times=2)])
    sleeps = Sleeps()
    client = make(fake, sleep=sleeps, max_retries=3)
    (r,) = run(client.complete([req()]))
    assert r.ok and fake.call_count == 3
    assert len(sleeps.delays) == 2 and all(0 <= d <= client.retry_cap for d in sleeps.delays)
    assert client.meter.retries == 2 and client.meter.failures == 0


def test_retry_after_is_honoured_and_capped() -> None:
    fake = FakeBackend(failures=[Failure("retryable", times=1, retry_after=7.0),
                                 Failure("retryable", times=1, retry_after=500.0)])
    sleeps = Sleeps()
    client = make(fake, sleep=sleeps)
    client.retry_after_cap = 60.0
    (r,) = run(client.complete([req()]))
    assert r.ok
    assert sleeps.delays[0] >= 7.0 and sleeps.delays[1] == 60.0


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    import random

    client = Client({}, rng=random.Random(1), retry_base=1.0, retry_cap=8.0)
    for attempt in range(6):
        draws = [client._backoff(attempt, None) for _ in range(200)]
        bound = min(8.0, 2.0**attempt)
        assert all(0 <= d <= bound for d in draws)
        assert max(draws) > bound * 0.8  # jitter spans the range


def test_gives_up_after_max_retries_and_isolates_the_failure() -> None:
    fake = FakeBackend(failures=[Failure("retryable", times=None, when=lambda r: "bad" in r.messages[0][1])])
    client = make(fake, max_retries=2)
    bad, good = run(client.complete([req(text="bad"), req(text="good")]))
    assert not bad.ok and "gave up after 3 attempts" in (bad.error or "")
    assert good.ok
    assert client.meter.failures == 1 and client.meter.retries == 2


def test_permanent_errors_are_not_retried() -> None:
    fake = FakeBackend(failures=[Failure("permanent", times=1, message="bad request")])
    sleeps = Sleeps()
    client = make(fake, sleep=sleeps)
    (r,) = run(client.complete([req()]))
    assert not r.ok and r.error == "bad request" and fake.call_count == 1 and sleeps.delays == []


def test_hangs_time_out_and_are_retried() -> None:
    fake = FakeBackend(failures=[Failure("hang", times=1)])
    client = make(fake, timeout=0.05)
    (r,) = run(client.complete([req()]))
    assert r.ok and fake.call_count == 2 and client.meter.retries == 1


def test_unexpected_exceptions_become_error_results() -> None:
    def broken(request):
        raise RuntimeError("script bug")

    client = make(FakeBackend(broken))
    (r,) = run(client.complete([req()]))
    assert not r.ok and "RuntimeError: script bug" in (r.error or "")


# ----------------------------------------------------------------------------- meter, cost


def test_meter_totals_match_results() -> None:
    fake = FakeBackend()
    client = make(fake)
    out = run(client.complete([req(i, "one two three") for i in range(6)]))
    m = client.meter.snapshot()
    assert m.requests == m.calls == 6
    assert m.prompt_tokens == sum(r.usage.prompt_tokens for r in out) == 18
    assert m.completion_tokens == sum(r.usage.completion_tokens for r in out)
    assert client.meter.cost() == Cost.total(out)


def test_meter_is_thread_safe() -> None:
    from archon.backends.records import CallResult, Usage

    meter = Meter()
    result = CallResult(text="x", usage=Usage(2, 3, 0.5))

    def work() -> None:
        for _ in range(2000):
            meter.record(result)
            meter.record_retries()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = meter.snapshot()
    assert s.calls == 8000 and s.retries == 8000 and s.prompt_tokens == 16000
    assert s.dollars == pytest.approx(4000.0)


def test_cost_adds_up() -> None:
    from archon.backends.records import CallResult, Usage

    spent = Cost.of(CallResult(text="a", usage=Usage(10, 5, 0.2), latency=1.0))
    saved = Cost.of(CallResult(text="a", usage=Usage(10, 5, 0.2), cached=True))
    failed = Cost.of(CallResult(text="", error="x", latency=0.5))
    total = sum([spent, saved, failed])
    assert total == Cost(calls=2, cached_calls=1, prompt_tokens=10, completion_tokens=5, dollars=0.2,
                         saved_dollars=0.2, saved_tokens=15, latency=1.5, failed_calls=1)
    assert total.tokens == 15


def test_scripted_responses_reach_components() -> None:
    script = ScriptedModel([(r"rank", '{"ranking": [2, 1]}'), (lambda r: r.temperature == 0, "greedy")])
    client = Client({}, cache=None, fake=script)
    a, b, c = run(client.complete([
        req(text="please rank these", model="local/smollm2"),
        req(text="anything", model="local/smollm2", temperature=0),
        req(text="anything", model="local/smollm2"),
    ]))
    assert a.text == '{"ranking": [2, 1]}' and b.text == "greedy" and "(re: anything)" in c.text


def test_warmup_runs_once_outside_call_timeouts() -> None:
    class Loading(FakeBackend):
        warmups = 0

        async def warmup(self) -> None:
            type(self).warmups += 1
            await asyncio.sleep(0.2)  # longer than the call timeout below

    fake = Loading(batching=True)
    client = make(fake, timeout=0.1)
    assert all(r.ok for r in run(client.complete([req(i) for i in range(3)])))
    assert all(r.ok for r in run(client.complete([req(i) for i in range(3, 5)])))
    assert Loading.warmups == 1 and fake.batch_sizes == [3, 2]


def test_failed_warmup_fails_that_models_calls_only() -> None:
    class Broken(FakeBackend):
        async def warmup(self) -> None:
            raise RuntimeError("no accelerator")

    client = Client({"m": fake_spec(), "ok": fake_spec()}, cache=None,
                    backends={"m": Broken(), "ok": FakeBackend()})
    bad, good = run(client.complete([req(), req(model="ok")]))
    assert not bad.ok and "no accelerator" in (bad.error or "") and good.ok


def test_unreadable_cache_degrades_to_misses(tmp_path) -> None:
    class Broken(CallCache):
        def get_many(self, keys):
            raise OSError("disk on fire")

    fake = FakeBackend()
    client = make(fake, cache=Broken(tmp_path / "c.sqlite"))
    (r,) = run(client.complete([req()]))
    assert r.ok and fake.call_count == 1


def test_unencodable_request_is_an_error_result() -> None:
    client = make(FakeBackend())
    bad, good = run(client.complete([req(response_format={"x": object()}), req()]))
    assert not bad.ok and "cannot be encoded" in (bad.error or "") and good.ok


# ----------------------------------------------------------------------------- in-flight sharing


def _in_thread(client: Client, reqs: list[CallRequest], out: list) -> threading.Thread:
    def go() -> None:
        out.extend(asyncio.run(client.complete(reqs)))

    return threading.Thread(target=go)


def test_identical_calls_in_flight_in_two_workers_are_paid_once(tmp_path) -> None:
    # two clients on one cache file, as two Ray workers: each in its own thread and event loop
    shared = FakeBackend(latency=0.3)
    path = tmp_path / "calls.sqlite"
    a, b = make(shared, cache=CallCache(path)), make(shared, cache=CallCache(path))
    reqs = [req(i, "same question", temperature=0.7) for i in range(4)]
    got_a: list = []
    got_b: list = []
    threads = [_in_thread(a, reqs, got_a), _in_thread(b, reqs, got_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(shared.calls) == 4  # not 8: the second worker waited for the first one's answers
    assert [r.text for r in got_a] == [r.text for r in got_b]
    paid = [r for r in got_a + got_b if not r.cached]
    assert len(paid) == 4


def test_a_failed_owner_releases_its_lease_and_the_waiter_sends_itself(tmp_path) -> None:
    path = tmp_path / "calls.sqlite"
    broken = FakeBackend(latency=0.2, failures=[Failure(kind="permanent", times=None)])
    healthy = FakeBackend()
    a, b = make(broken, cache=CallCache(path), max_retries=0), make(healthy, cache=CallCache(path))
    got_a: list = []
    got_b: list = []
    first = _in_thread(a, [req(0, "q")], got_a)
    first.start()
    import time

    time.sleep(0.05)  # a holds the lease now
    second = _in_thread(b, [req(0, "q")], got_b)
    second.start()
    first.join(30)
    second.join(30)
    assert not got_a[0].ok and got_b[0].ok and len(healthy.calls) == 1
