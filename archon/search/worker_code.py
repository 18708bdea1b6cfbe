"""The user's own Python code a search needs on its Ray workers, and how it gets there.

A spec can name code that is not part of archon: a ``module:function`` scorer (``benchmark.scorer``),
and a search can ``preload`` modules (e.g. ones registering fake-model scripts). On the driver
they are found on ``sys.path`` (the spec's folder, the current directory, ``PYTHONPATH``); on a
worker on another machine that path means nothing. So each such module that is not an installed
package is handed to Ray as a ``py_modules`` entry of the tasks' ``runtime_env``: Ray uploads it
once to the cluster's object store and every worker that runs a shard imports it from its own copy.

Installed packages (under a ``site-packages`` directory of the driver's Python) and archon itself
are not shipped: a cluster's workers install them (``ray_cluster.yaml`` does), at the same
versions. Code Ray cannot ship this way (a compiled single-file extension) must be installed on the
workers too; :func:`shipped_modules` says which paths it ships.
"""

from __future__ import annotations

import importlib.machinery
import os
import site
import sys
from pathlib import Path
from typing import Any, Iterable

__all__ = ["runtime_env_for", "shipped_modules", "spec_modules"]


def spec_modules(settings: Any) -> list[str]:
    """Modules of user code a spec's settings name (today: a ``module:function`` scorer)."""
    scorer = getattr(getattr(settings, "benchmark", None), "scorer", None)
    if isinstance(scorer, str) and ":" in scorer:
        return [scorer.partition(":")[0]]
    return []


def _installed_roots() -> list[Path]:
    roots = [*site.getsitepackages(), site.getusersitepackages(), sys.base_prefix]
    return [Path(r).resolve() for r in roots if r]


def _installed(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def shipped_modules(modules: Iterable[str], search_path: Iterable[str] | None = None) -> list[str]:
    """The local files or package folders to ship for ``modules`` (dotted names; the top-level
    package is what is shipped). Unknown modules are left out: importing them on the worker
    then fails with Python's own message, as it would on the driver."""
    locations = [os.path.abspath(p or ".") for p in (search_path if search_path is not None else sys.path)]
    roots = _installed_roots()
    out: list[str] = []
    for name in dict.fromkeys(m.split(".")[0] for m in modules if m):
        if name == "archon" or name in sys.stdlib_module_names:
            continue
        found = importlib.machinery.PathFinder.find_spec(name, locations)
        if found is None:
            continue
        if found.submodule_search_locations:
            places = list(found.submodule_search_locations)
            if len(places) != 1:
                continue  # a namespace package spread over folders: it has to be installed
            path = Path(places[0]).resolve()
        elif found.origin and found.origin.endswith(".py"):
            path = Path(found.origin).resolve()
        else:
            continue  # compiled or built in: it has to be installed on the workers
        if not _installed(path, roots) and str(path) not in out:
            out.append(str(path))
    return out


def runtime_env_for(settings: Any, preload: Iterable[str] = ()) -> dict[str, Any]:
    """The ``runtime_env`` a search's shard tasks run with ({} when it needs no user code)."""
    paths = shipped_modules([*spec_modules(settings), *preload])
    return {"py_modules": paths} if paths else {}
