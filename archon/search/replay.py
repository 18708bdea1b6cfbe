"""Replay tables: every architecture of a space run once on every record, kept as a call cache.

A table is the call cache (archon.backends.cache) a build leaves behind when it has evaluated
every valid point of a space — and the one-greedy-call baselines — on every record of the
benchmark outside the shot pool, plus a ``replay_meta`` table saying what it was built from.
Because the shot pool depends only on the seed and its size (archon.benchmarks.base), the same
table serves any dev / selection / test sizes.

A search with ``--replay TABLE`` runs the real driver, executor, components and scorers; only
the model answers come from the table, read only. A call the table cannot answer raises
:class:`~archon.errors.ReplayMissError` and stops the search with that message: a replay never
calls a backend and never scores around a gap. So a replayed search returns what a live search
with that cache would, at no model cost — which is what lets ``benchmarks/bench_search_quality.py``
run hundreds of searches against known ground truth.

Tables ship gzip-compressed (``.sqlite.gz``, deterministic bytes for the same content); they
are unpacked once into ``~/.cache/archon/replay/<digest>.sqlite``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

import archon
from archon.backends import Client
from archon.backends.cache import default_cache_path
from archon.benchmarks import Benchmark, load_benchmark
from archon.benchmarks.evaluate import evaluate
from archon.errors import InputError
from archon.graph import compile_pipeline
from archon.search.budget import per_query_violation, query_tokens
from archon.search.final import baseline_specs
from archon.search.scoring import spec_data
from archon.space import InvalidPoint, Space
from archon.spec import load_settings, load_spec_file
from archon.spec.schema import LOCAL_MODEL_NAME, Settings, Spec

__all__ = ["FORMAT", "build_table", "open_table", "read_meta", "table_points"]

#: Bump when what a table holds or how requests are keyed changes.
FORMAT = 1

_META = "CREATE TABLE IF NOT EXISTS replay_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def _unpacked_dir() -> Path:
    return default_cache_path().parent / "replay"


def open_table(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """The SQLite file to read a table from (unpacked if gzip'd) and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: error: no such replay table (build one with `archon replay build SPACE --out {path}`)")
    if path.suffix == ".gz":
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
        target = _unpacked_dir() / f"{digest}.sqlite"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".tmp{os.getpid()}")
            try:
                with gzip.open(path, "rb") as src, tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (OSError, EOFError) as exc:
                tmp.unlink(missing_ok=True)
                raise InputError(f"{path}: error: not a gzip'd replay table ({exc})") from None
            os.replace(tmp, target)  # atomic: a concurrent opener sees all of it or nothing
        path = target
    meta = read_meta(path)
    if meta.get("format") != FORMAT:
        raise InputError(f"{path}: error: replay table format {meta.get('format')!r}, this archon reads format {FORMAT}; rebuild it")
    return path, meta


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT key, value FROM replay_meta").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise InputError(f"{path}: error: not a replay table ({exc})") from None
    return {k: json.loads(v) for k, v in rows}


