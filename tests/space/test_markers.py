"""The choice markers themselves are validated, each problem at its position."""

from __future__ import annotations

import pytest

from archon.errors import SpecError
from archon.space import InvalidSpacePoint, Space

from space_util import space_of

HEAD = "space:\n  - type: generate\n"


@pytest.mark.parametrize(
    "line, message",
    [
        ("    samples: {int: [5, 1]}\n", "empty int range: low 5 is above high 1"),
        ("    samples: {int: {low: 2, high: 11, step: 2}}\n", "not a whole number of steps of 2 (use high: 10)"),
        ("    samples: {int: [1.5, 3]}\n", "the bounds of an int range must be integers"),
        ("    samples: {int: [1, 2, 3]}\n", "an int range is [low, high]"),
        ("    samples: {int: {low: 0, high: 4, log: true}}\n", "a log int range needs low >= 1"),
        ("    temperature: {float: {low: 0.0, high: 1.0, step: 0.3}}\n", "not a whole number of steps of 0.3"),
        ("    temperature: {float: {low: 0.1, high: 1.0, step: 0.1, log: true}}\n", "cannot have both step and log"),
        ("    temperature: {float: [0.1, 1.0], nmae: t}\n", "unknown key 'nmae' in a float marker (did you mean 'name'?)"),
        ("    temperature: {choice: []}\n", "a choice needs a non-empty list of options"),
        ("    temperature: {choice: [0.1, 0.1]}\n", "option 0.1 is listed twice"),
        ("    temperature: {choice: [0.1, 0.2], labels: [a]}\n", "labels must be a list of distinct strings"),
        ("    models: {prefix: [local/smollm2], size: {int: [1, 2]}}\n", "prefix size goes up to 2 but the list has 1 items"),
        ("    models: {prefix: [local/smollm2]}\n", "a prefix needs 'size'"),
        ("    temperature: {float: [0.1, 1.0], name: 'a#b'}\n", "invalid choice name 'a#b'"),
        ("    temperature: {float: [0.1, 1.0], when: {nope: 1}}\n", "'when' names an unknown choice 'nope'"),
        ("    samples: {one_of: [[], []]}\n", "'one_of' is only allowed where a layer goes"),
    ],
)
def test_bad_marker(line, message):
    with pytest.raises(SpecError) as err:
        space_of(HEAD + line + "  - {type: vote}\n")
    d = err.value.diagnostics[0]
    assert message in d.format()
    assert d.file == "s.yaml" and d.line == 3


def test_duplicate_names_and_when_values():
    text = HEAD + "    samples: {int: [1, 3], name: n}\n    temperature: {float: [0.1, 1.0], name: n}\n  - {type: vote}\n"
    with pytest.raises(SpecError, match="choice name 'n' is used twice"):
        space_of(text)
    text = HEAD + "    samples: {int: [1, 3], name: n}\n    temperature: {choice: [0.1, 0.5], when: {n: 7}}\n  - {type: vote}\n"
    with pytest.raises(SpecError, match="'when' value 7 is not a value of choice 'n'"):
        space_of(text)


def test_repeat_and_one_of_shapes():
    with pytest.raises(SpecError, match="repeat count must be >= 0"):
        space_of("space:\n  - {type: generate}\n  - repeat: {int: [-1, 2]}\n    layers: [{type: fuse}]\n")
    with pytest.raises(SpecError, match="a repeat needs 'layers'"):
        space_of("space:\n  - {type: generate}\n  - {repeat: 2}\n")
    with pytest.raises(SpecError, match="one_of needs a non-empty list"):
        space_of("space:\n  - {type: generate}\n  - {one_of: []}\n")


def test_constraints_are_reserved():
    with pytest.raises(SpecError, match="'constraints:' is reserved"):
        space_of("constraints: [{expr: x, message: y}]\nspace:\n  - {type: generate}\n")


def test_all_problems_are_reported_at_once():
    with pytest.raises(SpecError) as err:
        space_of(HEAD + "    samples: {int: [5, 1]}\n    temperature: {choice: []}\n  - {type: vote}\n")
    assert [d.line for d in err.value.diagnostics] == [3, 4]


SPACE = """
space:
  - type: generate
    samples: {int: [1, 4], name: n}
  - {layer: [{type: critique}], optional: critic}
  - {type: rank, top_k: 1, use_critiques: true}
"""


def test_resolve_errors():
    s = space_of(SPACE)
    with pytest.raises(SpecError, match="no value for choice 'critic'"):
        s.resolve({"n": 2})
    with pytest.raises(SpecError, match=r"value 9 is not in the domain of choice 'n' \(its domain: int \[1, 4\]\)"):
        s.resolve({"n": 9, "critic": True})
    with pytest.raises(SpecError, match="unknown choice 'crtic' .did you mean 'critic'"):
        s.resolve({"n": 2, "crtic": True})
    with pytest.raises(SpecError, match="no value for choice 'n'"):
        s.resolve({"critic": True})


def test_invalid_point_points_at_the_space_file():
    s = space_of(SPACE)
    with pytest.raises(InvalidSpacePoint) as err:
        s.resolve({"n": 2, "critic": False})
    d = err.value.diagnostics[0]
    assert d.file == "s.yaml" and d.line == 6 and "use_critiques" in d.message
    assert err.value.point.reasons[0].startswith("critic-before-use")


def test_schema_error_in_a_point_is_positioned():
    s = space_of("space:\n  - type: generate\n    samples: {choice: [1, 0], name: n}\n  - {type: vote}\n")
    assert s.resolve({"n": 1}).static_cost().calls == 1
    with pytest.raises(InvalidSpacePoint) as err:
        s.resolve({"n": 0})
    assert err.value.diagnostics[0].line == 3


def test_plain_dict_spaces_work_without_positions():
    s = Space.from_document({"space": [{"type": "generate", "samples": {"int": [1, 2]}}, {"type": "vote"}]})
    assert s.count().exact == 2
