"""Search spaces: choices in a pipeline template, resolving them into pipelines, counting,
enumerating, random sampling and Optuna define-by-run.

    from archon.space import Space
    s = Space.from_document(doc)          # checks the choice markers; raises SpecError
    s.count()                             # CountResult(exact=..., estimate=..., ...)
    p = s.suggest(trial)                  # a Pipeline, choices suggested only where they exist

The syntax is in docs/spaces.md (and the "Choice syntax" table of docs/architecture.md).
"""

from __future__ import annotations

from archon.space.choices import Categorical, Choice, FloatRange, IntRange
from archon.space.space import CountResult, InvalidPoint, InvalidSpacePoint, PointOverBudget, Space
from archon.space.validate import check_space

__all__ = [
    "Categorical",
    "Choice",
    "CountResult",
    "FloatRange",
    "IntRange",
    "InvalidPoint",
    "InvalidSpacePoint",
    "PointOverBudget",
    "Space",
    "check_space",
]
