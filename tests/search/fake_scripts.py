"""Fake-model scripts for the search tests, registered on import (also by Ray workers and the
CLI subprocess, through ``preload`` / ``ARCHON_PRELOAD``).

``oracle`` answers the test benchmark's questions ("What is the code word for item N?") with the
right word ``wN`` with a probability that depends on the architecture: higher at temperature 0,
higher with the "careful" system prompt, and different for every sample (seed), so voting over
samples helps. Every other request (rank, critique, ...) gets the deterministic filler.
Calls are also appended to the file named by ``ARCHON_TEST_CALL_LOG`` (one line per call that
reached the backend), so a test can count calls across processes.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time

from archon.backends.base import CallRequest
from archon.testing import ScriptedModel, default_text, register_script

_Q = re.compile(r"code word for item (\d+)")


def request_digest(request: CallRequest) -> str:
    """Everything that makes a call a different call (what the cache keys on, roughly)."""
    return hashlib.sha256(
        repr((request.model, request.messages, request.temperature, request.top_p, request.max_tokens,
              request.stop, request.sample_index, request.seed)).encode()
    ).hexdigest()[:20]


def _die_once() -> None:
    """With ARCHON_TEST_DIE_ONCE=<path>: the first process to get here dies (a lost worker)."""
    marker = os.environ.get("ARCHON_TEST_DIE_ONCE")
    in_ray_worker = any("default_worker" in arg for arg in sys.argv)
    if marker and in_ray_worker:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(17)


def _log(request: CallRequest) -> None:
    _die_once()
    delay = float(os.environ.get("ARCHON_TEST_CALL_DELAY", "0") or 0)
    if delay:
        time.sleep(delay)
    path = os.environ.get("ARCHON_TEST_CALL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{request_digest(request)}\t{os.getpid()}\n")


def answer(request: CallRequest) -> str:
    _log(request)
    last = request.messages[-1][1]
    m = _Q.search(last)
    if not m:
        return default_text(request)
    n = int(m.group(1))
    system = " ".join(c for r, c in request.messages if r == "system")
    p = 55 if request.temperature == 0 else 45
    if "careful" in system.lower():
        p += 20
    h = int(hashlib.sha256(f"{n}|{request.seed}|{request.sample_index}|{request.temperature}".encode()).hexdigest()[:8], 16) % 100
    if h < p:
        return f"w{n}"
    return f"x{n}{h % 3}"


register_script("oracle", ScriptedModel(default=answer))


def _down(request: CallRequest) -> str:
    raise RuntimeError("the model server is down")


register_script("down", ScriptedModel(default=_down))  # every call fails for good
