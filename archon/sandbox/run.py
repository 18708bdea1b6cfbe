"""Run untrusted Python in a separate, limited process and report what happened.

Why this shape: model-written code (HumanEval/MBPP candidates, generated unit tests) must never
run in archon's own process, see its API keys, reach the network, fill the disk, fork without
bound or outlive its time. Each run gets:

* its own process group (``start_new_session``), killed as a group on timeout, plus a sweep of
  every process still owned by the run's private uid (catches programs that ``setsid`` away);
* CPU-time, address-space, file-size, process-count, open-file and core limits (``setrlimit``);
* an empty environment (only a minimal ``PATH``/locale) and ``python -I -S``;
* a private temporary working directory, deleted afterwards;
* where the OS allows (root on Linux): a fresh unprivileged uid per run (so ``RLIMIT_NPROC`` and
  file permissions bind), a network namespace with no interfaces up, and a mount namespace in
  which ``/tmp`` (the work dir) and the other world-writable places are folders of one private,
  size-limited tmpfs, so the total written is capped as well as each file.

:func:`capabilities` says which of these the machine grants; each :class:`SandboxResult` lists
the ones that were in force for that run.
"""

from __future__ import annotations

import collections
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from archon.errors import SandboxError, UsageError

__all__ = ["SandboxResult", "Status", "run_python", "capabilities", "Capabilities"]

Status = Literal["ok", "error", "timeout", "memory", "killed"]

_LAUNCHER = str(Path(__file__).with_name("_launch.py"))
_LAUNCH_ERROR_EXIT = 125
_LAUNCH_ERROR_MARK = "archon-sandbox-launch-error:"
#: Private uids are drawn from here; far above any uid a distribution hands out.
_UID_BASE = 1_600_000_000
_UID_SPAN = 1 << 24
_SCRATCH_MOUNTS = ("/var/tmp", "/dev/shm", "/run/lock", "/run/shm")
_MINIMAL_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "HOME": "/tmp"}


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did.

    ``status``: ``ok`` (exit 0), ``error`` (non-zero exit), ``timeout`` (wall clock or CPU time
    ran out), ``memory`` (the address-space limit was hit: a ``MemoryError`` or a failed
    allocation), ``killed`` (ended by a signal). A write past the file-size limit fails inside Python
    (it ignores SIGXFSZ), so that is ``error`` with ``limit="file_size"``. ``limit`` names the
    limit that ended it (``wall``, ``cpu``, ``memory``, ``file_size``) when one did.
    ``stdout``/``stderr`` keep the head and tail of long output; ``truncated`` says so.
    ``isolation`` lists the isolation features that were in force.
    """

    status: Status
    returncode: int | None
    stdout: str
    stderr: str
    duration: float
    limit: str | None = None
    truncated: bool = False
    isolation: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Capabilities:
    """Which isolation features this machine grants (probed once per process).

    ``uid``: each run under a fresh unprivileged uid (needs root) -> RLIMIT_NPROC and file
    permissions bind, leftovers can be swept by uid. ``network``: a private network namespace.
    ``filesystem``: a private mount namespace (work dir as /tmp, private scratch mounts,
    interpreter exposed read-only). ``user_namespace``: the unprivileged route to ``network``.
    ``notes`` explains anything that is not enforced.
    """

    uid: bool
    network: bool
    filesystem: bool
    user_namespace: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def features(self) -> tuple[str, ...]:
        names = ("uid", "network", "filesystem", "user_namespace")
        return tuple(n for n in names if getattr(self, n))

    def as_dict(self) -> dict[str, object]:
        return {
            "uid": self.uid,
            "network": self.network,
            "filesystem": self.filesystem,
            "user_namespace": self.user_namespace,
            "rlimits": ["cpu", "address_space", "file_size", "nproc", "nofile", "core"],
            "notes": list(self.notes),
        }


_caps_lock = threading.Lock()
_caps: Capabilities | None = None


def _interpreter() -> tuple[str, str]:
    """The base interpreter (not a venv shim: the sandbox gets no site-packages) and its prefix."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return exe, os.path.realpath(sys.base_prefix)


def _probe(features: tuple[str, ...]) -> tuple[bool, str]:
    """Run a trivial program with ``features`` requested; True when the launcher managed."""
    try:
        res = _run(
            "import socket\ns = socket.socket()\nprint(s.connect_ex(('127.0.0.1', 9)))",
            features=features,
            stdin=None,
            timeout=20,
            memory_mb=256,
            cpu_seconds=10,
            max_processes=8,
            max_file_mb=1,
            max_disk_mb=4,
            max_output=4096,
            nofile=32,
        )
    except SandboxError as exc:
        return False, str(exc)
    return res.status == "ok", (res.stderr or res.stdout).strip()[-300:]


