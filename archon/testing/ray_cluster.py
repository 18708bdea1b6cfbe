"""A Ray cluster of several nodes on one machine, on loopback only, whose worker nodes can be
denied the driver's files: for tests of what a real cluster does that one filesystem hides.

- The head is started the way a user starts one: ``ray start --head --block``, on 127.0.0.1,
  with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` so that every listener stays on loopback, and
  explicit free ports (nothing collides with another Ray on the machine).
- ``ray start --address`` will not add a worker node in that mode, and in the other mode it
  replaces 127.0.0.1 by the machine's routable address. So a worker node is started by this
  module's launcher (``python -m archon.testing.ray_cluster node ...``), which does what
  ``ray start --address`` does, through the same ``ray._private.node.Node`` that Ray's own
  ``ray.cluster_utils`` uses, with the node's address fixed to 127.0.0.1.
- ``hide=[paths]``: the worker node starts in a mount namespace of its own (``unshare -m``, which
  needs root) with an empty tmpfs mounted over each path, so its raylet and every worker process
  it starts see empty folders there. Network and process ids are shared with the machine.

Everything is stopped by its pid (SIGTERM, then SIGKILL of its own process group), never by name.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from archon.errors import StateError

__all__ = ["LoopbackCluster", "WorkerNode", "hiding_unavailable"]

#: the environment that keeps Ray on loopback, without tokens or usage reporting
RAY_LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def hiding_unavailable() -> str | None:
    """Why worker nodes cannot get their own mount namespace here (None: they can)."""
    if os.name != "posix" or not sys.platform.startswith("linux"):
        return "mount namespaces need Linux"
    if os.geteuid() != 0:
        return "mounting over folders in a new mount namespace (unshare -m) needs root"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "the unshare and mount commands are not installed"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "none", "/mnt"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare -m is not permitted here: {probe.stderr.strip() or probe.returncode}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """SIGTERM the process (it stops the Ray processes it started), then SIGKILL its process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own group (start_new_session): leftovers only
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=timeout)


@dataclass
class WorkerNode:
    node_id: str
    proc: subprocess.Popen[Any]
    hidden: tuple[str, ...]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        _stop(self.proc)


class LoopbackCluster:
    """A head node (``head_cpus`` CPUs, default 0: it runs no tasks) and worker nodes added with
    :meth:`add_node`; a context manager. ``address`` is the GCS address to join."""

    def __init__(self, *, head_cpus: int = 0, head_resources: dict[str, float] | None = None,
                 temp_dir: str | None = None, env: dict[str, str] | None = None,
                 system_config: dict[str, Any] | None = None) -> None:
        # Ray's unix socket paths must stay short: a temp dir of its own under /tmp
        self.temp_dir = temp_dir or tempfile.mkdtemp(prefix="archon-lc-", dir="/tmp")
        self.env = {**os.environ, **RAY_LOOPBACK_ENV, **(env or {})}
        self.head_cpus = head_cpus
        self.head_resources = dict(head_resources or {})
        self.system_config = dict(system_config or {})
        self.port = free_port()
        self.dashboard_port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.dashboard_url = f"http://127.0.0.1:{self.dashboard_port}"
        self.head: subprocess.Popen[Any] | None = None
        self.nodes: list[WorkerNode] = []

    def start(self, timeout: float = 120.0) -> LoopbackCluster:
        cmd = [
            sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            "--node-ip-address", "127.0.0.1", "--port", str(self.port),
            "--num-cpus", str(self.head_cpus), "--num-gpus", "0",
            "--temp-dir", self.temp_dir,
            "--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
            "--dashboard-agent-listen-port", str(free_port()), "--ray-client-server-port", str(free_port()),
            "--min-worker-port", "0", "--max-worker-port", "0", "--disable-usage-stats",
        ]
        if self.head_resources:
            cmd += ["--resources", json.dumps(self.head_resources)]
        if self.system_config:
            cmd += ["--system-config", json.dumps(self.system_config)]
        log = open(Path(self.temp_dir) / "head.log", "wb")  # noqa: SIM115 - the child keeps writing it
        self.head = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not self._gcs_ready():
            if self.head.poll() is not None or time.monotonic() > deadline:
                text = (Path(self.temp_dir) / "head.log").read_text(errors="replace")[-3000:]
                self.stop()
                raise StateError(f"the Ray head did not start:\n{text}")
            time.sleep(0.2)
        return self

    def _gcs_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
        except OSError:
            return False
        return "Ray runtime started" in (Path(self.temp_dir) / "head.log").read_text(errors="replace")

    def add_node(self, *, num_cpus: int = 1, resources: dict[str, float] | None = None,
                 hide: Sequence[str | os.PathLike[str]] = (), env: dict[str, str] | None = None,
                 timeout: float = 120.0) -> WorkerNode:
        """Start a worker node; with ``hide``, in its own mount namespace where those folders are empty."""
        hidden = tuple(str(Path(p).resolve()) for p in hide)
        launch = [sys.executable, "-m", "archon.testing.ray_cluster", "node", "--address", self.address,
                  "--num-cpus", str(num_cpus), "--resources", json.dumps(resources or {})]
        if hidden:
            reason = hiding_unavailable()
            if reason:
                raise StateError(f"cannot hide folders from a worker node: {reason}")
            mounts = " && ".join(f"mount -t tmpfs -o size=1m,mode=0755 archon-hidden {shlex.quote(p)}" for p in hidden)
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   f"{mounts} && exec {shlex.join(launch)}"]
        else:
            cmd = launch
        log_path = Path(self.temp_dir) / f"node-{len(self.nodes)}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - the child keeps writing it
        proc = subprocess.Popen(cmd, env={**self.env, **(env or {})}, stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True)
        log.close()
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline().decode()), daemon=True)  # type: ignore[union-attr]  # stdout=PIPE
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            _stop(proc)
            raise StateError(f"a worker node did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        node = WorkerNode(node_id=json.loads(line[0])["node_id"], proc=proc, hidden=hidden, log=log_path)
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        self.nodes = []
        if self.head is not None:
            _stop(self.head)
            self.head = None

    def __enter__(self) -> LoopbackCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------- the node launcher


def _run_node(address: str, num_cpus: int, resources: dict[str, float]) -> int:
    # lazy: Ray's private node API, needed only in the launcher process (and Ray is optional)
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    params = RayParams(
        node_ip_address="127.0.0.1", gcs_address=address, num_cpus=num_cpus, num_gpus=0, resources=resources,
        object_store_memory=150 * 1024 * 1024, min_worker_port=0, max_worker_port=0,
        # one log monitor per machine: the head's
        include_log_monitor=False,  # type: ignore[arg-type]  # Ray annotates it str | None; it is a bool
        node_manager_port=0, dashboard_agent_listen_port=None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    node = Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    print(json.dumps({"node_id": node.node_id}), flush=True)
    stop.wait()
    node.kill_all_processes(check_alive=False, allow_graceful=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archon.testing.ray_cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    node = sub.add_parser("node", help="run a Ray worker node on 127.0.0.1 until SIGTERM")
    node.add_argument("--address", required=True, help="the head's GCS address (127.0.0.1:port)")
    node.add_argument("--num-cpus", type=int, default=1)
    node.add_argument("--resources", default="{}", help="custom resources as JSON")
    args = parser.parse_args(argv)
    for key, value in RAY_LOOPBACK_ENV.items():
        os.environ.setdefault(key, value)
    return _run_node(args.address, args.num_cpus, json.loads(args.resources))


if __name__ == "__main__":
    sys.exit(main())
