"""How archon calls models: one :class:`Client` in front of every backend.

``from archon.backends import Client, CallRequest, CallResult`` is all a component needs. The
backends themselves (litellm, the embedded SmolLM2, vLLM, the fake) are imported lazily by the
client when a model first needs one, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import Any

from archon.backends.accounting import call_dollars
from archon.backends.base import Backend
from archon.backends.records import CallRequest, CallResult, Cost, Usage

__all__ = [
    "Backend",
    "CallCache",
    "CallRequest",
    "CallResult",
    "Client",
    "Cost",
    "Meter",
    "MeterSnapshot",
    "ModelIdentity",
    "Usage",
    "cache_key",
    "call_dollars",
    "request_seed",
]

_LAZY = {
    "Client": "archon.backends.client",
    "request_seed": "archon.backends.client",
    "CallCache": "archon.backends.cache",
    "ModelIdentity": "archon.backends.cache",
    "cache_key": "archon.backends.cache",
    "Meter": "archon.backends.meter",
    "MeterSnapshot": "archon.backends.meter",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archon.backends' has no attribute {name!r}")
