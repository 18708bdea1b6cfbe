"""The cluster's call cache (archon.backends.cache_service): the service's lease rules in process,
then the real thing on a private Ray runtime, with the client and a loopback model server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from archon.backends import CallRequest, CallResult, Client
from archon.backends.cache import CallCache, lease_owner
from archon.backends.cache_service import HEARTBEAT, LEASE_IDLE, CacheService


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service(tmp_path):
    clock = Clock()
    svc = CacheService(str(tmp_path / "calls.sqlite"), clock=clock)
    yield svc, clock
    svc.close()


def test_one_lease_per_key_across_the_cluster(service) -> None:
    svc, _ = service
    svc.put([[("k0", "m", CallResult(text="stored"))]])
    hits, mine = svc.lookup(["k0", "k1", "k2"], "node-a:1:1:x", ttl=300)
    assert set(hits) == {"k0"} and mine == {"k1", "k2"}
    # node B asks for the same calls while A fetches them: no lease, so it waits for A's answers
    hits, mine = svc.lookup(["k1", "k2"], "node-b:1:1:y", ttl=300)
    assert hits == {} and mine == set()
    assert svc.put([[("k1", "m", CallResult(text="paid by A"))]]) == [1]
    svc.release(["k1", "k2"], "node-a:1:1:x")
    hits, mine = svc.lookup(["k1", "k2"], "node-b:1:1:y", ttl=300)
    assert hits["k1"].text == "paid by A" and hits["k1"].cached
    assert mine == {"k2"}  # A gave it up without an answer (its call failed): B sends it itself


def test_storing_an_answer_ends_its_lease(service) -> None:
    svc, _ = service
    assert svc.lookup(["k"], "a:1:1:x", ttl=300)[1] == {"k"}
    svc.put([[("k", "m", CallResult(text="done"))]])
    assert svc.stats()["leases"] == 0  # no release message needed after a successful call
    svc.put([[("j", "m", CallResult(text="", error="failed"))]])  # a failure is not an answer
    assert svc.lookup(["j"], "b:1:1:y", ttl=300)[1] == {"j"}


def test_a_holder_that_stops_renewing_loses_its_lease(service) -> None:
    svc, clock = service
    assert svc.lookup(["k"], "dead-node:1:1:x", ttl=3600)[1] == {"k"}
    clock.now += LEASE_IDLE / 2
    assert svc.lookup(["k"], "live-node:1:1:y", ttl=3600)[1] == set()
    clock.now += LEASE_IDLE  # no heartbeat came: its worker, or its node, is gone
    assert svc.lookup(["k"], "live-node:1:1:y", ttl=3600)[1] == {"k"}


def test_a_holder_on_this_machine_whose_process_is_gone_loses_its_lease_at_once(service) -> None:
    """A worker killed on the service's machine (a private runtime's worker): its retried task
    must not wait for the heartbeat to lapse."""
    svc, _ = service
    child = subprocess.run([sys.executable, "-c", "from archon.backends.cache import lease_owner; print(lease_owner('w'))"],
                           capture_output=True, text=True, check=True)
    assert svc.lookup(["k"], child.stdout.strip(), ttl=3600)[1] == {"k"}
    assert svc.lookup(["k"], lease_owner("retry"), ttl=3600)[1] == {"k"}


def test_renewals_keep_a_lease_alive_but_never_past_its_ttl(service) -> None:
    svc, clock = service
    assert svc.lookup(["k"], "a:1:1:x", ttl=3 * LEASE_IDLE)[1] == {"k"}
    for _ in range(5):
        clock.now += HEARTBEAT
        svc.renew({"a:1:1:x": ["k"]})
        assert svc.lookup(["k"], "b:1:1:y", ttl=60)[1] == set()
    clock.now += 2 * LEASE_IDLE  # past claim time + ttl: a hung holder does not block forever
    svc.renew({"a:1:1:x": ["k"]})
    assert svc.lookup(["k"], "b:1:1:y", ttl=60)[1] == {"k"}


def test_a_process_using_the_file_directly_sees_the_service_s_leases(service, tmp_path) -> None:
    svc, _ = service
    assert svc.lookup(["k"], "a:1:1:x", ttl=300)[1] == {"k"}
    direct = CallCache(tmp_path / "calls.sqlite")
    assert direct.lookup(["k"], lease_owner("direct"), ttl=300) == ({}, set())
    svc.release(["k"], "a:1:1:x")
    assert direct.lookup(["k"], lease_owner("direct"), ttl=300)[1] == {"k"}


# ----------------------------------------------------------------------------- on Ray


@pytest.fixture(scope="module")
def ray_runtime():
    from archon.search.dispatch import ray_env

    ray_env()
    import ray

    # the workers import this module for the task functions below: ship it as a search ships user code
    ray.init(address="local", _temp_dir=tempfile.mkdtemp(prefix="archon-cs-"), num_cpus=2, include_dashboard=False,
             logging_level="ERROR", log_to_driver=False, runtime_env={"py_modules": [__file__]})
    yield ray
    ray.shutdown()


def _requests(n: int, text: str) -> list[CallRequest]:
    return [CallRequest(model="m", messages=(("user", text),), temperature=0.7, sample_index=i, max_tokens=16)
            for i in range(n)]


def _complete(store, api_base: str, reqs: list[CallRequest]) -> list[CallResult]:
    """What a shard does: a client for a litellm model on the cluster's cache."""
    from archon.spec.schema import ModelSpec

    spec = ModelSpec(kind="litellm", model="openai/test-model", api_base=api_base, concurrency=8, max_retries=0)
    client = Client({"m": spec}, cache=store)
    try:
        return asyncio.run(client.complete(reqs))
    finally:
        asyncio.run(client.aclose())


