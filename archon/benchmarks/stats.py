"""Confidence intervals for accuracies."""

from __future__ import annotations

import math

__all__ = ["wilson_interval"]


def wilson_interval(mean: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a proportion ``mean`` observed over ``n`` records (95% by default).

    Chosen over the normal approximation because it stays inside [0, 1] and behaves at 0 and 1
    accuracy and at the small n of a dev split. Fractional per-record values (judge ties) are
    treated as their mean. ``n == 0`` gives (0, 1): nothing is known.
    """
    if n <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, mean))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
