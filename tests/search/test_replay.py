"""Replay tables (archon.search.replay): a search answered from a table makes no backend call,
returns what a live search returns, and stops with a clear error at a gap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archon.errors import InputError
from archon.search import run_search
from archon.search.replay import build_table, open_table


def _search(spec: Path, run_dir: Path, **kw):
    return run_search(spec, run_dir=run_dir, use_ray=False, progress=False, **kw)


def _outcome(result) -> list:
    return sorted((t.number, t.status, json.dumps(t.params, sort_keys=True), t.score) for t in result.trials)


@pytest.fixture
def table(space_file, tmp_path, monkeypatch):
    spec = space_file(trials=10, dev=24, test=12, max_samples=3)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("ARCHON_TEST_CALL_LOG", str(log))
    meta = build_table(spec, tmp_path / "table.sqlite.gz", say=lambda _: None)
    assert meta["architectures"] >= 12 and meta["records"] == 76 and meta["entries"] > 0
    return spec, tmp_path / "table.sqlite.gz", log


def test_a_replayed_search_makes_no_call_and_is_deterministic(table, tmp_path) -> None:
    spec, path, log = table
    before = len(log.read_text().splitlines())
    a = _search(spec, tmp_path / "a", replay=path)
    b = _search(spec, tmp_path / "b", replay=path)
    assert len(log.read_text().splitlines()) == before  # not one backend call
    assert _outcome(a) == _outcome(b)
    assert a.emitted["label"] == b.emitted["label"] and a.test == b.test
    assert a.calls_made == 0


def test_a_replay_returns_what_a_live_search_returns(table, tmp_path) -> None:
    spec, path, _ = table
    replayed = _search(spec, tmp_path / "replayed", replay=path)
    live = _search(spec, tmp_path / "live")
    assert _outcome(replayed) == _outcome(live)
    assert replayed.emitted["label"] == live.emitted["label"]


def test_a_gap_in_the_table_is_a_clear_error_not_a_call(table, tmp_path) -> None:
    spec, path, log = table
    changed = spec.with_name("changed.yaml")
    changed.write_text(spec.read_text().replace("max_tokens: 8", "max_tokens: 9"))
    before = len(log.read_text().splitlines())
    with pytest.raises(InputError, match="replay table .* has no answer"):
        _search(changed, tmp_path / "gap", replay=path)
    assert len(log.read_text().splitlines()) == before


def test_a_missing_or_foreign_file_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="no such replay table"):
        open_table(tmp_path / "nope.sqlite.gz")
    bad = tmp_path / "bad.sqlite.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(InputError, match="not a gzip'd replay table"):
        open_table(bad)
