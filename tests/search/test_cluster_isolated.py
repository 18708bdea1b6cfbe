"""A search on Ray worker nodes that cannot see the driver's files, as on a real cluster.

A head on 127.0.0.1 and two worker nodes, each in a mount namespace of its own in which the
spec's folder (spec, JSONL benchmark, the spec's own scorer module, and the run directory inside
it) and the repository's tests/ folder are empty tmpfs mounts (archon.testing.ray_cluster). So a
shard can only get what it needs the way it would on another machine: records from the object
store, the scorer and the fake-model script through the job's runtime_env, answers from the
cache service on the head, and the driver writes every file of the run directory.

Needs root (unshare -m); skipped with the reason otherwise. CI runs as root on the project's
machines, so .ci/run runs it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from archon.testing.ray_cluster import LoopbackCluster, hiding_unavailable

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
UNAVAILABLE = hiding_unavailable() or (None if shutil.which("nsenter") else "nsenter is not installed")

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"needs worker nodes in their own mount namespace: {UNAVAILABLE}"),
]

SCORER = '''\
def code_word(record, text):
    """1 when the answer is exactly the record's code word."""
    return text.strip() == str(record.reference)
'''

DRIVER = """
import sys
from archon.search import run_search
r = run_search(sys.argv[1], run_dir=sys.argv[2], ray_address=sys.argv[3], progress=False, preload=("fake_scripts",),
               task_resources={"archon_isolated": 1}, shard_size=4)
print("done", r.calls_made, r.calls_cached, r.best is not None, r.test is not None, flush=True)
"""

#: the fake model's calls in flight per worker process (ModelSpec.concurrency's default)
CONCURRENCY = 8


def _complete_trials(run: Path) -> int:
    db = run / "study.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return int(con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0])
    except sqlite3.Error:
        return 0


def _paid(log: Path) -> list[str]:
    return [line.split("\t")[0] for line in log.read_text().splitlines()] if log.exists() else []


def _wait_until_quiet(log: Path, quiet: float = 3.0, timeout: float = 60.0) -> None:
    """Until no call has been logged for ``quiet`` seconds (the killed job's workers are gone)."""
    deadline = time.monotonic() + timeout
    last, since = len(_paid(log)), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "calls kept coming after the driver was killed"
        time.sleep(0.2)
        now = len(_paid(log))
        if now != last:
            last, since = now, time.monotonic()


def _search_conftest():
    """tests/search/conftest.py by its path (``import conftest`` may find another folder's)."""
    spec = importlib.util.spec_from_file_location("search_conftest", HERE / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One cluster for the tests below (starting one takes most of a minute here)."""
    spec_dir = tmp_path_factory.mktemp("isolated") / "spec"
    spec_dir.mkdir()
    outside = Path(tempfile.mkdtemp(prefix="archon-iso-"))  # seen by every node: the call log
    env = {"ARCHON_TEST_CALL_LOG": str(outside / "calls.log"), "ARCHON_TEST_CALL_DELAY": "0.01",
           "PYTHONPATH": str(ROOT)}
    c = LoopbackCluster(env=env).start()
    try:
        nodes = [c.add_node(num_cpus=1, resources={"archon_isolated": 1}, hide=[spec_dir, ROOT / "tests"])
                 for _ in range(2)]
        yield c, nodes, spec_dir, outside
    finally:
        c.stop()


def test_a_search_on_nodes_that_cannot_see_the_driver_s_files(cluster) -> None:
    c, nodes, spec_dir, outside = cluster
    log = outside / "calls.log"

    # the spec's folder: spec, data, its own scorer module; the run directory inside it
    spec = _search_conftest().make_space(spec_dir, trials=10, parallel=2, dev=24, test=8, fidelity="true")
    spec.write_text(spec.read_text().replace("seed: 0}", "seed: 0, scorer: 'isolated_scorer:code_word'}"))
    (spec_dir / "isolated_scorer.py").write_text(SCORER)
    run = spec_dir / "run"

    # what a node sees there: nothing
    probe = subprocess.run(["nsenter", "-t", str(nodes[0].pid), "-m", "ls", "-A", str(spec_dir), str(ROOT / "tests")],
                           capture_output=True, text=True)
    # ls lists its arguments sorted by name, so compare as sets: two headings, no entries
    assert probe.returncode == 0 and sorted(probe.stdout.split()) == sorted([f"{spec_dir}:", f"{ROOT / 'tests'}:"]), probe

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    cmd = [sys.executable, "-c", DRIVER, str(spec), str(run), c.address]

    # 1. a search, killed with SIGKILL once two trials are complete
    first = subprocess.Popen(cmd, cwd=spec_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while _complete_trials(run) < 2:
            assert first.poll() is None, first.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no trial completed in time"
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    _wait_until_quiet(log)  # Ray stopped the killed driver's tasks and its cache service
    paid_before = _paid(log)
    assert paid_before

    # 2. the same command resumes it and runs to the end
    again = subprocess.run(cmd, cwd=spec_dir, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout.split()[-2:] == ["True", "True"], again.stdout  # a winner, and its test score
    paid_after = _paid(log)[len(paid_before):]
    repeated = set(paid_before) & set(paid_after)
    # only calls whose answer was not yet stored when the driver died can be paid again: at most
    # the calls in flight in each node's worker at that moment
    assert len(repeated) <= 2 * CONCURRENCY, f"{len(repeated)} calls paid twice"
    assert len(set(paid_after)) == len(paid_after), "a call was paid twice within one run"

    # every shard ran on the isolated nodes, both took shards, and the driver wrote the traces
    ran_on = set()
    rows = 0
    for trace in (run / "traces").glob("trial-*.jsonl"):
        for line in trace.read_text().splitlines():
            row = json.loads(line)
            ran_on.add(row["node"])
            rows += 1
            assert not (row.get("error") or "").startswith("scorer"), row["error"]
    assert ran_on == {n.node_id for n in nodes}
    assert rows > 0
    assert (run / "leaderboard.md").exists() and (run / "best.yaml").exists()
    # the spec's own scorer ran on the nodes (it reached them through the runtime_env): real scores
    board = (run / "leaderboard.md").read_text()
    assert "complete" in board


def test_the_cache_answers_on_one_node_what_another_node_paid_for(cluster) -> None:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from archon.backends.cache_service import start_cache_service

    c, (node_a, node_b), _, outside = cluster
    log = outside / "calls.log"
    head_only = Path(tempfile.mkdtemp(prefix="archon-head-"))
    ray.init(address=c.address, logging_level="ERROR", log_to_driver=False,
             runtime_env={"py_modules": [str(HERE / "fake_scripts.py"), __file__]})
    try:
        store = start_cache_service(head_only / "calls.sqlite")  # on the head: this driver's node
        task = ray.remote(num_cpus=1)(_oracle_calls)
        questions = [f"What is the code word for item {i}?" for i in range(5)]

        def on(node):
            return task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False))

        before = len(_paid(log))
        texts_a, cached_a, where_a = ray.get(on(node_a).remote(store, questions))
        assert where_a == node_a.node_id and not any(cached_a)
        assert len(_paid(log)) == before + 5  # node A paid for five calls
        texts_b, cached_b, where_b = ray.get(on(node_b).remote(store, questions))
        assert where_b == node_b.node_id
        assert all(cached_b) and texts_b == texts_a
        assert len(_paid(log)) == before + 5  # node B paid for none
        store.shutdown()
    finally:
        ray.shutdown()


def _oracle_calls(store, questions: list[str]) -> tuple[list[str], list[bool], str]:
    """Runs on a worker node: the fake oracle through a client on the cluster's cache."""
    import asyncio

    import fake_scripts  # noqa: F401 - registers the oracle script
    import ray

    from archon.backends import CallRequest, Client
    from archon.spec.schema import ModelSpec

    client = Client({"m": ModelSpec(kind="fake", model="oracle")}, cache=store)
    reqs = [CallRequest(model="m", messages=(("user", q),), temperature=0.7, sample_index=0, max_tokens=8) for q in questions]
    results = asyncio.run(client.complete(reqs))
    assert all(r.ok for r in results), [r.error for r in results]
    return [r.text for r in results], [r.cached for r in results], ray.get_runtime_context().get_node_id()