def table_points(spec_path: str | os.PathLike[str]) -> tuple[Settings, Benchmark, list[tuple[str, dict[str, Any]]]]:
    """(settings, benchmark, [(label, spec data)]) for every pipeline a search of the space can
    evaluate: each valid point within the per-query budget, and the one-greedy-call baselines."""
    spec_path = Path(spec_path)
    doc = load_spec_file(spec_path)
    settings = load_settings(doc).resolve_paths(spec_path.resolve().parent)
    if settings.benchmark is None:
        raise InputError(f"{spec_path}:1:1: error: a replay table needs a 'benchmark:' section")
    space = Space.from_document(doc)
    bench = load_benchmark(settings.benchmark)
    qtokens = query_tokens([bench.prompt(r) for r in bench.splits().dev])
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    first: dict[str, Any] | None = None
    for resolved in space.points():
        pipeline = space.check(resolved)
        if isinstance(pipeline, InvalidPoint):
            continue
        _, reason = per_query_violation(pipeline.static_cost(query_tokens=qtokens), settings.budget.per_query)
        if reason is not None:
            continue  # the search never evaluates it
        data = spec_data(settings, pipeline.spec.pipeline.model_dump(mode="json"))
        first = first or data["pipeline"]
        key = json.dumps(data["pipeline"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            label = ", ".join(f"{k}={v}" for k, v in resolved.assignment.items())
            out.append((label, data))
    for model, data in baseline_specs(settings.model_dump(mode="json"), first).items():
        key = json.dumps(data["pipeline"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append((f"baseline {model}", data))
    return settings, bench, out


def build_table(spec_path: str | os.PathLike[str], out: str | os.PathLike[str], *,
                say: Callable[[str], None] = print) -> dict[str, Any]:
    """Evaluate every pipeline of ``table_points`` on every non-shot record, on the real models,
    into ``out`` (``.sqlite.gz``). Incremental: the unpacked working file next to ``out`` keeps
    every answer, so an interrupted build (or one after the space grew) only makes new calls."""
    out = Path(out)
    if out.suffix != ".gz":
        raise InputError(f"{out}: error: a replay table is written gzip'd; name it *.sqlite.gz")
    work = out.with_suffix("")  # foo.sqlite.gz -> foo.sqlite
    settings, bench, points = table_points(spec_path)
    shots = {r.id for r in bench.splits().shots}
    records = [r for r in bench.records if r.id not in shots]
    client = Client.from_spec(settings, cache=work)
    started = time.monotonic()
    failed_queries = 0
    loop = asyncio.new_event_loop()
    try:
        for i, (label, data) in enumerate(points, 1):
            pipeline = compile_pipeline(Spec.model_validate(data))
            report = loop.run_until_complete(evaluate(pipeline, bench, records, client, batch_size=len(records)))
            failed_queries += report.n_call_failed
            say(f"[{i}/{len(points)}] {label}: accuracy {report.accuracy:.3f} on {report.n}; "
                f"{client.meter.snapshot().calls} new calls so far, {time.monotonic() - started:.0f}s")
        structured = {}
        for name in settings.models or {}:
            st = client._state(name)
            if st is not None:
                structured[str(st.identity)] = client.supports_structured_output(name)
        used = {c.get("model") for _, d in points for layer in d["pipeline"]["layers"] for c in layer}
        if LOCAL_MODEL_NAME in used:
            st = client._state(LOCAL_MODEL_NAME)
            structured[str(st.identity)] = client.supports_structured_output(LOCAL_MODEL_NAME)  # type: ignore[union-attr]  # st: the local model was used, so it has a state
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
        if client.cache is not None:
            client.cache.close()  # the table is rewritten below: no connection may stay open
    spec_text = Path(spec_path).read_text(encoding="utf-8")
    assert settings.benchmark is not None  # table_points refuses a space without one
    meta = {
        "format": FORMAT,
        "archon": archon.__version__,
        "space": Path(spec_path).name,
        "space_sha256": hashlib.sha256(spec_text.encode()).hexdigest(),
        "benchmark": settings.benchmark.model_dump(mode="json", exclude={"path"}),
        "records": len(records),
        "architectures": len(points),
        "structured_output": structured,
        "call_failed_queries": failed_queries,
    }
    conn = sqlite3.connect(work)
    try:
        conn.execute(_META)
        conn.execute("DELETE FROM replay_meta")
        conn.executemany("INSERT INTO replay_meta VALUES (?, ?)", [(k, json.dumps(v, sort_keys=True)) for k, v in meta.items()])
        # a table's bytes are its content: no timestamps, latencies, or free pages
        conn.execute("UPDATE calls SET created = 0, latency = 0")
        conn.commit()
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
        meta["entries"] = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    finally:
        conn.close()
    with work.open("rb") as src, open(out, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)
    meta["bytes"] = out.stat().st_size
    return meta