def capabilities(*, refresh: bool = False) -> Capabilities:
    """Probe (once) which isolation features work here, by actually running the launcher."""
    global _caps
    with _caps_lock:
        if _caps is not None and not refresh:
            return _caps
        notes: list[str] = []
        if sys.platform != "linux":
            _caps = Capabilities(False, False, False, False, ("not Linux: rlimits and process groups only",))
            return _caps
        if os.geteuid() == 0:
            full = ("uid", "network", "filesystem")
            ok, why = _probe(full)
            if ok:
                _caps = Capabilities(True, True, True, False)
                return _caps
            notes.append(f"full isolation refused ({why}); trying parts")
            uid_ok = _probe(("uid",))[0]
            net_ok = _probe(("uid", "network") if uid_ok else ("network",))[0]
            fs_ok = _probe(tuple(f for f, on in (("uid", uid_ok), ("network", net_ok)) if on) + ("filesystem",))[0]
            _caps = Capabilities(uid_ok, net_ok, fs_ok, False, tuple(notes))
            return _caps
        notes.append("not root: runs under your own uid; RLIMIT_NPROC is set to your current process count plus the budget")
        ns_ok, why = _probe(("user_namespace", "network"))
        if not ns_ok:
            notes.append(f"no unprivileged user namespace ({why}): network is NOT isolated")
        notes.append("without root no private mount namespace: the program can write wherever your user can, "
                     "and only each file's size is capped, not the total")
        _caps = Capabilities(False, ns_ok, False, ns_ok, tuple(notes))
        return _caps


def run_python(
    code: str,
    *,
    stdin: str | None = None,
    timeout: float = 10.0,
    memory_mb: int = 512,
    cpu_seconds: int | None = None,
    max_processes: int = 32,
    max_file_mb: int = 16,
    max_disk_mb: int = 64,
    max_output: int = 64_000,
) -> SandboxResult:
    """Run ``code`` as ``main.py`` in a sandbox; never raises for what the code does.

    ``timeout`` is wall-clock seconds; ``cpu_seconds`` defaults to the timeout rounded up.
    ``max_processes`` bounds processes (and threads) of the run. ``max_file_mb`` caps each file
    and, where the ``filesystem`` feature is on, ``max_disk_mb`` caps everything written in total
    (one private tmpfs; it is memory, so it also counts against the host's RAM while the run
    lasts). ``max_output`` bytes of each
    stream are kept (head and tail). Raises :class:`SandboxError` only when the sandbox itself
    cannot start.
    """
    if timeout <= 0:
        raise UsageError("timeout must be positive")
    cpu = cpu_seconds if cpu_seconds is not None else max(1, int(timeout + 0.999))
    return _run(
        code,
        features=capabilities().features,
        stdin=stdin,
        timeout=timeout,
        memory_mb=memory_mb,
        cpu_seconds=cpu,
        max_processes=max_processes,
        max_file_mb=max_file_mb,
        max_disk_mb=max(max_disk_mb, max_file_mb),
        max_output=max_output,
        nofile=256,
    )


