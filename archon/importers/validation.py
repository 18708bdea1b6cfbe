"""Run archon's own validator on an imported pipeline and blame the Archon component at fault.

The importer checks what Archon's runtime asserts; archon's validator adds its schema and graph
rules (composition rules, references, type compatibility of edges). Its diagnostics point into
the YAML we generated, which the user never wrote, so each is mapped back to the Archon
component the offending node came from: ``config.json:line:col: error: ...``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from archon.errors import Diagnostic, ImportArchonError, SpecError
from archon.spec.document import SpecDocument, load_spec_text
from archon.graph import validate_pipeline

__all__ = ["validate_imported"]

#: An Archon path: keys and indices from the top of the Archon JSON document.
ArchonPath = tuple[Any, ...]


def validate_imported(
    text: str,
    source: str,
    origin: Mapping[tuple[int, int], ArchonPath],
    position_of: Callable[[ArchonPath | None], tuple[int, int]],
) -> None:
    """Validate ``text`` (the generated YAML); raise ImportArchonError with mapped positions.

    ``origin`` maps (layer, index) of each generated node to the Archon path it came from;
    ``position_of`` turns an Archon path (or None: the document) into a line and column of
    ``source``.
    """
    file = "<imported>"
    try:
        _load_and_validate(text, file)
    except SpecError as exc:
        try:
            doc: SpecDocument | None = load_spec_text(text, file)
        except SpecError:  # the YAML itself did not load: an importer bug, report it plainly
            doc = None
        issues = []
        for diag in exc.diagnostics:
            archon_path = _blame(doc, (diag.line, diag.column), origin) if doc else None
            line, column = position_of(archon_path)
            issues.append(Diagnostic(source, line, column, f"the imported pipeline breaks an archon rule: {diag.message}",
                                     diag.hint, code="archon-rule"))
        raise ImportArchonError(issues) from None


def _load_and_validate(text: str, file: str) -> None:
    validate_pipeline(load_spec_text(text, file))


def _blame(doc: SpecDocument, position: tuple[int, int], origin: Mapping[tuple[int, int], ArchonPath]) -> ArchonPath | None:
    """The Archon path of the component whose node sits at ``position`` in the generated YAML."""
    candidates = [p for p, pos in doc.positions.items() if pos == position]
    candidates += [p for p, pos in doc.key_positions.items() if pos == position]
    if not candidates:  # nearest preceding position
        before = [(pos, p) for p, pos in doc.positions.items() if pos <= position]
        candidates = [max(before)[1]] if before else []
    for path in sorted(candidates, key=len, reverse=True):
        if len(path) >= 3 and path[0] == "pipeline" and isinstance(path[1], int) and isinstance(path[2], int):
            found = origin.get((path[1], path[2]))
            if found is not None:
                return found
        if len(path) >= 2 and path[0] == "pipeline" and isinstance(path[1], int):
            found = origin.get((path[1], 0))
            if found is not None:
                return found
    return ("layers",)
