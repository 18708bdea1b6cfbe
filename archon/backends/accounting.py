"""What calls cost: dollars per call, and the :class:`Cost` summary that adds up.

Dollars come from the spec's ``price`` (dollars per million tokens) when a model has one;
otherwise, for litellm models, from litellm's bundled cost map (loaded from the wheel, never from
the network). Local, vLLM and fake models cost nothing unless the spec prices them: their cost is
hardware the user already pays for, and a price in the spec is how a user says otherwise.

A cached call is *saved*, not spent: :meth:`Cost.of` puts its tokens and dollars in the
``saved_*`` fields, so a trial served from the cache reports zero spend but still shows what its
answers would have cost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from archon.backends.base import CallResult
    from archon.spec.schema import ModelSpec

__all__ = ["Cost", "call_dollars", "litellm_dollars"]


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
        return NotImplemented  # type: ignore[return-value]

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


def call_dollars(model: ModelSpec, prompt_tokens: int, completion_tokens: int) -> float:
    """Dollars for one call of ``model`` with these token counts."""
    if model.price is not None:
        return (
            prompt_tokens * model.price.input_per_mtok + completion_tokens * model.price.output_per_mtok
        ) / 1_000_000
    if model.kind != "litellm":
        return 0.0
    return litellm_dollars(model.model, prompt_tokens, completion_tokens)


def litellm_dollars(model_id: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Dollars from litellm's local cost map; 0.0 for models it does not know (self-hosted)."""
    if prompt_tokens == 0 and completion_tokens == 0:
        return 0.0
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    try:
        p, c = litellm.cost_per_token(
            model=model_id, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # litellm raises a generic Exception for unmapped models
        return 0.0
    return float(p) + float(c)
