"""Normalisation of the layered shorthand and space detection in archon.spec.document."""

from __future__ import annotations

from pathlib import Path

import pytest

from archon.errors import SpecError
from archon.spec import load_spec_file, load_spec_text


def test_bare_component_becomes_a_one_component_layer_and_keeps_positions() -> None:
    doc = load_spec_text("pipeline:\n  - {type: generate, samples: 3}\n  - [{type: fuse}, {type: fuse}]\n  - type: vote\n")
    assert doc.data["pipeline"] == [[{"type": "generate", "samples": 3}], [{"type": "fuse"}, {"type": "fuse"}], [{"type": "vote"}]]
    assert doc.locate(("pipeline", 0, 0, "samples")) == (2, 31)
    assert doc.locate(("pipeline", 1, 1, "type")) == (3, 27)
    assert doc.locate(("pipeline", 2, 0, "type")) == (4, 11)
    assert doc.locate(("pipeline", 2, 0, "type"), key=True) == (4, 5)
    assert doc.locate(("pipeline", 0)) == (2, 5)
    assert not doc.is_space


def test_locate_falls_back_to_the_nearest_ancestor() -> None:
    doc = load_spec_text("pipeline:\n  - {type: generate}\n")
    assert doc.locate(("pipeline", 0, 0, "samples")) == (2, 5)
    assert doc.locate(("nothing", "here")) == (1, 1)


def test_space_key_is_renamed_and_markers_make_a_space() -> None:
    doc = load_spec_text("space:\n  - {type: generate, samples: {int: [1, 4]}}\n")
    assert doc.top_key == "space"
    assert doc.is_space
    assert doc.data["pipeline"] == [[{"type": "generate", "samples": {"int": [1, 4]}}]]
    assert doc.locate(("pipeline", 0, 0, "samples")) == (2, 31)


@pytest.mark.parametrize(
    "layer",
    [
        "{type: generate, samples: {choice: [1, 3]}}",
        "{type: generate, models: {prefix: [a, b], size: 1}}",
        "{type: generate, temperature: {float: {low: 0.1, high: 1.0}}}",
        "{one_of: [[{type: vote}], []]}",
        "{repeat: {int: [1, 3]}, layers: [{type: fuse}]}",
        "{layer: [{type: vote}], optional: true}",
        "{type: vote, optional: true}",
        "{type: vote, when: {x: 1}}",
    ],
)
def test_each_marker_makes_a_space(layer: str) -> None:
    assert load_spec_text(f"pipeline:\n  - {{type: generate}}\n  - {layer}\n").is_space


def test_markers_in_free_form_sections_do_not_count() -> None:
    doc = load_spec_text("prompts: {choice: x}\nbenchmark: {name: b, options: {int: 3}}\npipeline:\n  - {type: generate}\n")
    assert not doc.is_space


def test_shorthand_is_normalised_inside_space_markers() -> None:
    doc = load_spec_text(
        "space:\n  - {type: generate}\n  - one_of:\n      - [{type: vote}]\n      - - {type: rank}\n        - [{type: fuse}, {type: fuse}]\n"
        "  - {repeat: 2, layers: [{type: fuse}]}\n  - {layer: {type: vote}, optional: true}\n"
    )
    one_of = doc.data["pipeline"][1]["one_of"]
    assert one_of == [[[{"type": "vote"}]], [[{"type": "rank"}], [{"type": "fuse"}, {"type": "fuse"}]]]
    assert doc.data["pipeline"][2]["layers"] == [[{"type": "fuse"}]]
    assert doc.data["pipeline"][3]["layer"] == [{"type": "vote"}]
    assert doc.locate(("pipeline", 1, "one_of", 1, 0, 0, "type")) == (5, 18)


def test_benchmark_shorthand() -> None:
    doc = load_spec_text("benchmark: capitals\npipeline:\n  - {type: generate}\n")
    assert doc.data["benchmark"] == {"name": "capitals"}
    assert doc.locate(("benchmark", "name")) == (1, 12)


def test_load_spec_file_reads_bytes(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes("pipeline:\n  - {type: generate, system_prompt: Grüße}\n".encode())
    doc = load_spec_file(path)
    assert doc.file == str(path)
    assert doc.data["pipeline"][0][0]["system_prompt"] == "Grüße"


def test_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec_file(tmp_path)
    assert "cannot read the spec" in str(info.value)
