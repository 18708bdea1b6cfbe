"""The persistent call cache: keys, hit/miss, many writers, crash safety."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from archon.backends.records import CallRequest, CallResult, Usage
from archon.backends.cache import CallCache, ModelIdentity, cache_key, canonical_json

IDENT = ModelIdentity("litellm", "openai/gpt-4o-mini", None)
BASE = CallRequest(model="gpt", messages=(("system", "be brief"), ("user", "hi")), seed=0)


def _result(text: str = "hello", pt: int = 3, ct: int = 2, dollars: float = 0.001) -> CallResult:
    return CallResult(text=text, usage=Usage(pt, ct, dollars), latency=0.25, finish_reason="stop")


# ----------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    "change",
    [
        {"messages": (("system", "be brief"), ("user", "hi!"))},
        {"messages": (("user", "be brief"), ("user", "hi"))},
        {"temperature": 0.5},
        {"top_p": 0.9},
        {"max_tokens": 100},
        {"stop": ("\n",)},
        {"seed": 1},
        {"sample_index": 1},
        {"response_format": {"type": "object"}},
    ],
)
def test_every_request_field_changes_the_key(change: dict) -> None:
    assert cache_key(IDENT, dataclasses.replace(BASE, **change)) != cache_key(IDENT, BASE)


@pytest.mark.parametrize(
    "ident",
    [
        ModelIdentity("litellm", "openai/gpt-4o", None),
        ModelIdentity("litellm", "openai/gpt-4o-mini", "http://127.0.0.1:9/v1"),
        ModelIdentity("fake", "openai/gpt-4o-mini", None),
    ],
)
def test_model_identity_changes_the_key(ident: ModelIdentity) -> None:
    assert cache_key(ident, BASE) != cache_key(IDENT, BASE)


def test_tag_and_nickname_do_not_change_the_key() -> None:
    other = dataclasses.replace(BASE, tag="rank", model="another-nickname")
    assert cache_key(IDENT, other) == cache_key(IDENT, BASE)


def test_int_and_float_settings_hash_alike() -> None:
    a = dataclasses.replace(BASE, temperature=1, top_p=1)
    b = dataclasses.replace(BASE, temperature=1.0, top_p=1.0)
    assert cache_key(IDENT, a) == cache_key(IDENT, b)


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": 1, "a": [1, 2], "c": "é"}) == '{"a":[1,2],"b":1,"c":"é"}'


# ----------------------------------------------------------------------------- hit / miss


def test_miss_then_hit_keeps_usage(tmp_path) -> None:
    with CallCache(tmp_path / "c.sqlite") as cache:
        key = cache_key(IDENT, BASE)
        assert cache.get(key) is None
        assert cache.put(key, IDENT, _result()) is True
        hit = cache.get(key)
        assert hit is not None and hit.cached and hit.text == "hello"
        assert hit.usage == Usage(3, 2, 0.001) and hit.finish_reason == "stop"
        info = cache.entry_info(key)
        assert info is not None and info["identity"] == str(IDENT) and info["created"] > 0


def test_first_answer_wins_and_failures_are_not_stored(tmp_path) -> None:
    with CallCache(tmp_path / "c.sqlite") as cache:
        assert cache.put("k", IDENT, _result("first"))
        assert not cache.put("k", IDENT, _result("second"))
        assert not cache.put("bad", IDENT, CallResult(text="", error="boom"))
        assert cache.get("k").text == "first"  # type: ignore[union-attr]
        assert cache.get("bad") is None
        assert len(cache) == 1


def test_survives_reopen(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    with CallCache(path) as cache:
        cache.put_many([(f"k{i}", IDENT, _result(str(i))) for i in range(700)])
    with CallCache(path) as again:
        found = again.get_many([f"k{i}" for i in range(0, 800, 7)])
        assert {k: r.text for k, r in found.items()} == {f"k{i}": str(i) for i in range(0, 700, 7)}


# ----------------------------------------------------------------------------- many processes


def _writer(path: str, worker: int, n: int) -> None:
    cache = CallCache(path)
    for i in range(n):
        # half of the keys are shared by every writer, half are this writer's own
        key = f"shared-{i}" if i % 2 == 0 else f"own-{worker}-{i}"
        cache.put(key, IDENT, _result(f"w{worker}-{i}"))
    cache.close()


def test_four_processes_write_at_once(tmp_path) -> None:
    path = str(tmp_path / "c.sqlite")
    CallCache(path).close()
    ctx = multiprocessing.get_context("spawn")
    n = 120
    procs = [ctx.Process(target=_writer, args=(path, w, n)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with CallCache(path) as cache:
        shared = [f"shared-{i}" for i in range(0, n, 2)]
        own = [f"own-{w}-{i}" for w in range(4) for i in range(1, n, 2)]
        assert len(cache) == len(shared) + len(own)
        got = cache.get_many(shared + own)
        for i in range(0, n, 2):  # one writer's answer, whole
            assert got[f"shared-{i}"].text in {f"w{w}-{i}" for w in range(4)}
        for w in range(4):
            for i in range(1, n, 2):
                assert got[f"own-{w}-{i}"].text == f"w{w}-{i}"
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


# ----------------------------------------------------------------------------- crash safety

_CRASHING_WRITER = textwrap.dedent(
    """
    import sys, time
    from archon.backends.records import CallResult, Usage
    from archon.backends.cache import CallCache, ModelIdentity

    cache = CallCache(sys.argv[1])
    ident = ModelIdentity("fake", "x")

    def entries():
        for i in range(100):
            yield (f"doomed-{i}", ident, CallResult(text="partial " + str(i), usage=Usage(1, 1)))
            if i == 49:
                print("INSIDE", flush=True)   # half written, transaction open
                time.sleep(600)               # until the test kills us

    cache.put_many(entries())
    """
)


def test_writer_killed_mid_transaction_leaves_no_partial_entry(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    with CallCache(path) as cache:
        cache.put("before", IDENT, _result("kept"))
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "INSIDE"
        # while the writer holds its transaction open, readers see nothing of it
        with CallCache(path) as reader:
            assert reader.get_many([f"doomed-{i}" for i in range(50)]) == {}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with CallCache(path) as after:
        assert after.keys() == ["before"]
        assert after.get("before").text == "kept"  # type: ignore[union-attr]
        # and the file is still writable
        assert after.put("after", IDENT, _result("new"))
        assert len(after) == 2
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


# ----------------------------------------------------------------------------- in-flight leases


def test_a_lease_held_by_a_process_that_died_is_free_at_once(tmp_path) -> None:
    """A search killed with SIGKILL leaves its leases behind; the resumed run must not wait out
    their expiry (the call timeout times the retries) before it sends those calls itself."""
    from archon.backends.cache import lease_owner

    cache = CallCache(tmp_path / "c.sqlite")
    child = subprocess.run(
        [sys.executable, "-c", "from archon.backends.cache import lease_owner; print(lease_owner('x'))"],
        capture_output=True, text=True, check=True)
    dead = child.stdout.strip()  # that process has exited
    assert cache.claim_many(["k1"], dead, ttl=3600) == {"k1"}
    assert cache.live_leases(["k1"]) == set()
    assert cache.claim_many(["k1"], lease_owner("me"), ttl=3600) == {"k1"}


def test_a_lease_held_by_a_live_process_or_another_machine_is_honoured(tmp_path) -> None:
    from archon.backends.cache import lease_owner

    cache = CallCache(tmp_path / "c.sqlite")
    sleeper = subprocess.Popen([sys.executable, "-c", "import sys; from archon.backends.cache import lease_owner;"
                                " print(lease_owner('x'), flush=True); sys.stdin.read()"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        alive = sleeper.stdout.readline().strip()
        assert cache.claim_many(["k1"], alive, ttl=3600) == {"k1"}
        assert cache.claim_many(["k2"], "some-other-host:1:1:x", ttl=3600) == {"k2"}
        assert cache.live_leases(["k1", "k2"]) == {"k1", "k2"}
        assert cache.claim_many(["k1", "k2"], lease_owner("me"), ttl=3600) == set()
    finally:
        sleeper.stdin.close()
        sleeper.wait(timeout=30)
    assert cache.live_leases(["k1", "k2"]) == {"k2"}  # its owner has now exited


def test_lookup_answers_and_leases_in_one_step(tmp_path) -> None:
    """What the client asks a cache in one round trip: the stored answers, and a lease on each
    missing key nobody else is fetching."""
    cache = CallCache(tmp_path / "c.sqlite")
    cache.put("k0", "m", CallResult(text="stored"))
    hits, mine = cache.lookup(["k0", "k1", "k2", "k1"], "owner-a", ttl=60)
    assert set(hits) == {"k0"} and hits["k0"].text == "stored" and hits["k0"].cached
    assert mine == {"k1", "k2"}
    # another owner finds k1 and k2 leased: it gets no lease, so it waits for the answers
    hits, mine = cache.lookup(["k1", "k2"], "some-other-host:1:1:b", ttl=60)
    assert hits == {} and mine == set()
    cache.put("k1", "m", CallResult(text="paid once"))
    cache.release_many(["k1", "k2"], "owner-a")
    hits, mine = cache.lookup(["k1", "k2"], "some-other-host:1:1:b", ttl=60)
    assert hits["k1"].text == "paid once" and mine == {"k2"}
