"""Small helpers that know nothing of archon's concepts, used from every layer above ``errors``.

- :func:`require` / :func:`import_optional`: optional dependencies, with the extra to install;
- :func:`did_you_mean`: the closest valid name to a misspelt one, for error hints;
- :func:`wilson`: the interval every accuracy is reported with;
- :func:`is_int` / :func:`is_number`: a YAML/JSON number that is not a boolean;
- :func:`user_cache_dir`: the per-user folder for the call cache and the model file.
"""

from __future__ import annotations

from archon.util.optional import import_optional, require
from archon.util.paths import user_cache_dir
from archon.util.stats import wilson
from archon.util.suggest import did_you_mean
from archon.util.values import is_int, is_number

__all__ = ["did_you_mean", "import_optional", "is_int", "is_number", "require", "user_cache_dir", "wilson"]
