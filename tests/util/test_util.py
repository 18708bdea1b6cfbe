"""The generic helpers: did-you-mean, the Wilson interval, optional dependencies, value types."""

from __future__ import annotations

import pytest

from archon.errors import InputError, MissingDependencyError
from archon.util import did_you_mean, import_optional, is_int, is_number, require, wilson


@pytest.mark.parametrize(
    "word,options,expected",
    [("fuser", ["fuse", "rank"], "fuse"), ("RANK", ["fuse", "rank"], "rank"), ("maj", ["majority", "weighted"], "majority"),
     ("zz", ["a"], None), (3, ["a"], None)],
)
def test_did_you_mean(word: object, options: list[str], expected: str | None) -> None:
    assert did_you_mean(word, options) == expected


def test_wilson_edges() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(20, 20)
    assert hi == 1.0 and 0.8 < lo < 0.9
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    lo, hi = wilson(2.5, 5)  # fractional successes (partial credit) are allowed
    assert lo + hi == pytest.approx(1.0) and lo < 0.5 < hi
    assert wilson(0, 10)[0] == 0.0


def test_missing_dependency_names_the_distribution_and_the_extra() -> None:
    with pytest.raises(MissingDependencyError) as info:
        require("json", "archon_no_such_module", feature="the thing", extra="bench", note="or use another thing")
    message = str(info.value)
    assert message == "the thing needs archon-no-such-module (pip install 'archon[bench]'; or use another thing)"
    assert isinstance(info.value, InputError)  # the CLI prints it as one line, exit status 2
    with pytest.raises(MissingDependencyError, match=r"needs archon-absent \(pip install archon\)"):
        import_optional("archon_absent.sub", feature="x", extra=None)
    require("json", feature="json", extra=None)
    assert import_optional("json", feature="json", extra=None).dumps([]) == "[]"


def test_value_types_keep_booleans_out() -> None:
    assert is_int(3) and not is_int(True) and not is_int(3.0)
    assert is_number(3.5) and is_number(2) and not is_number(False) and not is_number("1")