class _Capture:
    """Drains a pipe, keeping the first and last ``limit/2`` bytes (so a traceback at the end of
    a flood of output survives) without holding the flood in memory."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.head = bytearray()
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_len = 0
        self.half = max(1, limit // 2)
        self.dropped = 0
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        try:
            while True:
                chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
                if not chunk:
                    break
                if len(self.head) < self.half:
                    take = self.half - len(self.head)
                    self.head += chunk[:take]
                    chunk = chunk[take:]
                if chunk:
                    self.tail.append(chunk)
                    self.tail_len += len(chunk)
                    while self.tail_len - len(self.tail[0]) >= self.half:
                        self.dropped += len(self.tail[0])
                        self.tail_len -= len(self.tail.popleft())
        except (OSError, ValueError):
            pass
        finally:
            try:
                stream.close()
            except OSError:
                pass

    def text(self) -> tuple[str, bool]:
        tail = b"".join(self.tail)
        if self.tail_len > self.half:
            self.dropped += self.tail_len - self.half
            tail = tail[-self.half :]
        truncated = self.dropped > 0
        body = bytes(self.head)
        if truncated:
            body += f"\n...[{self.dropped} bytes omitted]...\n".encode()
        body += tail
        return body.decode("utf-8", "replace"), truncated


def _uid_processes(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def _sweep_uid(uid: int, gid: int) -> None:
    """Kill every process still running as the run's private uid (escapees that left the
    process group). ``kill(-1)`` from a process with that uid reaches exactly those."""
    for _ in range(5):
        if not _uid_processes(uid):
            return
        subprocess.run(
            [_interpreter()[0], "-I", "-S", "-c",
             f"import os\nos.setgroups([]); os.setgid({gid}); os.setuid({uid})\n"
             "try:\n os.kill(-1, 9)\nexcept ProcessLookupError:\n pass"],
            env=dict(_MINIMAL_ENV), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=30, check=False,
        )
        time.sleep(0.05)


def _run(
    code: str,
    *,
    features: tuple[str, ...],
    stdin: str | None,
    timeout: float,
    memory_mb: int,
    cpu_seconds: int,
    max_processes: int,
    max_file_mb: int,
    max_disk_mb: int,
    max_output: int,
    nofile: int,
) -> SandboxResult:
    interpreter, prefix = _interpreter()
    control = tempfile.mkdtemp(prefix="archon-sbx-")
    os.chmod(control, 0o711)
    work = os.path.join(control, "work")
    os.mkdir(work, 0o700)
    uid: int | None = None
    gid: int | None = None
    if "uid" in features:
        uid = gid = _UID_BASE + secrets.randbelow(_UID_SPAN)
        os.chown(work, uid, gid)
    with open(os.path.join(work, "main.py"), "w", encoding="utf-8") as fh:
        fh.write(code)
    if uid is not None and gid is not None:
        os.chown(os.path.join(work, "main.py"), uid, gid)
    cfg = {
        "features": list(features),
        "work_dir": work,
        "stage_dir": os.path.join(control, "stage"),
        "disk_dir": os.path.join(control, "disk"),
        "max_disk_mb": max(1, max_disk_mb),
        "interpreter": interpreter,
        "interpreter_prefix": prefix,
        "uid": uid,
        "gid": gid,
        "max_file_mb": max(1, max_file_mb),
        "scratch_mounts": list(_SCRATCH_MOUNTS),
        "env": dict(_MINIMAL_ENV) if "filesystem" in features else {**_MINIMAL_ENV, "HOME": work},
        "args": ["main.py"],
        "limits": {
            "cpu": max(1, int(cpu_seconds)),
            "as_bytes": int(memory_mb) * 1024 * 1024,
            "fsize_bytes": int(max_file_mb) * 1024 * 1024,
            "nproc": max(1, int(max_processes)),
            "nofile": nofile,
        },
    }
    start = time.monotonic()
    try:
        try:
            proc = subprocess.Popen(
                [interpreter, "-I", "-S", _LAUNCHER, json.dumps(cfg)],
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(_MINIMAL_ENV),
                cwd=control,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start the sandbox: {exc}") from exc
        assert proc.stdout is not None and proc.stderr is not None  # both are PIPE above
        out = _Capture(proc.stdout, max_output)
        err = _Capture(proc.stderr, max_output)
        if stdin is not None:
            threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        # Kill the whole group even on a normal exit: children may linger behind the main program.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        duration = time.monotonic() - start
        if uid is not None and gid is not None:
            _sweep_uid(uid, gid)
        out.thread.join(timeout=5)
        err.thread.join(timeout=5)
        stdout, t1 = out.text()
        stderr, t2 = err.text()
    finally:
        shutil.rmtree(control, ignore_errors=True)

    rc = proc.returncode
    if rc == _LAUNCH_ERROR_EXIT and _LAUNCH_ERROR_MARK in stderr:
        raise SandboxError(stderr.split(_LAUNCH_ERROR_MARK, 1)[1].strip().splitlines()[0])
    status, limit = _classify(rc, timed_out, stderr)
    return SandboxResult(status, rc, stdout, stderr, duration, limit, t1 or t2, tuple(features))


def _feed(pipe: IO[bytes], text: str) -> None:
    try:
        pipe.write(text.encode("utf-8"))
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _classify(rc: int | None, timed_out: bool, stderr: str) -> tuple[Status, str | None]:
    if timed_out:
        return "timeout", "wall"
    if rc == -signal.SIGXCPU:  # the soft CPU limit; the hard one (a second later) is a SIGKILL
        return "timeout", "cpu"
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if rc and ("MemoryError" in last or "Cannot allocate memory" in last or "std::bad_alloc" in last):
        return "memory", "memory"
    if rc == -signal.SIGXFSZ:
        return "killed", "file_size"
    if rc and ("File too large" in last or "No space left on device" in last):
        return "error", "file_size"  # Python ignores SIGXFSZ: the write fails with EFBIG instead
    if rc is not None and rc < 0:
        return "killed", None
    if rc:
        return "error", None
    return "ok", None
