"""Importers: configs written for other systems -> archon pipeline specs.

Only Archon's JSON configs for now (``archon import-archon``); see docs/archon-compat.md. A config
that cannot be imported raises :class:`archon.errors.ImportArchonError` listing every problem.
"""

from __future__ import annotations

from archon.importers.archon_json import ImportResult, convert_archon, import_archon, import_archon_file, import_archon_text

__all__ = [
    "ImportResult",
    "convert_archon",
    "import_archon",
    "import_archon_file",
    "import_archon_text",
]
