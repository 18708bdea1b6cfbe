"""A pipeline behind an OpenAI-compatible HTTP endpoint, deployed with Ray Serve.

    from archon.serve import serve_pipeline
    with serve_pipeline("runs/capitals/best.yaml", port=8000) as server:
        print(server.url)          # http://127.0.0.1:8000/v1, for any OpenAI client
        server.wait()              # until Ctrl-C

The command line: ``archon serve PIPELINE.yaml`` (docs/serving.md). Modules: ``protocol``
(requests and responses in OpenAI's shapes), ``endpoint`` (one replica's HTTP handling),
``deployment`` (the Ray Serve deployment and its request batching), ``server`` (starting and
stopping the runtime and the application).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archon.serve.deployment import Batching
    from archon.serve.server import Server, serve_pipeline

__all__ = ["Batching", "Server", "serve_pipeline"]

_LAZY = {"Batching": "archon.serve.deployment", "Server": "archon.serve.server", "serve_pipeline": "archon.serve.server"}


def __getattr__(name: str) -> Any:
    # ray.serve and starlette load on first use, so `import archon.serve` stays cheap
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archon.serve' has no attribute {name!r}")
