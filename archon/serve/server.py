"""Starting and stopping a served pipeline: the Ray runtime, Serve's HTTP proxy, the application.

Local by default: a private Ray runtime on 127.0.0.1 with a temp dir of its own and the
search's watchdog (archon.search.dispatch / ray_watchdog: the same environment, and the same
clean-up if this process is killed), Serve's proxy on ``host:port`` of the head node (127.0.0.1
unless told otherwise), and the replicas' internal ports kept on loopback whenever every node is.
With ``ray_address`` it deploys on that cluster instead, and removes only its own application
when it stops.

The pipeline travels to the replicas as data: a validated spec made self-contained here
(archon.benchmarks.export), so replicas never read the file or its benchmark.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

from archon.benchmarks.export import export_spec
from archon.errors import InputError
from archon.graph import compile_spec_file
from archon.pipeline_file import needs_benchmark
from archon.search import ray_watchdog
from archon.search.dispatch import ray_env
from archon.serve.deployment import Batching, PipelineReplica
from archon.serve.endpoint import DEFAULT_MAX_BODY_BYTES, EndpointConfig, key_digest
from archon.spec.dump import dump_yaml

__all__ = ["Server", "prepare_spec", "scaling_options", "serve_pipeline"]


def prepare_spec(path: str | os.PathLike[str]) -> Any:
    """The validated spec in ``path``, self-contained: a pipeline that takes few-shot examples,
    answer reading or code-ness from its benchmark gets them written into ``task:`` here, once,
    from the file's folder (an export already has them)."""
    pipeline = compile_spec_file(path)
    spec = pipeline.spec
    if spec.task is None and spec.benchmark is not None and needs_benchmark(pipeline):
        folder = Path(path).resolve().parent
        spec = export_spec(spec, base_dir=folder, out_dir=folder)
    return spec


def fingerprint(spec: Any) -> str:
    """``system_fingerprint`` of the responses: which pipeline answered."""
    return "archon-" + hashlib.sha256(dump_yaml(spec).encode("utf-8")).hexdigest()[:12]


def scaling_options(replicas: int | str, batching: Batching) -> dict[str, Any]:
    """Serve's deployment options for ``replicas``: ``N`` fixed replicas, ``MIN:MAX`` autoscaling
    that aims at one full batch per replica, or ``auto`` (Serve's own autoscaling defaults)."""
    options: dict[str, Any] = {"max_ongoing_requests": batching.max_batch_size * batching.max_concurrent}
    text = str(replicas).strip()
    if text == "auto":
        options["num_replicas"] = "auto"
    elif ":" in text:
        low, _, high = text.partition(":")
        if not (low.isdigit() and high.isdigit() and 0 <= int(low) <= int(high) and int(high) >= 1):
            raise InputError(f"--replicas {text!r}: error: expected N, MIN:MAX (0 <= MIN <= MAX, MAX >= 1) or auto")
        options["autoscaling_config"] = {"min_replicas": int(low), "max_replicas": int(high),
                                         "target_ongoing_requests": batching.max_batch_size}
    elif text.isdigit() and int(text) >= 1:
        options["num_replicas"] = int(text)
    else:
        raise InputError(f"--replicas {text!r}: error: expected N (>= 1), MIN:MAX or auto")
    return options


def _max_replicas(options: dict[str, Any]) -> int:
    if "autoscaling_config" in options:
        return int(options["autoscaling_config"]["max_replicas"])
    return options["num_replicas"] if isinstance(options.get("num_replicas"), int) else 1


def _all_nodes_on_loopback(ray: Any) -> bool:
    """True on a one-machine runtime (every node's address is 127.x): replicas' internal ports
    can then stay on loopback too (archon.serve.deployment)."""
    return all(str(node.get("NodeManagerAddress", "")).startswith("127.") for node in ray.nodes() if node.get("Alive"))


def _head_address(ray: Any) -> str:
    for node in ray.nodes():
        if node.get("Alive") and "node:__internal_head__" in node.get("Resources", {}):
            return str(node["NodeManagerAddress"])
    return "127.0.0.1"


