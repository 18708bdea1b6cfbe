"""``archon show FILE``: a pipeline's graph and its static cost per query."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "render"]

FORMATS = ("text", "mermaid", "dot")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "show",
        help="draw a pipeline's graph with its calls and estimated tokens per query",
        description=(
            "Validate a pipeline spec and print its graph (text, Mermaid or Graphviz DOT), followed "
            "(in text format) by the exact number of model calls and the estimated tokens per query. "
            "A search space has no single graph: sample pipelines from it with 'archon space'."
        ),
        epilog="Exit status: 0 ok, 2 invalid spec or a space given, 1 internal error.",
    )
    parser.add_argument("file", metavar="FILE", help="pipeline spec (.yaml)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument(
        "--query-tokens", type=int, default=None, metavar="N",
        help="assumed tokens in one query for the token estimate (default: the cost model's own)",
    )
    parser.set_defaults(handler=run)


def render(pipeline: Any, fmt: str) -> str:
    """The graph drawn by archon.graph in ``fmt`` (text, mermaid or dot)."""
    return str(pipeline.render(fmt))


def cost_lines(pipeline: Any, query_tokens: int | None) -> list[str]:
    """Calls, tokens and dollars per query, total and per model."""
    cost = pipeline.static_cost() if query_tokens is None else pipeline.static_cost(query_tokens=query_tokens)
    lines = [
        f"calls per query: {cost.calls}",
        f"estimated tokens per query: {cost.input_tokens} in, {cost.output_tokens} out",
    ]
    if cost.dollars is not None:
        lines.append(f"estimated dollars per query: {cost.dollars:.6f}")
    for model, part in sorted((cost.per_model or {}).items()):
        lines.append(f"  {model}: {_describe(part)}")
    return lines


def _describe(part: Any) -> str:
    if isinstance(part, dict):
        return ", ".join(f"{k} {v}" for k, v in part.items())
    fields = [f for f in ("calls", "input_tokens", "output_tokens") if hasattr(part, f)]
    if fields:
        return ", ".join(f"{f.replace('_', ' ')} {getattr(part, f)}" for f in fields)
    return str(part)


def run(args: argparse.Namespace) -> int:
    from archon.cli._common import no_space
    from archon.spec import check_pipeline, load_spec_file

    doc = load_spec_file(args.file)
    if doc.is_space:
        raise no_space(args.file, "show")
    _, pipeline = check_pipeline(doc)
    print(render(pipeline, args.format).rstrip("\n"))
    if args.format == "text":
        print()
        print("\n".join(cost_lines(pipeline, args.query_tokens)))
    return 0
