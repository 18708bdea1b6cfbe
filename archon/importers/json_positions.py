"""Where every key and value of a JSON document sits (1-based line and column).

The standard ``json`` module parses fast and reports syntax errors with exact positions, but once
parsing succeeds it forgets where things were. Errors about a *valid* document ("this key is
misspelled", "this fuser sits in the first layer") must still name ``file:line:col``, so after
``json.loads`` succeeds we walk the text once more and record positions by path. The walk also
finds duplicate keys, which ``json.loads`` silently resolves by keeping the last one.

Paths are tuples of object keys and list indices, e.g. ``("layers", 3, 0, "samples")``.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]  # public in CPython, missing from typeshed

__all__ = ["JsonPositions", "MAX_DEPTH", "line_col", "scan_positions"]

#: Documents nested deeper than this are refused (Archon configs nest four levels).
MAX_DEPTH = 64

Path = tuple[str | int, ...]
_WS = " \t\r\n"
_DECODER = json.JSONDecoder()


@dataclass
class JsonPositions:
    """Positions in one JSON text.

    ``values[path]`` is where the value at ``path`` starts; ``keys[path]`` is where the key that
    leads to ``path`` starts (its opening quote). ``duplicates`` lists ``(path, line, col)`` of
    every key that repeats an earlier key of the same object.
    """

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    duplicates: list[tuple[Path, int, int]] = field(default_factory=list)

    def key(self, path: Path) -> tuple[int, int]:
        """Position of the key leading to ``path``, else of its value, else of the nearest parent."""
        if path in self.keys:
            return self.keys[path]
        return self.value(path)

    def value(self, path: Path) -> tuple[int, int]:
        """Position of the value at ``path``, falling back to the nearest parent (1:1 at worst)."""
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))


def line_col(line_starts: list[int], offset: int) -> tuple[int, int]:
    """1-based (line, column) of character ``offset``; columns count characters like ``json`` does."""
    index = bisect.bisect_right(line_starts, offset) - 1
    return index + 1, offset - line_starts[index] + 1


def _line_starts(text: str) -> list[int]:
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


class _TooDeep(ValueError):
    pass


def scan_positions(text: str) -> JsonPositions:
    """Record positions of every key and value of ``text``, which must already be valid JSON.

    Raises ``ValueError`` when the document nests deeper than :data:`MAX_DEPTH`.
    """
    starts = _line_starts(text)
    out = JsonPositions()

    def skip(i: int) -> int:
        while i < len(text) and text[i] in _WS:
            i += 1
        return i

    def value(i: int, path: Path, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _TooDeep(f"nested deeper than {MAX_DEPTH} levels")
        i = skip(i)
        out.values[path] = line_col(starts, i)
        ch = text[i]
        if ch == "{":
            seen: set[str] = set()
            i = skip(i + 1)
            if text[i] == "}":
                return i + 1
            while True:
                i = skip(i)
                key_at = i
                key, i = scanstring(text, i + 1)
                child: Path = (*path, key)
                if key in seen:
                    out.duplicates.append((child, *line_col(starts, key_at)))
                    # Walk the repeated value under a private path so the first one's positions stay.
                    child = (*path, f"\0dup{key_at}")
                else:
                    seen.add(key)
                    out.keys[child] = line_col(starts, key_at)
                i = skip(i)  # now at ':'
                i = value(i + 1, child, depth + 1)
                i = skip(i)
                if text[i] == ",":
                    i += 1
                    continue
                return i + 1  # '}'
        if ch == "[":
            i = skip(i + 1)
            if text[i] == "]":
                return i + 1
            index = 0
            while True:
                i = value(i, (*path, index), depth + 1)
                i = skip(i)
                index += 1
                if text[i] == ",":
                    i += 1
                    continue
                return i + 1  # ']'
        if ch == '"':
            return scanstring(text, i + 1)[1]
        return _DECODER.raw_decode(text, i)[1]

    try:
        value(0, (), 0)
    except _TooDeep as exc:
        raise ValueError(str(exc)) from None
    return out
