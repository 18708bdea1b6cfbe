"""Re-export of the query and candidate records, which live in :mod:`archon.components.types`
(components are a lower layer than the runtime and build on them)."""

from archon.components.types import *  # noqa: F403 - a re-export module
from archon.components.types import __all__  # noqa: F401
