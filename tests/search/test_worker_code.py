"""Which of a search's own modules ship to Ray workers in the runtime_env (archon.search.worker_code)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from archon.search.worker_code import runtime_env_for, shipped_modules, spec_modules


def test_local_modules_and_packages_ship_installed_ones_do_not(tmp_path) -> None:
    (tmp_path / "my_scorer.py").write_text("def f(record, text):\n    return 1\n")
    pkg = tmp_path / "my_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "scoring.py").write_text("def f(record, text):\n    return 1\n")
    path = [str(tmp_path), *__import__("sys").path]
    shipped = shipped_modules(["my_scorer", "my_pkg.scoring", "pytest", "archon.testing", "json", "nowhere"], path)
    # the file, and the whole package (its top level); not an installed package, archon, the
    # standard library, or a module that is not there (its import fails on the worker as here)
    assert shipped == [str((tmp_path / "my_scorer.py").resolve()), str(pkg.resolve())]


def test_the_spec_s_scorer_and_the_preload_modules_make_the_runtime_env(tmp_path, monkeypatch) -> None:
    (tmp_path / "year_scorer.py").write_text("def exact_year(record, text):\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = SimpleNamespace(benchmark=SimpleNamespace(scorer="year_scorer:exact_year"))
    assert spec_modules(settings) == ["year_scorer"]
    env = runtime_env_for(settings, preload=("fake_scripts",))
    assert env == {"py_modules": [str((tmp_path / "year_scorer.py").resolve()),
                                  str((Path(__file__).parent / "fake_scripts.py").resolve())]}
    builtin = SimpleNamespace(benchmark=SimpleNamespace(scorer="exact"))
    assert runtime_env_for(builtin) == {}
