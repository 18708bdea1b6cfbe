"""Did-you-mean: the valid name closest to a misspelt one, for error hints."""

from __future__ import annotations

import difflib
from typing import Any, Iterable

__all__ = ["did_you_mean"]


def did_you_mean(word: Any, options: Iterable[str]) -> str | None:
    """The closest of ``options`` to ``word``, or None when nothing is close.

    Close means difflib's similarity of at least 0.6, else the same word in another case, else
    the one option that ``word`` (two letters or more) is a prefix of.
    """
    if not isinstance(word, str):
        return None
    options = list(options)
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    prefixed = [o for o in options if len(word) >= 2 and o.lower().startswith(word.lower())]
    return prefixed[0] if len(prefixed) == 1 else None
