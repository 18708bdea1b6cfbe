"""Pipelines as graphs: compiling a resolved spec into a DAG, composition rules, the static cost
model and rendering (text, Mermaid, Graphviz DOT).

    from archon.graph import compile_pipeline
    p = compile_pipeline(spec)            # raises SpecError (CompositionError) listing every problem
    p.static_cost().calls                 # exact model calls per query
    print(p.render("mermaid"))
"""

from __future__ import annotations

from archon.graph.cost import StaticCost, calls_by_model, calls_for, candidates_out
from archon.graph.kinds import KINDS, Kind
from archon.graph.pipeline import DEFAULT_QUERY_TOKENS, CompositionError, Finding, Pipeline, compile_pipeline
from archon.graph.render import FORMATS, render, to_dot, to_mermaid, to_text
from archon.graph.rules import RULES
from archon.graph.validate import check_pipeline, compile_spec_file, validate_pipeline

__all__ = [
    "DEFAULT_QUERY_TOKENS",
    "FORMATS",
    "KINDS",
    "RULES",
    "CompositionError",
    "Finding",
    "Kind",
    "Pipeline",
    "StaticCost",
    "calls_by_model",
    "calls_for",
    "check_pipeline",
    "compile_spec_file",
    "candidates_out",
    "compile_pipeline",
    "render",
    "to_dot",
    "to_mermaid",
    "to_text",
    "validate_pipeline",
]
