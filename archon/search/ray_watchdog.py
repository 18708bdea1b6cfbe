"""Stops a private Ray runtime whose driver died without shutting it down (SIGKILL, OOM kill).

Why: ``ray.init(address="local")`` starts the GCS, the raylet, the dashboard, its agents and the
workers as processes of their own. When the driver is killed, ``ray.shutdown()`` never runs and
some of them keep running: agents hold ports, and a worker in the middle of a shard keeps
calling (and paying) a model backend for a search that is gone.

How: the driver starts this module right after ``ray.init`` (detached, so it is not one of the
driver's children) and keeps the write end of its stdin pipe; nothing is ever written. The
watchdog remembers the driver's descendants (every ``POLL`` seconds, from ``/proc``, with their
start times so a recycled pid is never touched). When stdin reaches end-of-file the driver has
closed it or died. If the driver is still alive (a normal ``close()``, which calls
``ray.shutdown()`` itself), the watchdog just exits. If it is gone, every remembered descendant
still running is sent SIGKILL. Linux only (``/proc``);
elsewhere the watchdog exits at once and the driver's ``ray.shutdown()`` is all there is.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

__all__ = ["start", "stop", "watch"]

POLL = 1.0


def _children() -> dict[int, list[int]]:
    """ppid -> pids, for every process visible in /proc."""
    out: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: parse after its last ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        out.setdefault(int(fields[1]), []).append(int(name))
    return out


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2:].split()[19])  # field 22: start time in clock ticks


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every descendant of ``root`` (the watchdog itself excluded)."""
    tree = _children()
    seen: dict[int, int] = {}
    todo = list(tree.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in seen or pid == os.getpid():
            continue
        started = _start_time(pid)
        if started is not None:
            seen[pid] = started
        todo.extend(tree.get(pid, []))
    return seen


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for its parent counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] == b"Z"


def watch(driver: int) -> int:
    """Run until stdin closes; then clean up after ``driver`` if it died. Returns how many
    processes were killed."""
    known: dict[int, int] = {}
    while not _gone(driver):
        known.update(_descendants(driver))
        ready, _, _ = select.select([sys.stdin], [], [], POLL)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break
    # the pipe closes as the driver dies, a moment before /proc shows it dead (longer under load)
    deadline = time.monotonic() + 2.0
    while not _gone(driver) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _gone(driver):
        return 0  # a normal close(): ray.shutdown() has done the work
    killed = 0
    for pid, started in known.items():
        if _start_time(pid) == started:  # still the same process, not a recycled pid
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def start() -> subprocess.Popen[bytes] | None:
    """Start the watchdog for this process (None off Linux). Keep the returned object alive for
    as long as the runtime runs; ``stop()`` it after ``ray.shutdown()``."""
    if not sys.platform.startswith("linux"):
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "archon.search.ray_watchdog", str(os.getpid())],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to the driver's group must not stop the watchdog first
    )


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Tell the watchdog the runtime was shut down normally and wait for it to exit."""
    if proc is None:
        return
    if proc.stdin is not None:
        proc.stdin.close()
    proc.wait(timeout=10)  # the first process only forks the watchdog and exits


if __name__ == "__main__":
    # Detach from the driver (fork, the parent exits at once): Ray sweeps up the processes a dead
    # driver leaves behind as its children, and would take the watchdog with them before it acts.
    if os.fork() > 0:
        os._exit(0)
    watch(int(sys.argv[1]))
