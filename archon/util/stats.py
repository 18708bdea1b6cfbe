"""The interval every accuracy is reported with."""

from __future__ import annotations

import math

__all__ = ["wilson"]

#: The two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``successes`` out of ``n`` (95% by default).

    Chosen over the normal approximation because it stays inside [0, 1] and behaves at 0 and 1
    accuracy and at the small n of a dev split. Fractional successes (partial credit, judge
    ties) are allowed: the interval is that of their mean. ``n == 0`` gives (0, 1): nothing is
    known.
    """
    if n <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, successes / n))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
