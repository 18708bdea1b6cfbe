"""Running totals of a client's calls, safe to update from many tasks and threads at once."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import asdict, dataclass

from archon.backends.records import CallResult, Cost

__all__ = ["Meter", "MeterSnapshot"]


@dataclass(frozen=True)
class MeterSnapshot:
    """A consistent copy of a :class:`Meter`'s totals.

    ``requests`` = every result handed back; ``calls`` = results that came from a model (not the
    cache), failed ones included; ``cache_hits`` = results served from the cache (or coalesced
    with an identical request in the same batch); ``retries`` = extra attempts after a retryable
    fault (a batched attempt counts once per request in it).
    """

    requests: int = 0
    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0
    saved_prompt_tokens: int = 0
    saved_completion_tokens: int = 0
    saved_dollars: float = 0.0
    latency: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def saved_tokens(self) -> int:
        return self.saved_prompt_tokens + self.saved_completion_tokens

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class Meter:
    """Totals over every result a :class:`~archon.backends.Client` returned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._s = MeterSnapshot()

    def record(self, result: CallResult) -> None:
        u = result.usage
        with self._lock:
            s = self._s
            if result.cached:
                self._s = dataclasses.replace(
                    s,
                    requests=s.requests + 1,
                    cache_hits=s.cache_hits + 1,
                    saved_prompt_tokens=s.saved_prompt_tokens + u.prompt_tokens,
                    saved_completion_tokens=s.saved_completion_tokens + u.completion_tokens,
                    saved_dollars=s.saved_dollars + u.dollars,
                )
            else:
                self._s = dataclasses.replace(
                    s,
                    requests=s.requests + 1,
                    calls=s.calls + 1,
                    failures=s.failures + (0 if result.ok else 1),
                    prompt_tokens=s.prompt_tokens + u.prompt_tokens,
                    completion_tokens=s.completion_tokens + u.completion_tokens,
                    dollars=s.dollars + u.dollars,
                    latency=s.latency + result.latency,
                )

    def record_retries(self, n: int = 1) -> None:
        with self._lock:
            self._s = dataclasses.replace(self._s, retries=self._s.retries + n)

    def snapshot(self) -> MeterSnapshot:
        with self._lock:
            return self._s

    def cost(self) -> Cost:
        """The totals as a :class:`Cost` (what the executor and the search add up)."""
        s = self.snapshot()
        return Cost(
            calls=s.calls,
            cached_calls=s.cache_hits,
            prompt_tokens=s.prompt_tokens,
            completion_tokens=s.completion_tokens,
            dollars=s.dollars,
            saved_dollars=s.saved_dollars,
            saved_tokens=s.saved_tokens,
            latency=s.latency,
            failed_calls=s.failures,
        )

    def __getattr__(self, name: str) -> float | int:
        # meter.calls, meter.cache_hits, ... read the current totals
        if name.startswith("_"):
            raise AttributeError(name)
        snap = self.snapshot()
        try:
            return getattr(snap, name)
        except AttributeError:
            raise AttributeError(f"'Meter' object has no attribute {name!r}") from None

    def __repr__(self) -> str:
        return f"Meter({self.snapshot()})"
