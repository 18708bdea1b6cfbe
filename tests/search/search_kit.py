"""Helpers the search tests share (a plain module: test files import it by this unique name,
which a second ``conftest`` elsewhere in the tree cannot shadow)."""

from __future__ import annotations

import json
from pathlib import Path


def write_data(path: Path, n: int = 80) -> Path:
    """A JSONL benchmark of ``n`` code-word questions the fake 'oracle' script answers."""
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"item{i}", "input": f"What is the code word for item {i}?", "reference": f"w{i}"}) + "\n")
    return path
