"""A pipeline spec checked whole: schema and references (:mod:`archon.spec.validate`), then the
graph rules (:func:`compile_pipeline`), every problem reported with its position in the file.

This sits in the graph layer, not in ``archon.spec``, because it needs both: the spec layer knows
YAML and types and nothing of graphs.
"""

from __future__ import annotations

import dataclasses
import os

from archon.errors import SpecError
from archon.graph.pipeline import Pipeline, compile_pipeline
from archon.spec.document import SpecDocument, load_spec_file
from archon.spec.schema import Spec
from archon.spec.validate import schema_diagnostics

__all__ = ["check_pipeline", "compile_spec_file", "validate_pipeline"]


def check_pipeline(doc: SpecDocument) -> tuple[Spec, Pipeline]:
    """Schema, references and graph rules of a resolved pipeline: the typed spec and the compiled
    pipeline, or SpecError with every problem found."""
    if doc.is_space:
        raise SpecError(
            [
                doc.diagnostic(
                    ("pipeline",),
                    "this spec is a search space (it has choices), not a pipeline",
                    "use 'archon space' to sample pipelines from it",
                    key=True,
                )
            ]
        )
    spec, diagnostics = schema_diagnostics(doc)
    if spec is None:
        raise SpecError(diagnostics)
    try:
        pipeline = compile_pipeline(spec, locate=doc.locate, file=doc.file)
    except SpecError as exc:
        raise SpecError([dataclasses.replace(d, file=doc.file) for d in exc.diagnostics]) from None
    return spec, pipeline


def validate_pipeline(doc: SpecDocument) -> Spec:
    """Schema, references and graph rules of a resolved pipeline; raise SpecError with them all."""
    return check_pipeline(doc)[0]


def compile_spec_file(path: str | os.PathLike[str]) -> Pipeline:
    """Load, validate and compile a pipeline file (raises SpecError with every problem, each
    naming file:line:col)."""
    return check_pipeline(load_spec_file(path))[1]
