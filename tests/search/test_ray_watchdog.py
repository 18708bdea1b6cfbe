"""The watchdog of a private Ray runtime: when the driver is SIGKILLed, what it started dies too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from archon.search import ray_watchdog

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the watchdog reads /proc")

DRIVER_WITH_CHILDREN = """
import json, os, signal, subprocess, sys, time
from archon.search import ray_watchdog
kids = [subprocess.Popen(["sleep", "300"]) for _ in range(2)]
grandchild = subprocess.Popen([sys.executable, "-c", "import subprocess; subprocess.Popen(['sleep', '300']).wait()"])
dog = ray_watchdog.start()
time.sleep(3 * ray_watchdog.POLL)  # let it see the whole tree
print(json.dumps(sorted(ray_watchdog._descendants(os.getpid()))), flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
ray_watchdog.stop(dog)
time.sleep(1)
print("closed", all(k.poll() is None for k in kids), flush=True)
for k in kids:
    k.kill()
grandchild.kill()
"""


def _wait_gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if os.path.exists(f"/proc/{p}") and _state(p) != "Z"]
        time.sleep(0.2)
    return alive


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return "gone"
    return stat[stat.rfind(b")") + 2:].split()[0].decode()


def test_descendants_of_a_killed_driver_are_stopped() -> None:
    proc = subprocess.Popen([sys.executable, "-c", DRIVER_WITH_CHILDREN, "kill"], stdout=subprocess.PIPE, text=True)
    pids = json.loads(proc.stdout.readline())
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert len(pids) >= 4  # two sleeps, the grandchild's parent and the grandchild (the watchdog excluded)
    assert _wait_gone(pids) == []


def test_a_normal_close_leaves_the_driver_s_children_alone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", DRIVER_WITH_CHILDREN, "close"], stdout=subprocess.PIPE, text=True)
    pids = json.loads(proc.stdout.readline())
    assert pids
    assert proc.stdout.readline().split() == ["closed", "True"]  # still running after stop()
    proc.wait(timeout=60)
    assert proc.returncode == 0


@pytest.mark.ray
def test_a_private_ray_runtime_dies_with_its_killed_driver(tmp_path) -> None:
    pytest.importorskip("ray")
    code = f"""
import json, os, signal, time
from pathlib import Path
from archon.search.dispatch import RayDispatcher
from archon.search import ray_watchdog
d = RayDispatcher(address=None, run_dir=Path({str(tmp_path)!r}), num_cpus=1, benchmark=None)
time.sleep(3 * ray_watchdog.POLL)
print(json.dumps(sorted(ray_watchdog._descendants(os.getpid()))), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        pids = json.loads(proc.stdout.readline())
    finally:
        proc.wait(timeout=120)
    assert len(pids) >= 2  # at least the GCS and the raylet
    assert _wait_gone(pids, timeout=60) == []
