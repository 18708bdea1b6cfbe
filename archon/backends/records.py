"""The records of a call: what is asked (:class:`CallRequest`), what came back
(:class:`CallResult` with its :class:`Usage`) and what calls add up to (:class:`Cost`).

These are the only part of ``archon.backends`` the layers above it (components, runtime,
benchmarks) build on: they make requests and read results and costs, and never learn which
backend served a call. An import-linter contract (``.importlinter``) holds the components to it.

A cached call is *saved*, not spent: :meth:`Cost.of` puts its tokens and dollars in the
``saved_*`` fields, so a trial served from the cache reports zero spend but still shows what its
answers would have cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterable

__all__ = ["CallRequest", "CallResult", "Cost", "Usage"]


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


@dataclass(frozen=True)
class Cost:
    """Totals over some calls (one query, one pipeline run, one trial...).

    ``calls`` counts calls that reached a model (successful or not, retries not counted twice);
    ``cached_calls`` counts cache hits; ``failed_calls`` those that failed for good (included in
    ``calls``). Tokens and ``dollars`` are spent; ``saved_*`` is what cache hits would have cost.
    ``latency`` is the sum of per-call latencies (not wall time: calls overlap).
    """

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0
    saved_dollars: float = 0.0
    saved_tokens: int = 0
    latency: float = 0.0
    failed_calls: int = 0

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def __radd__(self, other: object) -> Cost:
        # lets ``sum(costs)`` work: sum starts from the integer 0
        if other == 0:
            return self
        return NotImplemented

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def of(cls, result: CallResult) -> Cost:
        """The cost of one call's result."""
        u = result.usage
        if result.cached:
            return cls(
                cached_calls=1,
                saved_dollars=u.dollars,
                saved_tokens=u.prompt_tokens + u.completion_tokens,
            )
        return cls(
            calls=1,
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            dollars=u.dollars,
            latency=result.latency,
            failed_calls=0 if result.ok else 1,
        )

    @classmethod
    def total(cls, results: Iterable[CallResult]) -> Cost:
        out = cls()
        for r in results:
            out = out + cls.of(r)
        return out

    def as_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
