"""Type tests for values read from YAML or JSON, where ``true`` is a bool and never a number."""

from __future__ import annotations

from typing import Any

__all__ = ["is_int", "is_number"]


def is_int(value: Any) -> bool:
    """An integer that is not a boolean (``isinstance(True, int)`` holds in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or a float that is not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
