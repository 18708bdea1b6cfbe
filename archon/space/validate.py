"""A space spec checked whole: its choice markers, and that at least one of its points is a
valid pipeline (with the diagnostics of a failing point when none is)."""

from __future__ import annotations

from archon.errors import Diagnostic, SpecError
from archon.space.space import CountResult, InvalidPoint, Space
from archon.spec.document import SpecDocument

__all__ = ["check_space"]


def check_space(doc: SpecDocument, *, max_points: int = 5_000, samples: int = 500) -> tuple[Space, CountResult]:
    """A space and its :class:`CountResult`; a space without one valid pipeline is an error,
    reported with the diagnostics of a sampled point so the user sees the cause.

    Validation counts exactly only up to ``max_points`` points and estimates beyond, so that
    ``archon validate`` stays fast on large spaces; ``archon space`` asks for the exact count."""
    space = Space.from_document(doc)
    count = space.count(max_points=max_points, samples=samples)
    if count.exact == 0 or (count.exact is None and count.checked and not count.valid):
        example: list[Diagnostic] = []
        point = space.sample(0)
        if isinstance(point, InvalidPoint):
            try:
                space.resolve(point.assignment)
            except SpecError as exc:
                example = list(exc.diagnostics)
        header = doc.diagnostic(
            ("pipeline",),
            "no point of this space is a valid pipeline",
            f"all {count.checked} checked points break a rule; a sampled point fails with the errors below"
            if example
            else f"all {count.checked} checked points break a rule",
            key=True,
        )
        raise SpecError([header, *example])
    return space, count
