"""Every broken spec in ``broken/`` gets exactly the error lines in its ``.expected`` sidecar.

Each file stands for one failure class. The CLI runs in-process from inside ``broken/`` so the
file names in the messages are the bare names the sidecars contain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archon.cli import main
from archon.spec.yamlload import MAX_BYTES

BROKEN = Path(__file__).parent / "broken"
CASES = sorted(p.name for p in BROKEN.glob("*.yaml"))


def test_corpus_is_large_and_complete() -> None:
    assert len(CASES) >= 45
    for name in CASES:
        assert (BROKEN / name).with_suffix(".expected").exists(), f"{name} has no .expected sidecar"
    orphans = {p.stem for p in BROKEN.glob("*.expected")} - {Path(n).stem for n in CASES}
    assert not orphans


@pytest.mark.parametrize("name", CASES)
def test_broken_spec_gives_its_exact_error(name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(BROKEN)
    expected = (BROKEN / name).with_suffix(".expected").read_text(encoding="utf-8")
    status = main(["validate", name])
    out, err = capsys.readouterr()
    assert err == expected
    assert out == ""
    assert status == 2
    assert "Traceback" not in err


def test_huge_file_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "huge.yaml"
    with spec.open("w", encoding="utf-8") as handle:
        handle.write("pipeline:\n  - {type: generate}\ndescription: |\n")
        line = "  " + "x" * 78 + "\n"
        handle.write(line * (MAX_BYTES // len(line) + 10))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "huge.yaml"]) == 2
    err = capsys.readouterr().err
    assert err == "huge.yaml: error: file is too large (2.0 MiB; the limit is 2 MiB) (a spec is a few KiB; is this the right file?)\n"


def test_missing_file_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "nope.yaml"]) == 2
    assert capsys.readouterr().err == "nope.yaml: error: cannot read the spec: No such file or directory\n"


def test_all_files_are_checked_and_reported(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(BROKEN)
    names = ["negative_samples.yaml", "unknown_component_type.yaml", "duplicate_key.yaml"]
    assert main(["validate", *names]) == 2
    err = capsys.readouterr().err
    assert err == "".join((BROKEN / n).with_suffix(".expected").read_text(encoding="utf-8") for n in names)
