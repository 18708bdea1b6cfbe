"""The one object the rest of archon calls models through.

:class:`Client` routes each :class:`CallRequest` by ``request.model`` to one backend per
configured model (built lazily, on first use), and gives every backend the same services:

- **cache**: looked up first; a hit returns the stored result with ``cached=True`` and the
  original usage (counted as saved). Identical requests inside one batch are sent once.
- **seeds**: a request with ``seed=None`` gets ``seed = sample_index``. So sample *i* of a prompt
  is the same call (and cache entry) in every trial, samples of one prompt differ, and vLLM can
  serve samples ``i..i+n-1`` as one request with ``n`` samples (its child *k* uses seed+k).
  At temperature 0 (greedy) seed and sample index are dropped: every sample is one call.
- **concurrency**: at most ``ModelSpec.concurrency`` calls in flight per model (and never more
  than the backend's own ``max_concurrency``).
- **batching**: a backend with ``batching = True`` (vLLM, the local engine) receives all of a model's requests of
  one ``complete()`` in one call.
- **timeouts and retries**: each attempt is bounded by ``ModelSpec.timeout``; retryable faults
  (rate limits, 5xx, timeouts, malformed answers) are retried up to ``ModelSpec.max_retries``
  times with exponential backoff and full jitter, waiting at least the server's Retry-After
  (capped). After the last attempt the result carries ``error``: ``complete`` never raises for
  one call's failure.
- **accounting**: dollars per call from the spec's price or litellm's cost map; ``client.meter``
  holds running totals.
- **in-flight sharing**: a cache miss is leased in the cache before it is sent (in the same
  round trip as the lookup); a client (another trial, shard, worker process or cluster node)
  that needs a call someone else is sending waits for that answer instead of paying for it
  twice (archon.backends.cache; across a Ray cluster, archon.backends.cache_service).
- **replay** (``replay=True``): the cache is a replay table, read only; no backend is built and a
  request the table cannot answer raises :class:`~archon.errors.ReplayMissError` (never a call).
"""

from __future__ import annotations

import asyncio
import collections
import math
import random
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Sequence

from archon.backends.accounting import call_dollars
from archon.backends.base import Backend
from archon.backends.cache import CallCache, CallStore, ModelIdentity, cache_key, default_cache_path, lease_owner
from archon.backends.fake import FakeBackend, ScriptedModel
from archon.backends.meter import Meter
from archon.backends.records import CallRequest, CallResult, Usage
from archon.backends.registry import build_backend
from archon.errors import BackendError, ReplayMissError, RetryableBackendError, StateError, UsageError
from archon.spec.schema import LOCAL_MODEL_NAME, ModelSpec, Settings

__all__ = ["Client", "LoopThread", "local_model_spec", "request_seed"]

_UNSET: Any = object()


def _normalise(request: CallRequest) -> CallRequest:
    """The request as it is keyed and sent.

    At temperature 0 decoding is greedy: neither the seed nor the sample index can change the
    output, so every sample of a greedy prompt is the same call (sent once, then served from the
    cache or merged within the batch). Otherwise a missing seed is derived from the sample index.
    """
    if request.temperature == 0:
        if request.sample_index == 0 and request.seed == 0:
            return request
        return replace(request, sample_index=0, seed=0)
    return request if request.seed is not None else replace(request, seed=request_seed(request))


def request_seed(request: CallRequest) -> int:
    """The seed a request is sent with: its own, or else its ``sample_index``."""
    return request.seed if request.seed is not None else request.sample_index


def local_model_spec() -> ModelSpec:
    """The implicit entry behind the model name ``local/smollm2``."""
    return ModelSpec(kind="local", model="smollm2", concurrency=1, timeout=300.0)


@dataclass
class _ModelState:
    name: str
    spec: ModelSpec
    identity: ModelIdentity
    backend: Backend | None = None
    error: BaseException | None = None
    priced_by_litellm: bool = True
    warmed: bool = False
    warm_error: str | None = None


