"""Runtime tests share the component tests' helpers (tests/components/pipeline_kit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

_KIT = str(Path(__file__).resolve().parents[1] / "components")
if _KIT not in sys.path:
    sys.path.insert(0, _KIT)
