"""The one interface every backend implements.

Nothing above ``archon.backends`` knows which backend serves a model: components build
:class:`~archon.backends.records.CallRequest` objects and hand batches of them to
:class:`archon.backends.Client`, which routes each to its model's backend, consults the cache,
retries, and accounts for cost. ``archon.backends.registry`` says which class serves each
``kind:`` of model entry.
"""

from __future__ import annotations

from typing import Protocol, Sequence

# The records are imported (not only for the annotations below): modules written against the
# older layout import them from here.
from archon.backends.records import CallRequest, CallResult, Usage

__all__ = ["Backend", "CallRequest", "CallResult", "Usage"]


class Backend(Protocol):
    """Serves calls for one configured model.

    ``complete`` receives a batch of requests for this backend's model and returns one result
    per request, in order. Transient faults raise :class:`archon.errors.RetryableBackendError`
    (the client retries); permanent ones raise :class:`archon.errors.BackendError`. A backend
    that can batch (vLLM) sends the whole batch at once; others may process it with bounded
    concurrency. ``supports_structured_output`` tells components whether ``response_format`` is
    honoured.
    """

    supports_structured_output: bool

    async def complete(self, requests: Sequence[CallRequest]) -> list[CallResult]: ...

    async def aclose(self) -> None: ...