class Client:
    """Calls models for archon; see the module docstring for what it adds to a backend.

    Build it with :meth:`from_spec`. ``backends`` pre-supplies backend objects by model name
    (tests, custom transports); ``fake`` serves *every* model with one fake backend.
    ``retry_base``/``retry_cap`` shape the backoff (seconds), ``retry_after_cap`` bounds how long
    a server's Retry-After may make us wait; ``sleep`` is the coroutine used to wait (tests pass
    a recording one).
    """

    def __init__(
        self,
        models: Mapping[str, ModelSpec] | None = None,
        *,
        cache: CallStore | None = None,
        fake: FakeBackend | ScriptedModel | None = None,
        backends: Mapping[str, Backend] | None = None,
        cache_fake: bool = True,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
        retry_after_cap: float = 60.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        replay: bool = False,
        structured: Mapping[str, bool] | None = None,
    ) -> None:
        if replay and cache is None:
            raise UsageError("replay needs the replay table as the cache")
        #: replay mode: answers come from ``cache`` only; ``structured`` says, by model identity
        #: (str of ModelIdentity), whether the backend that built the table used structured output
        self.replay = replay
        self._structured = dict(structured or {})
        #: who holds an in-flight lease (archon.backends.cache): this client in this process
        self._owner = lease_owner(f"{id(self):x}")
        self._models: dict[str, ModelSpec] = dict(models or {})
        self._local_name = LOCAL_MODEL_NAME
        self.cache = cache
        self._cache_fake = cache_fake
        self._fake = self._as_fake(fake) if fake is not None else None
        self._given = dict(backends or {})
        self.meter = Meter()
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._states: dict[str, _ModelState] = {}
        self._states_lock = threading.Lock()
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._sem_loop: asyncio.AbstractEventLoop | None = None
        self._sync: LoopThread | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_spec(
        cls,
        spec: Settings | Mapping[str, ModelSpec] | None = None,
        *,
        cache: str | Path | CallStore | bool | None = None,
        cache_path: str | Path | None = _UNSET,
        fake: FakeBackend | ScriptedModel | None = None,
        **options: Any,
    ) -> Client:
        """A client for the models of ``spec`` (a :class:`Spec` or its :class:`Settings`, or a name -> ModelSpec mapping).

        Which cache (first rule that applies):
        ``cache=False`` or the spec's ``cache: false`` -> none;
        the spec's ``cache: <path>`` -> that file (the user scoped it);
        ``cache=<path>`` (alias ``cache_path=``) or a :class:`CallStore` (a :class:`CallCache`,
        the cluster's cache service) -> that;
        otherwise (``cache=None``, the default) the user-level default (``$ARCHON_CACHE`` or ``~/.cache/archon/calls.sqlite``),
        which never stores fake models' answers, so tests stay independent of each other.
        """
        if cache_path is not _UNSET and cache is None:
            cache = cache_path  # None here too means "no explicit choice": the spec decides
        models: Mapping[str, ModelSpec]
        spec_cache: bool | str = True
        if spec is None:
            models = {}
        elif isinstance(spec, Mapping):
            models = spec
        else:
            models = spec.models
            spec_cache = spec.cache
        implicit = False
        store: CallStore | None
        if options.get("replay"):
            # a replay reads its table and nothing else, whatever the spec says about caching
            if not isinstance(cache, (str, Path, CallStore)):
                raise UsageError("replay=True needs cache=<the replay table>")
            store = cache if isinstance(cache, CallStore) else CallCache(cache)
        elif cache is False or spec_cache is False:
            store = None
        elif isinstance(spec_cache, str):
            store = CallCache(spec_cache)
        elif isinstance(cache, CallStore):
            store = cache
        elif isinstance(cache, (str, Path)):
            store = CallCache(cache)
        else:
            store = CallCache(default_cache_path())
            implicit = True
        return cls(models, cache=store, fake=fake, cache_fake=not implicit, **options)

    @staticmethod
    def _as_fake(fake: Any) -> Backend:
        if isinstance(fake, ScriptedModel) or callable(fake) and not hasattr(fake, "complete"):
            return FakeBackend(fake)
        if isinstance(fake, (dict, list, tuple)):
            return FakeBackend(fake)
        return fake

    def model_spec(self, name: str) -> ModelSpec | None:
        if name in self._models:
            return self._models[name]
        if name == self._local_name:
            return local_model_spec()
        return None

    def _state(self, name: str) -> _ModelState | None:
        with self._states_lock:
            st = self._states.get(name)
            if st is not None:
                return st
            spec = self.model_spec(name)
            if spec is None:
                return None
            if self._fake is not None:
                ident = ModelIdentity(
                    "fake", f"{getattr(self._fake, 'name', 'fake')}/{spec.kind}:{spec.model}", spec.api_base
                )
            else:
                ident = ModelIdentity(spec.kind, spec.model, spec.api_base)
            st = _ModelState(name=name, spec=spec, identity=ident, priced_by_litellm=self._fake is None)
            try:
                if self.replay:
                    st.backend = None  # never built: a replay makes no call
                elif name in self._given:
                    st.backend = self._given[name]
                elif self._fake is not None:
                    st.backend = self._fake
                else:
                    st.backend = build_backend(spec)
            except Exception as exc:  # noqa: BLE001 - MissingDependencyError, bad settings: reported on each call to this model
                st.error = exc
            self._states[name] = st
            return st

    def check(self, names: Sequence[str] | None = None) -> None:
        """Build the backends of ``names`` (default: every configured model) now; raise the
        first construction error (e.g. :class:`MissingDependencyError`) instead of reporting it
        per call later."""
        for name in names if names is not None else list(self._models):
            st = self._state(name)
            if st is None:
                raise BackendError(f"unknown model {name!r}")
            if st.error is not None:
                raise st.error

    def supports_structured_output(self, model_name: str) -> bool:
        st = self._state(model_name)
        if st is not None and self.replay:
            # as the backend that answered the table said, so replayed prompts match live ones
            return bool(self._structured.get(str(st.identity), False))
        if st is None or st.backend is None:
            return False
        return bool(getattr(st.backend, "supports_structured_output", False))

    # ------------------------------------------------------------------ the main entry point

    async def complete(self, requests: Sequence[CallRequest]) -> list[CallResult]:
        """One result per request, in order. Never raises for a single call's failure."""
        reqs = [_normalise(r) for r in requests]
        results: list[CallResult | None] = [None] * len(reqs)

        # route; unknown models and unbuildable backends fail right here
        keyed: list[tuple[int, _ModelState, str]] = []
        for i, r in enumerate(reqs):
            st = self._state(r.model)
            if st is None:
                results[i] = CallResult(
                    text="", error=f"unknown model {r.model!r} (not in the spec's models: section)"
                )
            elif st.error is not None:
                results[i] = CallResult(text="", error=f"{type(st.error).__name__}: {st.error}")
            else:
                try:
                    keyed.append((i, st, cache_key(st.identity, r)))
                except (TypeError, ValueError) as exc:  # e.g. a response_format that is not JSON
                    results[i] = CallResult(text="", error=f"request cannot be encoded: {exc}")

        # cache: one round trip answers what is stored and leases the rest (a call another worker
        # is making right now is waited for, not paid twice)
        use_cache = self.cache is not None
        leased: set[str] = set()
        waiting: list[tuple[int, _ModelState, str]] = []
        if use_cache and keyed:
            cacheable = [(i, st, k) for (i, st, k) in keyed if self._cacheable(st)]
            hits: dict[str, CallResult] = {}
            mine: set[str] | None = None  # the keys this client now leases (None: no leasing)
            if cacheable:
                keys = [k for _, _, k in cacheable]
                try:
                    if self.replay:  # a replay table is read, never leased
                        hits = await asyncio.to_thread(self.cache.get_many, keys)  # type: ignore[union-attr]  # use_cache implies a cache
                    else:
                        ttl = max(self._lease_ttl(st) for _, st, _ in cacheable)
                        hits, mine = await asyncio.to_thread(self.cache.lookup, keys, self._owner, ttl)  # type: ignore[union-attr]  # use_cache implies a cache
                except Exception:  # noqa: BLE001 - an unreadable cache costs calls, never answers
                    hits, mine = {}, None
            rest = []
            for i, st, k in keyed:
                hit = hits.get(k) if self._cacheable(st) else None
                if hit is not None:
                    results[i] = replace(hit, usage=replace(hit.usage))
                elif mine is not None and self._cacheable(st) and k not in mine:
                    waiting.append((i, st, k))
                else:
                    rest.append((i, st, k))
            keyed = rest
            leased = set(mine or ())
        if self.replay and keyed:
            i, st, k = keyed[0]
            raise ReplayMissError(
                f"the replay table {self.cache.path} has no answer for a call to {st.identity} "  # type: ignore[union-attr]  # replay implies a cache
                f"(node tag {reqs[i].tag!r}, cache key {k[:16]}, {len(keyed)} such call(s) in this batch): "
                "it was built for another space, benchmark or archon version; rebuild it with "
                "`archon replay build`, or search live without --replay")

        try:
            if waiting:
                _, reclaimed = await asyncio.gather(self._send(keyed, reqs, results),
                                                    self._wait_for_others(waiting, results, leased))
                if reclaimed:
                    await self._send(reclaimed, reqs, results)
            else:
                await self._send(keyed, reqs, results)
        finally:
            if leased:
                try:
                    await asyncio.to_thread(self.cache.release_many, list(leased), self._owner)  # type: ignore[union-attr]  # leases imply a cache
                except Exception:  # noqa: BLE001 - an unreleased lease only expires
                    pass

        out: list[CallResult] = []
        for res in results:
            assert res is not None
            self.meter.record(res)
            out.append(res)
        return out

    def _cacheable(self, st: _ModelState) -> bool:
        return self._cache_fake or st.identity.kind != "fake"

    async def _send(self, keyed: list[tuple[int, _ModelState, str]], reqs: list[CallRequest],
                    results: list[CallResult | None]) -> None:
        # coalesce identical requests: with a cache, every repeat; without one (the user asked
        # for no reuse) only greedy ones, which are the same call by definition and are
        # accounted as one (archon.components.base.call_identity)
        use_cache = self.cache is not None
        leaders: dict[str, int] = {}
        followers: list[tuple[int, int]] = []
        todo: dict[str, list[tuple[int, str]]] = {}
        states: dict[str, _ModelState] = {}
        for i, st, k in keyed:
            shared = (use_cache and self._cacheable(st)) or reqs[i].temperature == 0
            if shared and k in leaders:
                followers.append((i, leaders[k]))
                continue
            leaders[k] = i
            todo.setdefault(st.name, []).append((i, k))
            states[st.name] = st
        await asyncio.gather(*(self._run_model(states[name], items, reqs, results) for name, items in todo.items()))
        for i, lead in followers:
            src = results[lead]
            assert src is not None
            results[i] = replace(src, usage=replace(src.usage), cached=src.ok) if src.ok else replace(src)

    @staticmethod
    def _lease_ttl(st: _ModelState) -> float:
        return float(st.spec.timeout) * (int(st.spec.max_retries) + 1) + 30.0

    async def _wait_for_others(self, waiting: list[tuple[int, _ModelState, str]], results: list[CallResult | None],
                               leased: set[str]) -> list[tuple[int, _ModelState, str]]:
        """Wait for the answers other workers are fetching; returns the calls this client must
        send after all (their owner's lease expired, or it failed and released it)."""
        mine: list[tuple[int, _ModelState, str]] = []
        delay = 0.05
        while waiting:
            keys = [k for _, _, k in waiting]
            try:
                ttl = max(self._lease_ttl(st) for _, st, _ in waiting)
                hits, claimed = await asyncio.to_thread(self.cache.lookup, keys, self._owner, ttl)  # type: ignore[union-attr]  # use_cache implies a cache
            except Exception:  # noqa: BLE001 - the cache broke: send them ourselves
                return mine + waiting
            leased.update(claimed)
            rest = []
            for i, st, k in waiting:
                if k in hits:
                    results[i] = replace(hits[k], usage=replace(hits[k].usage))
                elif k in claimed:
                    mine.append((i, st, k))
                else:
                    rest.append((i, st, k))
            waiting = rest
            if waiting:
                await asyncio.sleep(delay)  # not self._sleep: that one paces retries
                delay = min(1.0, delay * 2)
        return mine

    # ------------------------------------------------------------------ per model

    def _semaphore(self, st: _ModelState) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem_loop is not loop:  # semaphores belong to one event loop
            self._sems = {}
            self._sem_loop = loop
        sem = self._sems.get(st.name)
        if sem is None:
            sem = self._sems[st.name] = asyncio.Semaphore(self._limit(st))
        return sem

    @staticmethod
    def _limit(st: _ModelState) -> int:
        """Calls of this model in flight at once: the spec's concurrency, within the backend's own limit."""
        limit = st.spec.concurrency
        backend_limit = getattr(st.backend, "max_concurrency", None)
        if backend_limit:
            limit = min(limit, int(backend_limit))
        return max(1, limit)

    async def _run_model(
        self,
        st: _ModelState,
        items: list[tuple[int, str]],
        reqs: list[CallRequest],
        results: list[CallResult | None],
    ) -> None:
        if not await self._warm(st):
            for i, _ in items:
                results[i] = CallResult(text="", error=st.warm_error)
            return
        sem = self._semaphore(st)
        if getattr(st.backend, "batching", False):
            batch = [reqs[i] for i, _ in items]
            # one engine call for the whole batch; give it time in proportion to its size
            waves = math.ceil(len(batch) / max(1, st.spec.concurrency))
            async with sem:
                res = await self._attempts(st, batch, timeout=st.spec.timeout * max(1, waves))
            for (i, _), r in zip(items, res):
                results[i] = r
            await self._store(st, [(k, r) for (_, k), r in zip(items, res)])
            return

        # A pool of workers, one per slot, each taking the next request the moment its call
        # returns: the next request starts in the same event-loop step that finished the last one.
        # (One task per request waiting on the semaphore would instead be woken at the back of
        # the ready queue, behind every other answer of a burst, so a burst of answers would come
        # back as a burst of new requests, wave after wave.)
        # A slot is held until the answer is in the cache: so at any moment at most
        # `concurrency` paid answers are not yet stored, and a crash can lose no more than that.
        todo = collections.deque(items)

        async def worker() -> None:
            while todo:
                i, key = todo.popleft()
                async with sem:
                    (r,) = await self._attempts(st, [reqs[i]], timeout=st.spec.timeout)
                    results[i] = r
                    if self.cache is not None and r.ok:
                        await self._store(st, [(key, r)])

        await asyncio.gather(*(worker() for _ in range(min(len(items), self._limit(st)))))

    async def _warm(self, st: _ModelState) -> bool:
        """Let a backend that loads a model (vLLM) finish loading before any call timeout runs."""
        warmup = getattr(st.backend, "warmup", None)
        if st.warmed or warmup is None:
            return st.warm_error is None
        try:
            await warmup()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a model that cannot start fails its calls with this error, not the batch
            st.warm_error = f"{type(exc).__name__}: {exc}"
            return False
        st.warmed = True
        return True

    async def _store(self, st: _ModelState, entries: list[tuple[str, CallResult]]) -> None:
        if self.cache is None or not self._cacheable(st):
            return
        good = [(k, st.identity, r) for k, r in entries if r.ok]
        if good:
            try:
                await asyncio.to_thread(self.cache.put_many, good)
            except Exception:  # noqa: BLE001 - a cache write failure must not lose the answer
                pass

    async def _attempts(self, st: _ModelState, batch: list[CallRequest], *, timeout: float) -> list[CallResult]:
        assert st.backend is not None
        attempt = 0
        while True:
            t0 = time.perf_counter()
            try:
                # asyncio.timeout, not wait_for: wait_for (Python 3.11) runs the call as a new task,
                # which adds a trip through the back of the event loop's ready queue per call
                async with asyncio.timeout(timeout):
                    res = await st.backend.complete(batch)
                if len(res) != len(batch):
                    raise BackendError(f"backend returned {len(res)} results for {len(batch)} requests")
                elapsed = time.perf_counter() - t0
                return [self._finish(st, r, elapsed) for r in res]
            except asyncio.CancelledError:
                raise
            except (RetryableBackendError, TimeoutError) as exc:
                if isinstance(exc, TimeoutError) and not isinstance(exc, RetryableBackendError):
                    exc = RetryableBackendError(f"no answer within {timeout:g} s (timeout)")
                if attempt >= st.spec.max_retries:
                    msg = f"{exc} (gave up after {attempt + 1} attempts)"
                    return [CallResult(text="", error=msg, latency=time.perf_counter() - t0) for _ in batch]
                delay = self._backoff(attempt, getattr(exc, "retry_after", None))
                self.meter.record_retries(len(batch))
                await self._sleep(delay)
                attempt += 1
            except BackendError as exc:
                return [CallResult(text="", error=str(exc), latency=time.perf_counter() - t0) for _ in batch]
            except Exception as exc:  # noqa: BLE001 - a bug or an unexpected library error: isolate it to these calls
                msg = f"{type(exc).__name__}: {exc}"
                return [CallResult(text="", error=msg, latency=time.perf_counter() - t0) for _ in batch]

    def _finish(self, st: _ModelState, r: CallResult, elapsed: float) -> CallResult:
        if not r.ok:
            return r
        latency = r.latency if r.latency > 0 else elapsed
        u = r.usage
        if st.priced_by_litellm or st.spec.price is not None:
            dollars = call_dollars(st.spec, u.prompt_tokens, u.completion_tokens)
        else:
            dollars = u.dollars
        return replace(r, latency=latency, cached=False, usage=Usage(u.prompt_tokens, u.completion_tokens, dollars))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)], but never less than the
        server's Retry-After (itself capped at ``retry_after_cap``)."""
        delay = self._rng.uniform(0, min(self.retry_cap, self.retry_base * (2**attempt)))
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(float(retry_after), self.retry_after_cap))
        return delay

    # ------------------------------------------------------------------ lifecycle and sync use

    async def aclose(self) -> None:
        """Close every backend built so far (the cache file stays)."""
        with self._states_lock:
            backends = {id(s.backend): s.backend for s in self._states.values() if s.backend is not None}
        for b in backends.values():
            try:
                await b.aclose()
            except Exception:  # noqa: BLE001 - closing is best effort: one backend failing to close must not keep the others open
                pass

    def complete_sync(self, requests: Sequence[CallRequest]) -> list[CallResult]:
        """:meth:`complete` for callers without an event loop.

        Runs on a private event-loop thread that lives as long as the client, so connection
        pools stay on one loop across calls. Do not mix with ``await client.complete`` from
        another loop on the same client.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise StateError("complete_sync() called from a running event loop: await complete() instead")
        if self._sync is None:
            self._sync = LoopThread()
        return self._sync.run(self.complete(requests))

    def close(self) -> None:
        """Synchronous :meth:`aclose`; also stops the private loop of :meth:`complete_sync`."""
        if self._sync is not None:
            self._sync.run(self.aclose())
            self._sync.stop()
            self._sync = None
        else:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(self.aclose())
            else:
                raise StateError("close() called from a running event loop: await aclose() instead")
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class LoopThread:
    """An event loop running in a daemon thread, for synchronous callers (the client's sync
    wrappers, ``LoadedPipeline.run``)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="archon-client-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()  # type: ignore[arg-type]  # callers pass coroutines; typed Awaitable for their sake

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
