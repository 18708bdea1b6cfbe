"""One call cache for a whole Ray cluster: a service in front of the run directory's SQLite file.

On one machine every worker opens the cache file itself (:mod:`archon.backends.cache`). On a
cluster the file lives on the driver's node, beside the run directory, and a worker on another
machine cannot open it: opening "the same path" there would start an empty cache on that
machine's disk and pay for every call again, and a resumed search would pay for them once more.
So the file gets one owner, :class:`CacheService`, run as a Ray actor pinned to the driver's node;
workers reach it through :class:`RemoteCallCache`, a :class:`~archon.backends.cache.CallStore` like
the file itself, so the client above it does not know which one it has.

Round trips. A client's batch costs one ``lookup`` (stored answers, and leases on the rest,
together) and its writes; storing an answer ends its lease, so only the leases of calls that
failed are released, in a message that is not waited for. Writes are
group-committed: a write that arrives while another is on its way joins the next one, so under
load a worker process sends one write per group of answers rather than one per call, and every
writer still returns only once its answers are stored (the client holds a concurrency slot until
then, which bounds what a crash can lose to the calls in flight).

Leases. The service keeps the cluster's in-flight leases in memory: one per key, held by a
client (its :func:`~archon.backends.cache.lease_owner`). A lease lasts at most its ``ttl`` (the
call's timeout times its attempts), and only while its holder keeps it alive: each worker process
renews the leases it holds every :data:`HEARTBEAT` seconds, so a worker or a node that dies frees
its leases within :data:`LEASE_IDLE` seconds, on whatever machine it ran (at once, when it ran
on the service's own machine and its process is gone). The actor belongs to the
driver's Ray job, so a driver killed with SIGKILL takes the service and its leases with it, and
the resumed search starts with none. The service also holds each lease in the file under its own
name, so a process on the driver's node that opens the file directly (an ``archon run`` sharing
the cache) honours it too; those file leases die with the service process (a dead process on the
same machine holds nothing, archon.backends.cache).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from archon.backends.records import CallResult
from archon.backends.cache import CallCache, CallStore, ModelIdentity, lease_owner, owner_gone

__all__ = ["CacheService", "RemoteCallCache", "start_cache_service", "HEARTBEAT", "LEASE_IDLE"]

#: seconds between a worker's renewals of the leases it holds
HEARTBEAT = 5.0
#: seconds a lease survives without a renewal (its holder is then taken for dead)
LEASE_IDLE = 20.0
#: how often the service drops dead leases nobody asked about again
_SWEEP_EVERY = 10.0


@dataclass
class _Lease:
    owner: str
    deadline: float  # claim time + ttl: renewals never extend a lease past it
    alive_until: float

    def alive(self, now: float) -> bool:
        return now < min(self.deadline, self.alive_until)


class CacheService:
    """The cache file and the cluster's leases, behind the methods :class:`RemoteCallCache` calls.

    A plain class: Ray runs it as an actor (:func:`start_cache_service`), tests may run it in
    process. Its methods run one at a time (the actor has one thread), so the lease table needs
    no lock.
    """

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time) -> None:
        self.cache = CallCache(path)
        self._clock = clock
        self.owner = lease_owner("cache-service")
        self.id = uuid.uuid4().hex
        self._leases: dict[str, _Lease] = {}
        self._swept = clock()
        self._stats = {"lookups": 0, "keys": 0, "hits": 0, "leased": 0, "held_elsewhere": 0,
                       "writes": 0, "stored": 0}

    def ping(self) -> tuple[str, str]:
        """(the file, this service's id)."""
        return str(self.cache.path), self.id

    def get_many(self, keys: Sequence[str]) -> dict[str, CallResult]:
        found = self.cache.get_many(keys)
        self._stats["hits"] += len(found)
        return found

    def lookup(self, keys: Sequence[str], owner: str, ttl: float) -> tuple[dict[str, CallResult], set[str]]:
        now = self._clock()
        self._sweep(now)
        unique = list(dict.fromkeys(keys))
        hits = self.cache.get_many(unique)
        free, stale = [], []
        for key in unique:
            if key in hits:
                continue
            lease = self._leases.get(key)
            if lease is not None and lease.alive(now) and not owner_gone(lease.owner):
                continue  # someone in the cluster is fetching it: the caller waits for the answer
            if lease is not None:
                stale.append(key)
                del self._leases[key]
            free.append(key)
        if stale:
            self.cache.release_many(stale, self.owner)
        mine: set[str] = set()
        if free:
            late, mine = self.cache.lookup(free, self.owner, ttl)
            hits.update(late)
            for key in mine:
                self._leases[key] = _Lease(owner, now + ttl, now + LEASE_IDLE)
        s = self._stats
        s["lookups"] += 1
        s["keys"] += len(unique)
        s["hits"] += len(hits)
        s["leased"] += len(mine)
        s["held_elsewhere"] += len(unique) - len(hits) - len(mine)
        return hits, mine

    def put(self, groups: Sequence[Sequence[tuple[str, str, CallResult]]]) -> list[int]:
        """Store each writer's entries; how many of each were new. A stored answer ends its key's
        lease (whoever held it): nobody needs to fetch it any more."""
        counts = [self.cache.put_many(group) for group in groups]
        answered = [key for group in groups for key, _, result in group if result.ok and key in self._leases]
        for key in answered:
            del self._leases[key]
        if answered:
            self.cache.release_many(answered, self.owner)
        self._stats["writes"] += 1
        self._stats["stored"] += sum(counts)
        return counts

    def release(self, keys: Sequence[str], owner: str) -> None:
        gone = []
        for key in keys:
            lease = self._leases.get(key)
            if lease is not None and lease.owner == owner:
                del self._leases[key]
                gone.append(key)
        if gone:
            self.cache.release_many(gone, self.owner)

    def renew(self, held: dict[str, list[str]]) -> None:
        """Keep alive the leases each owner still holds (a heartbeat)."""
        now = self._clock()
        for owner, keys in held.items():
            for key in keys:
                lease = self._leases.get(key)
                if lease is not None and lease.owner == owner:
                    lease.alive_until = now + LEASE_IDLE

    def stats(self) -> dict[str, Any]:
        return {**self._stats, "leases": len(self._leases), "entries": len(self.cache)}

    def close(self) -> None:
        """Give up every lease and close the file (the service is about to stop)."""
        if self._leases:
            self.cache.release_many(list(self._leases), self.owner)
            self._leases.clear()
        self.cache.close()

    def _sweep(self, now: float) -> None:
        if now - self._swept < _SWEEP_EVERY:
            return
        self._swept = now
        dead = [k for k, lease in self._leases.items() if not lease.alive(now)]
        for key in dead:
            del self._leases[key]
        if dead:
            self.cache.release_many(dead, self.owner)


@dataclass
class _Write:
    entries: list[tuple[str, str, CallResult]]
    done: bool = False
    count: int = 0
    error: BaseException | None = None


class RemoteCallCache(CallStore):
    """The cluster's cache as seen from one process: a :class:`CallStore` whose methods are calls
    to the :class:`CacheService` actor. Picklable (it travels inside shard jobs); each process
    that unpickles it keeps its own write queue and heartbeat."""

    def __init__(self, actor: Any, path: str, service_id: str) -> None:
        self._actor = actor
        self.path = Path(path)
        #: names the service: a worker reuses one client per service, not one per task
        self.service_id = service_id
        self._setup()

    def _setup(self) -> None:
        self._cv = threading.Condition()
        self._queue: list[_Write] = []
        self._writing = False
        self._held: dict[str, set[str]] = {}
        self._heartbeat: threading.Thread | None = None
        self._closed = threading.Event()
        #: calls that waited for the service's reply (lookups, reads, write groups)
        self.round_trips = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"actor": self._actor, "path": str(self.path), "service_id": self.service_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._actor = state["actor"]
        self.path = Path(state["path"])
        self.service_id = state["service_id"]
        self._setup()

    def __repr__(self) -> str:
        return f"RemoteCallCache({str(self.path)!r}, service {self.service_id[:12]})"

    def _call(self, method: str, *args: Any) -> Any:
        import ray  # lazy: Ray is an optional extra; only a process on a Ray cluster holds this store

        self.round_trips += 1
        return ray.get(getattr(self._actor, method).remote(*args))

    # ------------------------------------------------------------------ CallStore

    def get_many(self, keys: Sequence[str]) -> dict[str, CallResult]:
        return self._call("get_many", list(keys)) if keys else {}

    def lookup(self, keys: Sequence[str], owner: str, ttl: float) -> tuple[dict[str, CallResult], set[str]]:
        hits, mine = self._call("lookup", list(keys), owner, float(ttl))
        if mine:
            with self._cv:
                self._held.setdefault(owner, set()).update(mine)
            self._start_heartbeat()
        return hits, set(mine)

    def release_many(self, keys: Sequence[str], owner: str) -> None:
        with self._cv:
            held = self._held.get(owner, set())
            # keys whose answers this process stored are released already (the service ends a
            # lease when its answer arrives): only failed calls' leases are left to give up
            left = [k for k in keys if k in held]
            held.difference_update(keys)
            if not held:
                self._held.pop(owner, None)
        if left:
            # not waited for: calls from one process reach the actor in order, and a release that
            # is lost only lets the lease lapse after LEASE_IDLE
            self._actor.release.remote(left, owner)

    def put_many(self, entries: Iterable[tuple[str, ModelIdentity | str, CallResult]]) -> int:
        write = _Write([(k, str(ident), r) for k, ident, r in entries if r.ok])
        if not write.entries:
            return 0
        with self._cv:
            self._queue.append(write)
            while not write.done:
                if self._writing:
                    self._cv.wait()
                    continue
                # nobody is writing: send everything queued so far, this write included
                self._writing = True
                group, self._queue = self._queue, []
                self._cv.release()
                try:
                    counts: list[int] = self._call("put", [w.entries for w in group])
                    error: BaseException | None = None
                except BaseException as exc:  # noqa: BLE001 - handed to every writer of the group
                    counts, error = [0] * len(group), exc
                finally:
                    self._cv.acquire()
                for w, n in zip(group, counts):
                    w.done, w.count, w.error = True, n, error
                self._writing = False
                self._cv.notify_all()
        if write.error is not None:
            raise write.error
        with self._cv:
            stored = {k for k, _, _ in write.entries}
            for held in self._held.values():
                held.difference_update(stored)
        return write.count

    def close(self) -> None:
        """Stop this process's heartbeat (the service keeps running)."""
        self._closed.set()

    def shutdown(self) -> None:
        """Stop the service itself (the driver, once every shard is back)."""
        import ray  # lazy, as in _call

        self.close()
        try:
            ray.get(self._actor.close.remote(), timeout=30)
        except Exception:  # noqa: BLE001 - it is stopped below either way; the file is consistent
            pass
        ray.kill(self._actor)

    # ------------------------------------------------------------------ inspection

    def stats(self) -> dict[str, Any]:
        """The service's counters (lookups, hits, leases granted, writes, entries)."""
        return self._call("stats")

    # ------------------------------------------------------------------ heartbeat

    def _start_heartbeat(self) -> None:
        with self._cv:
            if self._heartbeat is not None:
                return
            self._heartbeat = threading.Thread(target=self._beat, name="archon-cache-heartbeat", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        import ray  # lazy, as in _call

        while not self._closed.wait(HEARTBEAT):
            with self._cv:
                held = {owner: sorted(keys) for owner, keys in self._held.items() if keys}
            if not held:
                continue
            try:
                ray.get(self._actor.renew.remote(held), timeout=HEARTBEAT * 2)
            except Exception:  # noqa: BLE001 - a missed beat only shortens the leases' life
                pass


def start_cache_service(path: str | os.PathLike[str]) -> RemoteCallCache:
    """Run a :class:`CacheService` for the file ``path`` as an actor on this process's node (the
    driver's: that is where the file is) and return the store that talks to it.

    The actor takes no CPU, so it never competes with evaluation for a slot, and it belongs to
    the calling job: it stops when the driver does (and is not restarted then).
    """
    # lazy: Ray is an optional extra, and archon.backends loads without it
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    actor: Any = (
        ray.remote(CacheService)
        .options(
            num_cpus=0,
            max_concurrency=1,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False),
            # a service process that dies (OOM) comes back on the same node, on the same file,
            # and calls in flight to it are retried: stores and releases are idempotent, and a
            # lookup repeated after a lost reply at worst waits out its own lease (LEASE_IDLE)
            max_restarts=3,
            max_task_retries=3,
        )
        .remote(str(Path(path).expanduser().resolve()))
    )
    # fails here, with the reason, if the file cannot be opened
    where, service_id = ray.get(actor.ping.remote())
    return RemoteCallCache(actor, where, service_id)
