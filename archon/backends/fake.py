"""A scripted, deterministic stand-in for a model, for fast tests of everything above backends.

:class:`ScriptedModel` decides *what* a model says: rules tried in order (a regex searched in the
last user message, or a predicate on the whole request), each answering with a fixed string, a
list of strings picked by ``sample_index`` (so samples of one prompt differ on purpose), or a
function of the request. With no matching rule it answers a deterministic text derived from a
hash of the model name, messages and seed, so different samples differ and reruns agree.

:class:`FakeBackend` serves any number of models with one script, counts and records calls, and
injects failures on request (retryable, permanent, hangs) so retry and isolation paths can be
tested without a network.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Pattern, Sequence, Union

from archon.backends.records import CallRequest, CallResult, Usage
from archon.errors import BackendError, RetryableBackendError, UsageError

__all__ = [
    "FakeBackend",
    "Failure",
    "ScriptedModel",
    "default_text",
    "get_script",
    "register_script",
]

Response = Union[str, Sequence[str], Callable[[CallRequest], str]]
Matcher = Union[str, Pattern[str], Callable[[CallRequest], bool]]

_WORDS = (
    "amber", "birch", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "iris", "juniper",
    "kelp", "lumen", "maple", "nectar", "onyx", "pollen", "quartz", "ripple", "sable", "tundra",
)


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def default_text(request: CallRequest) -> str:
    """Deterministic filler: the same request gives the same text, another seed another text."""
    d = _digest(request.model, request.messages, request.seed, request.sample_index)
    words = [_WORDS[int(d[i : i + 2], 16) % len(_WORDS)] for i in range(0, 8, 2)]
    last_user = next((c for r, c in reversed(request.messages) if r == "user"), "")
    head = " ".join(last_user.split()[:8])
    return f"{' '.join(words)} (re: {head}) #{d[:6]}"


def _count_tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


class ScriptedModel:
    """What a fake model answers.

    ``rules``: a mapping or a sequence of ``(matcher, response)`` pairs, tried in order.
    A matcher is a regex (searched in the last user message, ``re.S``) or a predicate on the
    request. A response is a string, a sequence of strings (index ``sample_index`` modulo its
    length), or a function of the request. ``default`` answers when no rule matches (a response
    as above; by default :func:`default_text`).

    ``logprob`` scripts the mean token log-probability returned to requests that ask for it
    (``CallRequest.logprobs``): a number, or a function of the request and the answer's text
    (None: no log-probability). By default a deterministic value in [-2, 0] derived from the
    request and the text.
    """

    def __init__(
        self,
        rules: Mapping[Matcher, Response] | Sequence[tuple[Matcher, Response]] | None = None,
        *,
        default: Response | None = None,
        logprob: float | Callable[[CallRequest, str], float | None] | None = None,
    ) -> None:
        pairs = list(rules.items()) if isinstance(rules, Mapping) else list(rules or [])
        self._rules: list[tuple[Callable[[CallRequest], bool], Response]] = []
        for matcher, response in pairs:
            self._rules.append((self._compile(matcher), response))
        self._default: Response = default if default is not None else default_text
        self._logprob = logprob

    def logprob(self, request: CallRequest, text: str) -> float | None:
        """The mean token log-probability of ``text`` as the answer to ``request``."""
        if self._logprob is None:
            return -int(_digest(request.model, request.messages, request.seed, text)[:4], 16) / 0xFFFF * 2
        if callable(self._logprob):
            value = self._logprob(request, text)
            return None if value is None else float(value)
        return float(self._logprob)

    @staticmethod
    def _compile(matcher: Matcher) -> Callable[[CallRequest], bool]:
        if callable(matcher) and not isinstance(matcher, (str, re.Pattern)):
            return matcher
        pattern = re.compile(matcher, re.S) if isinstance(matcher, str) else matcher

        def match(req: CallRequest) -> bool:
            last_user = next((c for r, c in reversed(req.messages) if r == "user"), "")
            return pattern.search(last_user) is not None

        return match

    @staticmethod
    def _render(response: Response, request: CallRequest) -> str:
        if isinstance(response, str):
            return response
        if callable(response):
            return str(response(request))
        items = list(response)
        if not items:
            raise UsageError("a scripted response list must not be empty")
        return str(items[request.sample_index % len(items)])

    def respond(self, request: CallRequest) -> str:
        for match, response in self._rules:
            if match(request):
                return self._render(response, request)
        return self._render(self._default, request)


@dataclass
class Failure:
    """One injected failure rule: the next ``times`` calls matching ``when`` fail with ``kind``.

    kind: ``retryable`` (RetryableBackendError, with ``retry_after``), ``permanent``
    (BackendError) or ``hang`` (never answers: exercises the client's timeout).
    ``times=None`` fails every matching call forever.
    """

    kind: str = "retryable"
    times: int | None = 1
    when: Callable[[CallRequest], bool] | None = None
    retry_after: float | None = None
    message: str = "injected failure"
    status: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("retryable", "permanent", "hang"):
            raise UsageError(f"unknown failure kind {self.kind!r}")


_SCRIPTS: dict[str, ScriptedModel] = {}
_SCRIPTS_LOCK = threading.Lock()


def register_script(name: str, model: ScriptedModel) -> None:
    """Make ``model`` the script of spec models ``{kind: fake, model: <name>}``."""
    with _SCRIPTS_LOCK:
        _SCRIPTS[name] = model


def get_script(name: str) -> ScriptedModel:
    """The registered script ``name``; unknown names get the default deterministic script."""
    with _SCRIPTS_LOCK:
        return _SCRIPTS.get(name) or ScriptedModel()


@dataclass
class _Stats:
    calls: list[CallRequest] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class FakeBackend:
    """A backend that answers from a :class:`ScriptedModel`, in process, with no I/O.

    ``latency`` (seconds) is awaited per batch, which lets concurrency tests observe overlap
    (``max_in_flight``). ``batching=True`` makes the client hand it whole batches, like vLLM.
    """

    def __init__(
        self,
        script: ScriptedModel | Mapping[Matcher, Response] | Sequence[tuple[Matcher, Response]] | Callable[[CallRequest], str] | None = None,
        *,
        latency: float = 0.0,
        batching: bool = False,
        supports_structured_output: bool = False,
        max_concurrency: int | None = None,
        failures: Iterable[Failure] = (),
        name: str = "fake",
    ) -> None:
        if script is None:
            script = ScriptedModel()
        elif callable(script) and not isinstance(script, ScriptedModel):
            script = ScriptedModel(default=script)
        elif not isinstance(script, ScriptedModel):
            script = ScriptedModel(script)
        self.script: ScriptedModel = script
        self.latency = latency
        self.batching = batching
        self.supports_structured_output = supports_structured_output
        self.max_concurrency = max_concurrency
        self.name = name
        self._failures: list[Failure] = list(failures)
        self._lock = threading.Lock()
        self._stats = _Stats()
        self.closed = False

    # ------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[CallRequest]:
        """Every request that reached this backend (failed attempts included), in order."""
        with self._lock:
            return list(self._stats.calls)

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self._stats.calls)

    @property
    def batch_sizes(self) -> list[int]:
        with self._lock:
            return list(self._stats.batches)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._stats.max_in_flight

    def reset(self) -> None:
        with self._lock:
            self._stats = _Stats()

    # ------------------------------------------------------------------ failures

    def inject(self, failure: Failure | None = None, /, **kwargs: Any) -> Failure:
        """Add a failure rule (a :class:`Failure` or its fields as keywords)."""
        f = failure if failure is not None else Failure(**kwargs)
        with self._lock:
            self._failures.append(f)
        return f

    def _take_failure(self, request: CallRequest) -> Failure | None:
        with self._lock:
            for f in self._failures:
                if f.times is not None and f.times <= 0:
                    continue
                if f.when is not None and not f.when(request):
                    continue
                if f.times is not None:
                    f.times -= 1
                return f
        return None

    # ------------------------------------------------------------------ the Backend protocol

    async def complete(self, requests: Sequence[CallRequest]) -> list[CallResult]:
        with self._lock:
            self._stats.calls.extend(requests)
            self._stats.batches.append(len(requests))
            self._stats.in_flight += len(requests)
            self._stats.max_in_flight = max(self._stats.max_in_flight, self._stats.in_flight)
        try:
            failure = None
            for r in requests:
                failure = self._take_failure(r)
                if failure is not None:
                    break
            if self.latency:
                await asyncio.sleep(self.latency)
            if failure is not None:
                if failure.kind == "hang":
                    await asyncio.Event().wait()  # until the client's timeout cancels us
                if failure.kind == "retryable":
                    raise RetryableBackendError(
                        failure.message, retry_after=failure.retry_after, status=failure.status
                    )
                raise BackendError(failure.message)
            out = []
            for r in requests:
                text = self.script.respond(r)
                prompt_tokens = sum(_count_tokens(c) for _, c in r.messages)
                out.append(
                    CallResult(
                        text=text,
                        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=_count_tokens(text)),
                        latency=self.latency,
                        finish_reason="stop",
                        mean_logprob=self.script.logprob(r, text) if r.logprobs else None,
                    )
                )
            return out
        finally:
            with self._lock:
                self._stats.in_flight -= len(requests)

    async def aclose(self) -> None:
        self.closed = True
