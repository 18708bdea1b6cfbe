"""The Ray Serve deployment: each replica is one :class:`~archon.serve.endpoint.Endpoint` whose
queries go through Serve's request batching (``serve.batch``).

Why batching: the queries of concurrent users that reach a replica within ``wait_s`` of each
other (up to ``max_batch_size``) become one list, and the executor runs that list node by node,
so the backend sees each node's calls for all of them at once — one batch for vLLM or the local
engine, as many calls in flight as each API model's concurrency allows — instead of one user's
calls at a time. Up to ``max_concurrent`` batches run at once, so a new arrival does not wait for
a slow batch to finish before its own batch starts (docs/serving.md#batching: with 4, requests
queued behind busy batches at 32 clients, 38 % below the executor's throughput).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from archon.serve.endpoint import Endpoint, EndpointConfig

__all__ = ["Batching", "PipelineReplica", "bind_replica_grpc_to_loopback"]

logger = logging.getLogger("archon.serve")


@dataclass(frozen=True)
class Batching:
    """Serve's request batching settings for one replica."""

    max_batch_size: int = 32
    wait_s: float = 0.01
    #: batches in flight at once: enough that a batch never waits for a slot while the backend
    #: has room (the client's per-model ``concurrency`` bounds the calls either way)
    max_concurrent: int = 16


def bind_replica_grpc_to_loopback() -> bool:
    """Keep a replica's internal gRPC port off the network on a one-machine runtime.

    Ray Serve 2.60 replicas open a server for calls between deployments on every interface
    (``[::]:0`` in ``ray.serve._private.replica``, not configurable). When every node runs on
    127.0.0.1 (the private runtime, a cluster simulated on one machine) it is bound there
    instead; on a real cluster it is left alone (other nodes must reach it). Must run before the replica finishes initialising, i.e. in the
    deployment's ``__init__``. Returns False when Ray's internals have moved (the tests that
    check every listener then fail, instead of a port silently opening).
    """
    try:  # lazy: runs inside the replica, where Ray is loaded anyway
        from ray.serve._private import replica
    except ImportError:
        return False
    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None:
        return False
    if getattr(original, "_archon_loopback", False):
        return True

    def on_loopback(server: Any, address: str) -> Any:
        if address.startswith("[::]:"):
            address = "127.0.0.1:" + address.rsplit(":", 1)[1]
        return original(server, address)

    on_loopback._archon_loopback = True  # type: ignore[attr-defined]  # a marker on the patched function, so patching twice is a no-op
    replica.add_port_to_grpc_server = on_loopback
    return True


class PipelineReplica:
    """The deployment's class (archon.serve.server wraps it with ``serve.deployment``)."""

    def __init__(self, config: EndpointConfig, batching: Batching, loopback: bool) -> None:
        from ray import serve  # lazy: only a replica, inside Ray, needs it

        if loopback and not bind_replica_grpc_to_loopback():
            logger.warning("archon serve: could not keep the replica's internal gRPC port on 127.0.0.1 "
                           "(Ray's internals changed); it listens on every interface")
        self.endpoint = Endpoint(config)
        self.endpoint.run = serve.batch(
            max_batch_size=batching.max_batch_size,
            batch_wait_timeout_s=batching.wait_s,
            max_concurrent_batches=batching.max_concurrent,
        )(self.endpoint.answer_batch)

    async def __call__(self, request: Request) -> Response:
        return await self.endpoint(request)

    async def __del__(self) -> None:
        # Serve calls this when it stops the replica: close the model clients and the cache file
        await self.endpoint.aclose()
