"""``archon serve PIPELINE.yaml``: the pipeline as an OpenAI-compatible HTTP endpoint (Ray Serve).

Runs in the foreground until Ctrl-C (or SIGTERM), then stops what it started. See
docs/serving.md for the protocol, batching, auth and what to put in front of it in production.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from archon.cli._common import positive_int as _positive_int
from archon.errors import InputError

__all__ = ["register", "serve_command"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1..65535, got {value}")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve a pipeline as an OpenAI-compatible endpoint (Ray Serve)",
        description="Serve a pipeline (e.g. a search's best.yaml) as an OpenAI-compatible HTTP endpoint: "
                    "POST /v1/chat/completions, GET /v1/models, GET /health.",
    )
    p.add_argument("pipeline", metavar="PIPELINE.yaml", help="a resolved pipeline spec")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    p.add_argument("--name", help="the model name clients ask for (default: the spec's name, else the file's stem)")
    p.add_argument("--ray-address", metavar="A", help="deploy on this Ray cluster (auto or host:port) instead of a private local runtime")
    p.add_argument("--replicas", default="1", metavar="N|MIN:MAX|auto",
                   help="fixed replicas, or Serve autoscaling between MIN and MAX (default 1)")
    p.add_argument("--api-key-env", metavar="NAME",
                   help="require 'Authorization: Bearer <key>', the key read from this environment variable")
    p.add_argument("--max-batch-size", type=_positive_int, default=32, metavar="N",
                   help="concurrent requests a replica runs as one batch (default 32)")
    p.add_argument("--batch-wait-ms", type=float, default=10.0, metavar="MS",
                   help="how long a replica waits to fill a batch (default 10)")
    p.add_argument("--max-concurrent-batches", type=_positive_int, default=16, metavar="N",
                   help="batches a replica runs through the pipeline at once (default 16)")
    p.add_argument("--max-request-kb", type=_positive_int, default=1024, metavar="KB",
                   help="largest request body accepted (default 1024)")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="PATH", help="call cache file (default: the spec's setting, else ~/.cache/archon)")
    cache.add_argument("--no-cache", action="store_true", help="do not read or write the call cache")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard (private runtime only)")
    p.set_defaults(handler=serve_command)


def _api_key(name: str | None) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name, "")
    if not value.strip():
        raise InputError(f"--api-key-env {name}: error: the environment variable {name} is not set or empty "
                         "(export it with the key clients must send)")
    return value.strip()


def serve_command(args: argparse.Namespace) -> int:
    # imported on use: `archon --help` loads every command module, so they import nothing heavy
    from rich.console import Console

    from archon.serve import Batching, serve_pipeline

    if args.batch_wait_ms < 0:
        raise InputError(f"--batch-wait-ms {args.batch_wait_ms}: error: must be >= 0")
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    api_key = _api_key(args.api_key_env)
    console.print(f"archon serve: starting {args.pipeline} ...")
    server = serve_pipeline(
        args.pipeline,
        host=args.host,
        port=args.port,
        ray_address=args.ray_address,
        replicas=args.replicas,
        name=args.name,
        api_key=api_key,
        batching=Batching(max_batch_size=args.max_batch_size, wait_s=args.batch_wait_ms / 1000.0,
                          max_concurrent=args.max_concurrent_batches),
        max_body_bytes=args.max_request_kb * 1024,
        cache=False if args.no_cache else args.cache,
        dashboard=not args.no_dashboard,
    )
    try:
        console.print(f"serving [bold]{server.name}[/bold] at {server.url} ({server.description}; replicas: {args.replicas})")
        if server.dashboard_url:
            console.print(f"Ray dashboard: {server.dashboard_url}")
        auth = f' -H "Authorization: Bearer ${args.api_key_env}"' if args.api_key_env else ""
        console.print(f"try: curl {server.url}/chat/completions{auth} -H 'Content-Type: application/json' "
                      f"-d '{{\"model\": \"{server.name}\", \"messages\": [{{\"role\": \"user\", \"content\": \"your question\"}}]}}'")
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            console.print(f"[yellow]listening on {args.host}: reachable from other machines; put TLS and rate "
                          "limits in front (docs/serving.md)[/yellow]")
        console.print("Ctrl-C stops the server.")
        sys.stderr.flush()
        server.wait()
    finally:
        console.print("archon serve: stopping")
        server.stop()
    return 0
