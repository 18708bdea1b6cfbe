"""The layering of docs/architecture.md holds: import-linter's contracts (pyproject.toml,
``[tool.importlinter]``) pass on the package, and would fail on an upward import."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the ``archon`` package under ``root``, with ``root``'s pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )


def _contract_layers() -> list[list[str]]:
    """The layers contract, highest first, each layer as its package names."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return [[name.strip(" ()") for name in re.split(r"[|:]", layer)] for layer in layers]


def test_the_import_contracts_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_the_contract_mirrors_the_documented_layers() -> None:
    """docs/architecture.md's layer table lists the same packages in the same order (lowest
    first there, highest first in the contract)."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = doc.split("## Layers", 1)[1].split("\n## ", 1)[0]
    documented: dict[int, set[str]] = {}
    for row in table.splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|(.*?)\|", row)
        if m:
            names = {f"archon.{n.replace('/', '.').strip('.')}" for n in re.findall(r"`archon/([\w/]+?)(?:\.py)?/?`", m.group(2))}
            documented.setdefault(int(m.group(1)), set()).update(names)
    in_contract = [set(layer) for layer in reversed(_contract_layers())]
    assert [documented[k] for k in sorted(documented)] == in_contract


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The contract bites: the spec layer importing the runtime is reported."""
    shutil.copytree(ROOT / "archon", tmp_path / "archon", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "archon" / "spec" / "schema.py").open("a", encoding="utf-8") as handle:
        handle.write("\nimport archon.runtime.executor  # an upward import, planted by the test\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "archon.spec.schema -> archon.runtime.executor" in result.stdout, result.stdout
