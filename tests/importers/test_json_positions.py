"""Positions of keys and values in JSON text: what every importer error's line:col rests on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archon.importers.json_positions import MAX_DEPTH, scan_positions


def test_keys_and_values_of_nested_objects_and_arrays() -> None:
    text = '{\n  "a": [1, {"b": true}],\n  "c": "x"\n}'
    pos = scan_positions(text)
    assert pos.values[()] == (1, 1)
    assert pos.keys[("a",)] == (2, 3)
    assert pos.values[("a",)] == (2, 8)
    assert pos.values[("a", 0)] == (2, 9)
    assert pos.keys[("a", 1, "b")] == (2, 13)
    assert pos.values[("a", 1, "b")] == (2, 18)
    assert pos.keys[("c",)] == (3, 3)
    assert pos.values[("c",)] == (3, 8)
    assert not pos.duplicates


def test_columns_count_characters_like_json_does() -> None:
    text = '{"é€": 1, "k": x}'
    with pytest.raises(json.JSONDecodeError) as info:
        json.loads(text)
    # the same column arithmetic as the json module's error positions
    assert info.value.colno == 16
    pos = scan_positions('{"é€": 1, "k": 2}')
    assert pos.keys[("k",)] == (1, 11)


def test_duplicates_keep_the_first_position() -> None:
    pos = scan_positions('{"a": 1,\n "a": {"b": 2}}')
    assert pos.keys[("a",)] == (1, 2)
    assert pos.values[("a",)] == (1, 7)
    assert pos.duplicates == [(("a",), 2, 2)]
    assert ("a", "b") not in pos.keys


def test_fallback_to_the_nearest_parent() -> None:
    pos = scan_positions('{"layers": [[{"type": "fuser"}]]}')
    assert pos.key(("layers", 0, 0, "missing")) == pos.values[("layers", 0, 0)]
    assert pos.value(("nope",)) == (1, 1)


def test_depth_limit() -> None:
    deep = "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2)
    with pytest.raises(ValueError, match="nested deeper"):
        scan_positions(deep)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values, st.sampled_from([None, 1, 2]))
def test_every_recorded_value_position_parses_to_that_value(value: object, indent: int | None) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    pos = scan_positions(text)
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    decoder = json.JSONDecoder()
    for path, (line, column) in pos.values.items():
        expected = value
        for part in path:
            expected = expected[part]  # type: ignore[index]
        parsed, _ = decoder.raw_decode(text, starts[line - 1] + column - 1)
        assert parsed == expected
