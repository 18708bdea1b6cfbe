"""The hostile-input guards and the position bookkeeping of archon.spec.yamlload."""

from __future__ import annotations

import math

import pytest

from archon.errors import SpecError
from archon.spec.yamlload import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, load_yaml_bytes, load_yaml_text


def errors(text: str | bytes) -> list[str]:
    with pytest.raises(SpecError) as info:
        if isinstance(text, bytes):
            load_yaml_bytes(text, "f.yaml")
        else:
            load_yaml_text(text, "f.yaml")
    return [d.format() for d in info.value.diagnostics]


def test_core_schema_scalars() -> None:
    tree = load_yaml_text("a: [1, -2, 0x1f, 0o17, 1_000, 1.5, 1e3, .5, -.inf, ~, null, '', true, False, yes, no, on, 2024-01-01]\n")
    a = tree.data["a"]
    assert a[:9] == [1, -2, 31, 15, 1000, 1.5, 1000.0, 0.5, -math.inf]
    assert a[9:] == [None, None, "", True, False, "yes", "no", "on", "2024-01-01"]


def test_positions_of_keys_and_values_are_one_based() -> None:
    tree = load_yaml_text("top:\n  - {k: v, n: 3}\n  - x\n")
    assert tree.key_positions[("top",)] == (1, 1)
    assert tree.positions[("top",)] == (2, 3)
    assert tree.positions[("top", 0, "n")] == (2, 15)
    assert tree.key_positions[("top", 0, "n")] == (2, 12)
    assert tree.positions[("top", 1)] == (3, 5)


def test_every_duplicate_key_is_reported_at_its_second_occurrence() -> None:
    assert errors("a: 1\nb: 2\na: 3\nb: 4\n") == [
        "f.yaml:3:1: error: duplicate key 'a' (first defined at line 1, column 1)",
        "f.yaml:4:1: error: duplicate key 'b' (first defined at line 2, column 1)",
    ]


def test_merge_keys_work_and_explicit_keys_win() -> None:
    tree = load_yaml_text("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert tree.data["use"] == {"y": 3, "x": 1}


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['true']\n",
        "a: !!python/name:os.system\n",
        "!!python/object:collections.OrderedDict {}\n",
        "a: !custom x\n",
        "a: !!binary aGk=\n",
        "? !!python/str x\n: y\n",
    ],
)
def test_tags_that_could_build_objects_are_rejected(text: str) -> None:
    (message,) = errors(text)
    assert "is not allowed" in message


def test_alias_bomb_is_stopped_before_expansion() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    (message,) = errors("\n".join(lines) + "\n")
    assert "expands to more than" in message


def test_alias_count_is_limited() -> None:
    text = "x: &x 1\nl: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    (message,) = errors(text)
    assert f"too many aliases (more than {MAX_ALIASES})" in message
    ok = "x: &x 1\nl: [" + ", ".join(["*x"] * MAX_ALIASES) + "]\n"
    assert load_yaml_text(ok).data["l"] == [1] * MAX_ALIASES


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_deep_nesting_is_limited(opener: str, closer: str) -> None:
    deep = opener * (MAX_DEPTH + 5) + "1" + closer * (MAX_DEPTH + 5)
    (message,) = errors(deep)
    assert f"nested too deeply (more than {MAX_DEPTH} levels)" in message
    shallow = opener * (MAX_DEPTH - 1) + "1" + closer * (MAX_DEPTH - 1)
    load_yaml_text(shallow)


def test_extremely_deep_nesting_does_not_recurse_the_interpreter_to_death() -> None:
    (message,) = errors("[" * 200_000 + "]" * 200_000)
    assert "nested too deeply" in message


def test_size_limit_is_checked_on_bytes_and_text() -> None:
    big = "#" * (MAX_BYTES + 1)
    assert errors(big) == errors(big.encode())
    assert "file is too large" in errors(big)[0]


def test_non_utf8_reports_line_column_and_offset() -> None:
    assert errors(b"a: 1\nb: caf\xe9\n") == [
        "f.yaml:2:7: error: file is not valid UTF-8: byte 0xe9 at offset 11 (save the file as UTF-8)"
    ]


def test_column_counts_characters_not_bytes() -> None:
    # 'é' is two bytes; the bad byte is the 6th character of line 1
    assert errors(b"\xc3\xa9: x\xff\n")[0].startswith("f.yaml:1:5:")


def test_utf8_bom_is_accepted() -> None:
    assert load_yaml_bytes(b"\xef\xbb\xbfa: 1\n").data == {"a": 1}


def test_syntax_error_has_position_and_context() -> None:
    assert errors("a: [1, 2\nb: 3\n") == [
        "f.yaml:2:2: error: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence at line 1, column 4)"
    ]


def test_tabs_get_a_clear_message() -> None:
    assert errors("a:\n\tb: 1\n") == [
        "f.yaml:2:1: error: invalid YAML: tab character (indent with spaces; YAML does not allow tabs for indentation)"
    ]


def test_empty_document_is_none() -> None:
    assert load_yaml_text("").data is None
    assert load_yaml_text("# only a comment\n").data is None


def test_complex_keys_are_rejected() -> None:
    assert errors("{[1, 2]: x}\n") == ["f.yaml:1:2: error: a mapping key must be a plain value, not a list or mapping"]
