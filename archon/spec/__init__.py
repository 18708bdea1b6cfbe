"""The spec language: YAML with positions and hostile-input guards, typed objects, diagnostics.

This is the only package that knows YAML. Everything above it receives a :class:`SpecDocument`
(plain data + positions) or a typed :class:`~archon.spec.schema.Spec`. Checking a whole pipeline
or space needs the layers above: :func:`archon.graph.validate_pipeline`,
:func:`archon.space.check_space`.
"""

from __future__ import annotations

from archon.spec.document import SpecDocument, is_choice_marker, load_spec_file, load_spec_text
from archon.spec.dump import dump_yaml, spec_to_data
from archon.spec.schema import Settings, Spec
from archon.spec.validate import load_settings, schema_diagnostics

__all__ = [
    "Settings",
    "Spec",
    "SpecDocument",
    "dump_yaml",
    "is_choice_marker",
    "load_settings",
    "load_spec_file",
    "load_spec_text",
    "schema_diagnostics",
    "spec_to_data",
]
