"""The one interface every backend implements, and the request/result records of a call.

Nothing above ``archon.backends`` knows which backend serves a model: components build
:class:`CallRequest` objects and hand batches of them to :class:`archon.backends.Client`, which
routes each to its model's backend, consults the cache, retries, and accounts for cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

__all__ = ["Backend", "CallRequest", "CallResult", "Usage"]


@dataclass(frozen=True)
class CallRequest:
    """One request to one model.

    ``model`` is the name of a model in the spec's ``models:`` section (or ``local/smollm2``).
    ``sample_index`` distinguishes the i-th sample of the same prompt; with ``seed`` derived from
    it, "sample 3 of this prompt" is the same call, and the same cache entry, in every trial.
    ``response_format`` is a JSON schema the backend should constrain output to, where it can.
    ``tag`` says what the call is for (``generate``, ``rank``, ...): accounting only, not hashed.
    ``logprobs`` asks for the answer's mean token log-probability (``CallResult.mean_logprob``),
    where the backend can give it (the local engine does); it does not change the answer.
    """

    model: str
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    sample_index: int = 0
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tag: str = ""
    logprobs: bool = False

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0


@dataclass
class CallResult:
    """What came back. ``error`` is set (and ``text`` empty) when the call failed for good.

    ``cached`` is true when served from the call cache: its ``usage`` is the original call's
    usage (counted as *saved*, not spent). ``mean_logprob`` is the mean log-probability of the
    answer's tokens when the request asked for it (``logprobs=True``) and the backend gives it.
    """

    text: str
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0
    cached: bool = False
    error: str | None = None
    finish_reason: str | None = None
    mean_logprob: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


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
