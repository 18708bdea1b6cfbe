"""Test doubles shipped with archon, for its own tests and for users' tests.

- :class:`FakeBackend` / :class:`ScriptedModel`: a deterministic scripted model, in process.
  ``Client.from_spec(spec, fake=FakeBackend(...))`` serves every model with it; a spec model
  ``{kind: fake, model: <script name>}`` uses a script registered with :func:`register_script`.
- :class:`TestServer` (``archon.testing.server``): a real OpenAI-compatible HTTP server on
  127.0.0.1 with configurable latency, a concurrency limit and injected faults.
"""

from __future__ import annotations

from typing import Any

from archon.testing.fake import FakeBackend, Failure, ScriptedModel, default_text, get_script, register_script

__all__ = [
    "FakeBackend",
    "Failure",
    "Fault",
    "ScriptedModel",
    "TestServer",
    "default_text",
    "get_script",
    "register_script",
]


def __getattr__(name: str) -> Any:
    if name in ("TestServer", "Fault"):
        from archon.testing import server

        return getattr(server, name)
    raise AttributeError(f"module 'archon.testing' has no attribute {name!r}")
