"""How archon calls models: one :class:`Client` in front of every backend.

``from archon.backends import Client, CallRequest, CallResult`` is all a caller needs. The call
records (:mod:`archon.backends.records`) are what the layers above build on; which class serves
each ``kind:`` of model is :mod:`archon.backends.registry`, and the backend modules themselves
(litellm, the embedded SmolLM2, vLLM) are imported when a model of their kind is first called.
"""

from __future__ import annotations

from archon.backends.accounting import call_dollars
from archon.backends.base import Backend
from archon.backends.cache import CallCache, ModelIdentity, cache_key
from archon.backends.client import Client, request_seed
from archon.backends.meter import Meter, MeterSnapshot
from archon.backends.records import CallRequest, CallResult, Cost, Usage
from archon.backends.registry import BACKENDS, BackendKind

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendKind",
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
