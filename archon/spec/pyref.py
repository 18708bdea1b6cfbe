"""``module:function`` references (user scorers), checked without importing the module.

Validation and ``--dry-run`` must not run user code: importing a module executes it, side
effects included. So the module is found on ``sys.path`` by the import system's path finder (no
parent package is executed either) and its source is parsed, not run; the function must be
defined, imported or assigned at its top level. Standard-library modules are refused: a scorer
is the user's own ``function(record, text)``, and ``os:system`` is not one.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import sys

__all__ = ["check_function_ref"]


@functools.lru_cache(maxsize=256)
def check_function_ref(target: str, search_path: tuple[str, ...] | None = None) -> str | None:
    """What is wrong with the reference ``target`` (None: it names a top-level function)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr or not attr.isidentifier() \
            or not all(part.isidentifier() for part in module_name.split(".")):
        return f"{target!r} is not 'module:function' (e.g. my_scorers:exact_year)"
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return f"{module_name!r} is a standard-library module; a scorer is your own function(record, text)"
    locations: list[str] | None = list(search_path) if search_path is not None else list(sys.path)
    spec = None
    for depth, part in enumerate(module_name.split(".")):
        name = ".".join(module_name.split(".")[: depth + 1])
        spec = importlib.machinery.PathFinder.find_spec(name, locations)
        if spec is None:
            return f"no module {name!r} on the Python path (run from the folder that holds it, or set PYTHONPATH)"
        locations = list(spec.submodule_search_locations or [])
    assert spec is not None
    origin = spec.origin
    if not origin or not origin.endswith(".py"):
        return None  # compiled or namespace: cannot be read without importing; checked when first used
    try:
        with open(origin, "rb") as fh:
            tree = ast.parse(fh.read(), filename=origin)
    except (OSError, SyntaxError, ValueError) as exc:
        return f"cannot read {origin}: {exc}"
    if attr in _top_level_names(tree):
        return None
    if _has_star_import(tree):
        return None  # the name may come from a star import: checked when first used
    return f"{origin} defines no {attr!r} at its top level"


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _has_star_import(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in tree.body)
