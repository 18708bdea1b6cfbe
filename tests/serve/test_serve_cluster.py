"""``ray_address``: deploying onto a Ray cluster we do not own (simulated on this machine with
ray.cluster_utils.Cluster: a head with no CPU for replicas, two worker nodes), two replicas
that land on the workers, and a stop that removes only our application and disconnects."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
import pytest

from serve_kit import descendants, free_port, listeners, on_loopback

pytestmark = [pytest.mark.ray, pytest.mark.slow]

PIPE = """\
name: on-cluster
models:
  m: {kind: fake, model: cluster-serve}
pipeline:
  - {type: generate, model: m, samples: 2, max_tokens: 8}
  - {type: vote}
"""


_RAYLET = os.path.join(os.path.dirname(__import__("ray").__file__), "core", "src", "ray", "raylet", "raylet")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_serve_on_a_cluster_and_leave_it_running(tmp_path: Path, monkeypatch) -> None:
    from archon.search.dispatch import ray_env
    from archon.serve import serve_pipeline

    ray_env()
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="archon-sc-")
    monkeypatch.setenv("RAY_TMPDIR", temp)  # the cluster helper's address file stays out of /tmp/ray
    os.makedirs(os.path.join(temp, "ray"), exist_ok=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "temp_dir": temp, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    spec = tmp_path / "pipe.yaml"
    spec.write_text(PIPE)
    try:
        server = serve_pipeline(spec, ray_address=cluster.address, port=free_port(), replicas=2, cache=False)
        try:
            assert server.description == f"Ray cluster {cluster.address}"
            for i in range(4):
                reply = httpx.post(f"{server.url}/chat/completions", timeout=60,
                                   json={"messages": [{"role": "user", "content": f"question {i}"}]})
                assert reply.status_code == 200, reply.text
                assert reply.json()["usage"]["calls"] == 2
            # the two replicas run under the workers' raylets, none under the head's
            raylets = [pid for pid in descendants() if _cmdline(pid).startswith(_RAYLET)]
            on_head = [pid for pid in raylets if " --head" in _cmdline(pid)]
            replicas = {pid: raylet for raylet in raylets for pid in descendants(raylet) if "ServeReplica" in _cmdline(pid)}
            assert len(raylets) == 3 and len(on_head) == 1
            assert len(replicas) == 2 and on_head[0] not in replicas.values()
            found = listeners(descendants())
            assert found and all(on_loopback(address) for _, address in found), found
        finally:
            server.stop()
        assert not ray.is_initialized()  # disconnected, not shut down: the cluster runs on
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        assert "archon-on-cluster" not in serve.status().applications
        ray.shutdown()
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