class Gate:
    """Lets tasks start their calls together (each one first pays its own import time)."""

    def __init__(self, n: int) -> None:
        self.n, self.arrived = n, 0

    def arrive(self) -> None:
        self.arrived += 1

    def open(self) -> bool:
        return self.arrived >= self.n


def _shard(store, api_base: str, reqs: list[CallRequest], gate=None) -> tuple[list[tuple], int]:
    import litellm  # noqa: F401 - imported before the gate, so both workers call at once

    if gate is not None:
        ray = __import__("ray")
        ray.get(gate.arrive.remote())
        while not ray.get(gate.open.remote()):
            time.sleep(0.02)
    return [(x.text, x.cached, x.error) for x in _complete(store, api_base, reqs)], os.getpid()


@pytest.mark.ray
@pytest.mark.slow
def test_calls_in_flight_in_two_workers_are_paid_once_and_then_served(ray_runtime, tmp_path) -> None:
    """Two Ray workers ask a real (loopback) model server the same 6 calls at the same time
    through the service: the server answers each once; a third worker is served from the cache."""
    from archon.backends.cache_service import start_cache_service
    from archon.testing import TestServer

    ray = ray_runtime
    store = start_cache_service(tmp_path / "calls.sqlite")
    try:
        with TestServer(latency=1.0) as server:
            task = ray.remote(num_cpus=1)(_shard)
            gate = ray.remote(num_cpus=0)(Gate).remote(2)
            reqs = _requests(6, "same question")
            (a, pid_a), (b, pid_b) = ray.get([task.remote(store, server.url, reqs, gate),
                                              task.remote(store, server.url, reqs, gate)])
            assert pid_a != pid_b
            assert all(err is None for _, _, err in a + b)
            assert [t for t, _, _ in a] == [t for t, _, _ in b]
            assert server.stats()["chat_requests"] == 6  # not 12
            assert sum(1 for _, cached, _ in a + b if not cached) == 6
            (c, _), = ray.get([task.remote(store, server.url, reqs)])
            assert all(cached for _, cached, _ in c) and server.stats()["chat_requests"] == 6
        stats = store.stats()
        assert stats["entries"] == 6
        assert stats["held_elsewhere"] >= 1  # a worker found a call in flight and waited for it
        deadline = time.monotonic() + 30
        while store.stats()["leases"]:  # releases are sent without waiting for a reply
            assert time.monotonic() < deadline, "leases were never released"
            time.sleep(0.05)
    finally:
        store.shutdown()
    # the file holds what was paid for, for the next search or a resume
    assert len(CallCache(tmp_path / "calls.sqlite")) == 6


@pytest.mark.ray
@pytest.mark.slow
def test_writes_are_grouped_and_each_writer_returns_once_stored(ray_runtime, tmp_path) -> None:
    from archon.backends.cache_service import start_cache_service

    store = start_cache_service(tmp_path / "calls.sqlite")
    try:
        before = store.round_trips
        start = threading.Barrier(16)

        def write(i: int) -> None:
            start.wait()
            assert store.put_many([(f"k{i}", "m", CallResult(text=f"v{i}"))]) == 1
            assert store.get_many([f"k{i}"])[f"k{i}"].text == f"v{i}"  # stored when put_many returned

        threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        writes = store.round_trips - before - 16  # less the 16 reads
        assert 1 <= writes < 16
        assert store.stats()["entries"] == 16
    finally:
        store.shutdown()
