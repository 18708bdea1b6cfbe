"""Helpers for space tests: load a space from YAML text through the real spec loader."""

from __future__ import annotations

from archon.space import Space
from archon.spec import load_spec_text


def space_of(text: str) -> Space:
    return Space.from_document(load_spec_text(text, "s.yaml"))
