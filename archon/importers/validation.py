"""Run archon's own validator on an imported pipeline and blame the Archon component at fault.

The importer checks what Archon's runtime asserts; archon's validator adds its schema and graph
rules (composition rules, references, type compatibility of edges). Its diagnostics point into
the YAML we generated, which the user never wrote, so each is mapped back to the Archon
component the offending node came from: ``config.json:line:col: error: ...``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archon.errors import SpecError

if TYPE_CHECKING:
    from archon.importers.archon_json import _Converter

__all__ = ["validate_imported"]


def _load_and_validate(text: str, file: str) -> Any:
    from archon.spec.document import load_spec_text
    from archon.spec.validate import validate_pipeline

    doc = load_spec_text(text, file)
    spec = validate_pipeline(doc)
    try:
        from archon.graph import compile_pipeline
    except ImportError:  # the graph package lands separately; validate_pipeline runs it when present
        return doc
    compile_pipeline(spec)
    return doc


def validate_imported(text: str, converter: _Converter) -> None:
    """Validate ``text`` (the generated YAML); raise ArchonConfigError with mapped positions."""
    from archon.importers.archon_json import ArchonConfigError, ImportIssue

    file = "<imported>"
    try:
        _load_and_validate(text, file)
    except SpecError as exc:
        try:
            from archon.spec.document import load_spec_text

            doc = load_spec_text(text, file)
        except SpecError:  # the YAML itself did not load: an importer bug, report it plainly
            doc = None
        issues = []
        for diag in exc.diagnostics:
            archon_path = _blame(doc, (diag.line, diag.column), converter) if doc else None
            line, column = converter._pos(archon_path, False) if archon_path is not None else (1, 1)
            if not converter.positions.values:
                line = column = 0
            issues.append(ImportIssue(converter.source, line, column,
                                      f"the imported pipeline breaks an archon rule: {diag.message}", diag.hint,
                                      code="archon-rule"))
        raise ArchonConfigError(issues) from None


def _blame(doc: Any, position: tuple[int, int], converter: _Converter) -> tuple[Any, ...] | None:
    """The Archon path of the component whose node sits at ``position`` in the generated YAML."""
    candidates = [p for p, pos in doc.positions.items() if pos == position]
    candidates += [p for p, pos in doc.key_positions.items() if pos == position]
    if not candidates:  # nearest preceding position
        before = [(pos, p) for p, pos in doc.positions.items() if pos <= position]
        candidates = [max(before)[1]] if before else []
    for path in sorted(candidates, key=len, reverse=True):
        if len(path) >= 3 and path[0] == "pipeline" and isinstance(path[1], int) and isinstance(path[2], int):
            origin = converter.origin.get((path[1], path[2]))
            if origin is not None:
                return origin
        if len(path) >= 2 and path[0] == "pipeline" and isinstance(path[1], int):
            origin = converter.origin.get((path[1], 0))
            if origin is not None:
                return origin
    return ("layers",)
