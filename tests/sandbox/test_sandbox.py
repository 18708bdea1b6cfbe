"""The sandbox contains what untrusted code tries: each test is an escape attempt with the
precise outcome asserted. Isolation features the machine does not grant are skipped, by name."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from archon.sandbox import capabilities, run_python

CAPS = capabilities()
needs_uid = pytest.mark.skipif(not CAPS.uid, reason="needs root: per-run uid isolation")
needs_net = pytest.mark.skipif(not CAPS.network, reason="network namespace not permitted here")
needs_fs = pytest.mark.skipif(not CAPS.filesystem, reason="mount namespace not permitted here")


def test_plain_run_returns_output_and_ok():
    res = run_python("import sys\nprint('hi', sys.stdin.read().upper())", stdin="abc")
    assert res.status == "ok" and res.returncode == 0
    assert res.stdout == "hi ABC\n"
    assert res.duration > 0


def test_exception_is_error_with_traceback():
    res = run_python("raise ValueError('boom')")
    assert res.status == "error" and res.returncode == 1
    assert "ValueError: boom" in res.stderr


def test_environment_secret_is_not_visible(monkeypatch):
    secret = "sk-" + uuid.uuid4().hex
    monkeypatch.setenv("ARCHON_TEST_SECRET_KEY", secret)
    code = (
        "import os\n"
        "print(sorted(os.environ))\n"
        "print(os.environ.get('ARCHON_TEST_SECRET_KEY'))\n"
        "for pid in (os.getppid(), 1):\n"
        "    try:\n"
        "        print(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "    except OSError as e:\n"
        "        print('denied', type(e).__name__)\n"
    )
    res = run_python(code)
    assert res.status == "ok", res.stderr
    assert secret not in res.stdout and secret not in res.stderr
    lines = res.stdout.splitlines()
    assert set(eval(lines[0])) <= {"PATH", "LC_ALL", "LANG", "HOME"}  # noqa: S307 - our own output
    assert lines[1] == "None"
    if CAPS.uid:
        assert lines[2].startswith("denied") and lines[3].startswith("denied")


@needs_fs
def test_write_to_host_tmp_lands_in_private_dir_and_vanishes():
    name = f"archon-escape-{uuid.uuid4().hex}"
    host_path = Path("/tmp") / name
    res = run_python(f"open('/tmp/{name}', 'w').write('x')\nimport os\nprint(os.listdir('/tmp'))")
    assert res.status == "ok", res.stderr
    assert name in res.stdout  # it saw its own file in its private /tmp ...
    assert not host_path.exists()  # ... which was never the host's /tmp


@needs_uid
def test_write_into_repository_is_denied():
    target = Path(__file__).resolve().parent / f"escape-{uuid.uuid4().hex}.txt"
    res = run_python(f"open({str(target)!r}, 'w').write('x')")
    assert res.status == "error"
    assert "PermissionError" in res.stderr or "Read-only" in res.stderr or "No such file" in res.stderr
    assert not target.exists()


def test_file_size_limit_stops_writer():
    res = run_python("f = open('big', 'wb')\nwhile True:\n    f.write(b'x' * 65536)", max_file_mb=1, timeout=20)
    assert res.status == "error" and res.limit == "file_size"
    assert "File too large" in res.stderr


@needs_fs
def test_many_files_together_cannot_exceed_the_disk_quota():
    # each file stays under the per-file cap; /tmp and /dev/shm share one quota for the total
    code = (
        "import os, errno\n"
        "written = 0\n"
        "try:\n"
        "    for k in range(100):\n"
        "        for where in ('/tmp', '/dev/shm'):\n"
        "            with open(f'{where}/f{k}', 'wb') as fh:\n"
        "                fh.write(b'x' * (1 << 20))\n"
        "            written += 1\n"
        "except OSError as exc:\n"
        "    print('stopped', errno.errorcode.get(exc.errno), written)\n"
    )
    res = run_python(code, max_file_mb=2, max_disk_mb=8, timeout=20)
    assert res.status == "ok", res.stderr
    word, code_name, written = res.stdout.split()
    assert word == "stopped" and code_name == "ENOSPC"
    assert 4 <= int(written) <= 8  # MiB files, 8 MiB in total across both places


def test_infinite_loop_times_out_and_is_killed():
    res = run_python("while True:\n    pass", timeout=1.5, cpu_seconds=30)
    assert res.status == "timeout" and res.limit == "wall"
    assert res.returncode == -9


def test_cpu_limit_stops_a_busy_loop_before_the_wall_clock():
    res = run_python("while True:\n    pass", timeout=60, cpu_seconds=1)
    assert res.status == "timeout" and res.limit == "cpu"


def test_sleeping_child_processes_are_killed_with_the_group():
    marker = uuid.uuid4().hex
    code = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)  # {marker}'])\n"
        "print(p.pid, flush=True)\n"
    )
    res = run_python(code, timeout=10)
    assert res.status == "ok", res.stderr
    assert not _processes_with(marker)


def test_allocating_ten_gigabytes_is_a_memory_outcome():
    res = run_python("x = bytearray(10 * 1024 ** 3)\nprint('allocated')", memory_mb=256)
    assert res.status == "memory" and res.limit == "memory"
    assert "allocated" not in res.stdout


@needs_uid
def test_fork_count_is_bounded_by_the_process_limit():
    code = (
        "import os, time\n"
        "n = 0\n"
        "for _ in range(500):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(600)\n"
        "        os._exit(0)\n"
        "    n += 1\n"
        "print(n, flush=True)\n"
    )
    res = run_python(code, max_processes=16, timeout=20)
    assert res.status == "ok", res.stderr
    forked = int(res.stdout.strip())
    assert 1 <= forked < 16  # the parent counts against the limit too


@needs_uid
def test_fork_bomb_is_contained_and_leaves_nothing_behind():
    marker = uuid.uuid4().hex
    code = f"import os\n# {marker}\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    res = run_python(code, max_processes=16, timeout=2, cpu_seconds=30)
    assert res.status == "timeout" and res.limit == "wall"
    assert not _processes_with(marker)


@needs_uid
def test_setsid_escapee_is_swept():
    marker = uuid.uuid4().hex
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    os.execv('/bin/sleep', ['/bin/sleep', '600', '{marker}'])\n"
        "time.sleep(0.2)\n"
    )
    res = run_python(code, timeout=10)
    assert res.status == "ok", res.stderr
    assert not _processes_with(marker)


@needs_net
def test_socket_to_local_listener_fails():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted: list[object] = []
    server.settimeout(3)

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    t = threading.Thread(target=accept)
    t.start()
    try:
        code = (
            "import socket\n"
            "s = socket.socket()\n"
            "s.settimeout(2)\n"
            f"print(s.connect_ex(('127.0.0.1', {port})))\n"
        )
        res = run_python(code)
    finally:
        t.join()
        server.close()
    assert res.status == "ok", res.stderr
    assert int(res.stdout.strip()) != 0  # ENETUNREACH in an empty namespace
    assert accepted == []


def test_long_output_is_truncated_keeping_head_and_tail():
    res = run_python("print('HEAD')\nfor i in range(200000):\n    print('x' * 50)\nprint('TAIL')", max_output=10_000)
    assert res.status == "ok"
    assert res.truncated
    assert res.stdout.startswith("HEAD") and res.stdout.rstrip().endswith("TAIL")
    assert len(res.stdout) < 12_000


def test_work_dir_is_removed_afterwards():
    res = run_python("import os\nprint(os.path.realpath('.'))")
    assert res.status == "ok"
    before = {p.name for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("archon-sbx-*")}
    # every run removes its own control dir: nothing of ours stays from the run above
    res2 = run_python("pass")
    after = {p.name for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("archon-sbx-*")}
    assert res2.status == "ok"
    assert after <= before


def test_capabilities_report_is_consistent():
    report = CAPS.as_dict()
    assert set(report) >= {"uid", "network", "filesystem", "rlimits", "notes"}
    res = run_python("pass")
    assert set(res.isolation) == set(CAPS.features)


def _processes_with(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(int(name))
            except OSError:
                pass
    return found