def _check_port(host: str, port: int) -> None:
    """A clear error now instead of a proxy that cannot bind later."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {host!r}: error: cannot resolve it ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InputError(f"{host}:{port}: error: cannot listen there ({exc.strerror}); choose another --port") from None


class Server:
    """A running served pipeline. ``url`` is the OpenAI base URL (``.../v1``)."""

    def __init__(self, *, name: str, host: str, port: int, app: str, started_ray: bool, connected: bool,
                 watchdog: Any, temp_dir: str | None, dashboard_url: str | None, description: str) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.app = app
        self.dashboard_url = dashboard_url
        self.description = description
        self._started_ray = started_ray
        self._connected = connected
        self._watchdog = watchdog
        self._temp_dir = temp_dir
        self._stopped = False

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + "/v1"

    def stop(self) -> None:
        """Remove the application; stop Serve and the Ray runtime if this process started them."""
        if self._stopped:
            return
        self._stopped = True
        import ray  # lazy: Ray loads only when something is served (see serve_pipeline)
        from ray import serve

        try:
            # the replicas stop gracefully (closing their caches); on a cluster we joined, Serve
            # and other applications keep running; a private runtime goes down whole below
            serve.delete(self.app)
        finally:
            if self._started_ray or self._connected:
                ray.shutdown()
            ray_watchdog.stop(self._watchdog)
            self._watchdog = None
            if self._temp_dir:
                shutil.rmtree(self._temp_dir, ignore_errors=True)

    def wait(self) -> None:
        """Block until SIGINT or SIGTERM (the CLI then calls :meth:`stop`)."""
        done = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not done.wait(1.0):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_pipeline(
    pipeline: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    ray_address: str | None = None,
    replicas: int | str = 1,
    name: str | None = None,
    api_key: str | None = None,
    batching: Batching | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    cache: str | bool | None = None,
    dashboard: bool = True,
) -> Server:
    """Serve the pipeline file ``pipeline`` as an OpenAI-compatible endpoint; returns once it
    answers. ``api_key``: require ``Authorization: Bearer <api_key>`` (only its SHA-256 leaves
    this process). ``cache``: the call cache (a path, False, or None for the spec's setting)."""
    batching = batching or Batching()
    spec = prepare_spec(pipeline)
    served_name = name or spec.name or Path(pipeline).stem
    options = scaling_options(replicas, batching)
    config = EndpointConfig(spec=spec, name=served_name, fingerprint=fingerprint(spec),
                            api_key_sha256=key_digest(api_key) if api_key else None,
                            max_body_bytes=max_body_bytes, cache=cache)
    if ray_address is None:
        _check_port(host, port)

    ray_env()
    import ray  # lazy: Ray loads only when something is served
    from ray import serve

    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    started_ray = connected = False
    watchdog = temp_dir = None
    if ray.is_initialized():
        ctx = None  # the caller's Ray: used as is, left as is
    elif ray_address is None:
        temp_dir = tempfile.mkdtemp(prefix="archon-serve-")
        ctx = ray.init(address="local", _temp_dir=temp_dir, include_dashboard=dashboard, dashboard_host="127.0.0.1",
                       num_cpus=max(os.cpu_count() or 1, _max_replicas(options)),
                       logging_level=logging.WARNING, log_to_driver=False)
        started_ray = True
        watchdog = ray_watchdog.start()  # stops the runtime if this process is killed
    else:
        ctx = ray.init(address=ray_address, logging_level=logging.WARNING, log_to_driver=False)
        connected = True
    url = getattr(ctx, "dashboard_url", None) if ctx is not None else None
    dashboard_url = f"http://{url}" if url and not str(url).startswith("http") else url
    app = f"archon-{served_name}"
    try:
        # one entry point, on the head node: the URL printed is the URL to call (a cluster that
        # wants a proxy per node puts its own load balancer in front, docs/serving.md)
        serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly")
        deployment: Any = serve.deployment(PipelineReplica, name="pipeline", **options)  # Ray types it as a decorator
        serve.run(deployment.bind(config, batching, _all_nodes_on_loopback(ray)), name=app, route_prefix="/", blocking=False)
    except BaseException:
        # nothing half-started is left behind
        if started_ray:
            try:
                serve.shutdown()
            finally:
                ray.shutdown()
                ray_watchdog.stop(watchdog)
                shutil.rmtree(temp_dir or "", ignore_errors=True)
        elif connected:
            ray.shutdown()
        raise
    where = "private local Ray" if started_ray else f"Ray cluster {ray_address or '(already initialised)'}"
    if host in ("0.0.0.0", "::", ""):
        host = _head_address(ray)  # where a client on another machine reaches the proxy
    return Server(name=served_name, host=host, port=port, app=app, started_ray=started_ray, connected=connected,
                  watchdog=watchdog, temp_dir=temp_dir, dashboard_url=dashboard_url, description=where)
