"""The ``task:`` section (few-shot examples and answer reading carried in the file): validation
with positions, round trips through dump_yaml, and the explicit fields exports pin."""

from __future__ import annotations

import pytest

from archon.errors import SpecError
from archon.graph import validate_pipeline
from archon.spec import dump_yaml, load_spec_text
from archon.spec.schema import ANSWER_FORMATS, TaskSpec

GOOD = """\
pipeline:
  - {type: generate, few_shot: 2, samples: 3}
  - {type: vote}
task:
  kind: math
  answer: numeric
  shots:
    - {id: a, input: "2 + 2 =", reference: "4"}
    - input: |
        3 + 4 =
      reference: "7"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_pipeline(load_spec_text(text, "s.yaml"))
    return [d.format() for d in info.value.diagnostics]


def test_a_task_section_validates_into_typed_shots() -> None:
    spec = validate_pipeline(load_spec_text(GOOD, "s.yaml"))
    assert spec.task is not None
    assert spec.task.kind == "math" and spec.task.answer == "numeric"
    assert [(s.id, s.input, s.reference) for s in spec.task.shots] == [("a", "2 + 2 =", "4"), (None, "3 + 4 =\n", "7")]


def test_errors_in_the_task_section_name_file_line_and_column() -> None:
    text = GOOD.replace("answer: numeric", "answer: numerc").replace('reference: "4"}', 'refrence: "4"}')
    assert problems(text) == [
        "s.yaml:6:11: error: invalid value 'numerc' for 'answer' (did you mean 'numeric'? expected one of: "
        + ", ".join(ANSWER_FORMATS) + ")",
        "s.yaml:8:7: error: missing required key 'reference' in 'task.shots.0'",
        "s.yaml:8:33: error: unknown key 'refrence' in 'task.shots.0' (did you mean 'reference'?)",
    ]


def test_a_shot_reference_must_be_text() -> None:
    (line,) = problems(GOOD.replace('reference: "4"', "reference: 4"))
    assert line == "s.yaml:8:44: error: expected a string for 'reference', got 4"


def test_few_shot_without_examples_in_the_task_is_an_error() -> None:
    text = "pipeline:\n  - {type: generate, few_shot: 3}\ntask: {answer: exact}\n"
    assert problems(text) == [
        "s.yaml:2:32: error: few_shot: 3, but 'task.shots' holds no examples "
        "(add solved examples under task.shots ({input: .., reference: ..}), or set few_shot: 0)"
    ]
    # without a task section the examples come from the benchmark, as before
    validate_pipeline(load_spec_text("pipeline:\n  - {type: generate, few_shot: 3}\n", "s.yaml"))


def test_dump_round_trips_the_task_and_writes_it_after_the_pipeline() -> None:
    spec = validate_pipeline(load_spec_text(GOOD, "s.yaml"))
    text = dump_yaml(spec)
    assert text.index("pipeline:") < text.index("task:")
    assert "kind: math" in text and "answer: numeric" in text
    assert validate_pipeline(load_spec_text(text, "again.yaml")) == spec


def test_explicit_fields_are_written_at_their_defaults() -> None:
    spec = validate_pipeline(load_spec_text("pipeline:\n  - {type: generate, models: [local/smollm2]}\n  - {type: vote}\n", "s.yaml"))
    plain = dump_yaml(spec)
    assert "temperature" not in plain
    pinned = dump_yaml(spec, explicit=("temperature", "top_p", "max_tokens", "model"))
    assert "temperature: 0.7" in pinned and "top_p: 1.0" in pinned and "max_tokens: 512" in pinned
    assert "model: local/smollm2" not in pinned  # a generator listing `models` does not use `model`
    assert "{type: vote}" in pinned  # fields a component does not have are skipped
    assert validate_pipeline(load_spec_text(pinned, "again.yaml")) == spec


def test_task_defaults() -> None:
    task = TaskSpec()
    assert (task.kind, task.answer, task.answer_options, task.shots) == ("qa", "exact", {}, [])
