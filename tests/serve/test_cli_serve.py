"""``archon serve`` as a user runs it: a foreground process that answers the openai SDK, stops
cleanly on Ctrl-C (SIGINT) and leaves nothing behind even when it is SIGKILLed (the watchdog);
bad invocations are one-line errors with exit status 2 before anything starts."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from archon.cli import main
from serve_kit import descendants, free_port, listeners, on_loopback, wait_gone

ROOT = Path(__file__).resolve().parents[2]
PIPE = """\
name: demo
models:
  m: {kind: fake, model: cli-serve}
pipeline:
  - {type: generate, model: m, samples: 3, max_tokens: 16}
  - {type: vote}
"""


def _start(spec: Path, port: int, *extra: str) -> tuple[subprocess.Popen[str], "queue.Queue[str]"]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ARCHON_TEST_SERVE_KEY": "cli-key"}
    proc = subprocess.Popen([sys.executable, "-m", "archon.cli", "serve", str(spec), "--port", str(port), "--no-dashboard",
                             "--no-cache", "--api-key-env", "ARCHON_TEST_SERVE_KEY", *extra],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _wait_for(lines: "queue.Queue[str]", proc: subprocess.Popen[str], text: str, timeout: float = 180) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never printed; stderr so far:\n{''.join(seen)}")


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(PIPE)
    return path


@pytest.mark.ray
@pytest.mark.slow
def test_serve_answers_the_sdk_and_stops_on_ctrl_c(spec: Path) -> None:
    import openai

    port = free_port()
    proc, lines = _start(spec, port)
    try:
        printed = _wait_for(lines, proc, "Ctrl-C stops the server")
        assert any(f"at http://127.0.0.1:{port}/v1" in line for line in printed), printed
        started = descendants(proc.pid)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="cli-key", max_retries=0)
        reply = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content
        assert all(on_loopback(address) for _, address in listeners(started | {proc.pid}))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not wait_gone(started), "Ray processes still run after archon serve exited"


@pytest.mark.ray
@pytest.mark.slow
def test_a_killed_server_leaves_nothing_running(spec: Path) -> None:
    proc, lines = _start(spec, free_port())
    try:
        _wait_for(lines, proc, "Ctrl-C stops the server")
        started = descendants(proc.pid)
        assert started
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not wait_gone(started, timeout=90), "the watchdog did not stop the runtime of a killed server"


def test_bad_invocations_are_one_line_errors(spec: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("ARCHON_NO_SUCH_KEY", raising=False)
    assert main(["serve", str(spec), "--api-key-env", "ARCHON_NO_SUCH_KEY"]) == 2
    assert "ARCHON_NO_SUCH_KEY is not set" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(spec), "--port", str(port)]) == 2
        assert f"127.0.0.1:{port}: error: cannot listen there" in capsys.readouterr().err
    assert main(["serve", str(spec), "--replicas", "3:1"]) == 2
    assert "--replicas '3:1'" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text(PIPE.replace("samples: 3", "sampels: 3"))
    assert main(["serve", str(broken)]) == 2
    assert "broken.yaml:5:32: error: unknown key 'sampels'" in capsys.readouterr().err
