"""Calls that ask for log-probabilities: their own cache entries, stored with the value."""

from __future__ import annotations

import hashlib
import sqlite3

from archon.backends.base import CallRequest, CallResult, Usage
from archon.backends.cache import CallCache, ModelIdentity, cache_key, canonical_json

IDENT = ModelIdentity("local", "smollm2", None)
PLAIN = CallRequest(model="local/smollm2", messages=(("user", "hi"),), seed=0)
ASKED = CallRequest(model="local/smollm2", messages=(("user", "hi"),), seed=0, logprobs=True)


def test_asking_for_logprobs_is_another_call_and_leaves_plain_keys_alone() -> None:
    assert cache_key(IDENT, ASKED) != cache_key(IDENT, PLAIN)
    # the plain key is the one archon always computed (replay tables were built with it)
    before = {"model": IDENT.as_dict(), "messages": [["user", "hi"]], "temperature": 0.7, "top_p": 1.0,
              "max_tokens": 512, "stop": [], "seed": 0, "sample_index": 0, "response_format": None}
    assert cache_key(IDENT, PLAIN) == hashlib.sha256(canonical_json(before).encode("utf-8")).hexdigest()


def test_the_mean_logprob_is_stored_and_served(tmp_path) -> None:
    cache = CallCache(tmp_path / "c.sqlite")
    key = cache_key(IDENT, ASKED)
    cache.put(key, IDENT, CallResult(text="hello", usage=Usage(3, 2), mean_logprob=-0.75))
    cache.put(cache_key(IDENT, PLAIN), IDENT, CallResult(text="hello", usage=Usage(3, 2)))
    hits = cache.get_many([key, cache_key(IDENT, PLAIN)])
    cache.close()
    assert hits[key].mean_logprob == -0.75 and hits[key].cached
    assert hits[cache_key(IDENT, PLAIN)].mean_logprob is None


def test_a_cache_file_from_before_the_column_is_read_and_extended(tmp_path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE calls (key TEXT PRIMARY KEY, identity TEXT NOT NULL, text TEXT NOT NULL,"
                 " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, dollars REAL NOT NULL,"
                 " finish_reason TEXT, latency REAL NOT NULL, created REAL NOT NULL)")
    conn.execute("INSERT INTO calls VALUES ('k', 'local:smollm2', 'Paris', 5, 1, 0.0, 'stop', 0.1, 0.0)")
    conn.commit()
    conn.close()
    cache = CallCache(path)
    try:
        old = cache.get("k")
        cache.put("k2", IDENT, CallResult(text="Lima", usage=Usage(5, 1), mean_logprob=-0.1))
        new = cache.get("k2")
    finally:
        cache.close()
    assert old is not None and old.text == "Paris" and old.mean_logprob is None
    assert new is not None and new.mean_logprob == -0.1
