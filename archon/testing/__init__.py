"""Test doubles shipped with archon, for its own tests and for users' tests.

The scripted fake is a backend kind (``kind: fake``), so it lives in :mod:`archon.backends.fake`;
it is re-exported here, where tests look for it.

- :class:`FakeBackend` / :class:`ScriptedModel`: a deterministic scripted model, in process.
  ``Client.from_spec(spec, fake=FakeBackend(...))`` serves every model with it; a spec model
  ``{kind: fake, model: <script name>}`` uses a script registered with :func:`register_script`.
- :class:`TestServer` (``archon.testing.server``): a real OpenAI-compatible HTTP server on
  127.0.0.1 with configurable latency, a concurrency limit and injected faults.
- ``archon.testing.ray_cluster.LoopbackCluster``: a multi-node Ray cluster on 127.0.0.1 whose
  worker nodes can be denied folders of the driver's (own mount namespaces; needs root).
"""

from __future__ import annotations

from archon.backends.fake import FakeBackend, Failure, ScriptedModel, default_text, get_script, register_script
from archon.testing.server import Fault, TestServer

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

