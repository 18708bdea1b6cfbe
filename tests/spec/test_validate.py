"""Pydantic errors mapped to positioned one-line diagnostics, and references, in archon.spec.validate."""

from __future__ import annotations

import pytest

from archon.errors import SpecError
from archon.graph import validate_pipeline
from archon.spec import load_spec_text, schema_diagnostics
from archon.spec.schema import GenerateSpec, Spec


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_pipeline(load_spec_text(text, "s.yaml"))
    return [d.format() for d in info.value.diagnostics]


def test_valid_pipeline_gives_a_typed_spec() -> None:
    spec = validate_pipeline(load_spec_text("pipeline:\n  - {type: generate, samples: 3}\n  - {type: vote}\n"))
    assert isinstance(spec, Spec)
    first = spec.pipeline.layers[0][0]
    assert isinstance(first, GenerateSpec) and first.samples == 3


def test_all_errors_are_reported_sorted_by_position() -> None:
    lines = problems(
        "search: {sampler: rnadom}\n"
        "pipeline:\n"
        "  - {type: generate, samples: 0, model: nope}\n"
        "  - {type: fuse, temprature: 1}\n"
    )
    assert lines == [
        "s.yaml:1:19: error: invalid value 'rnadom' for 'sampler' (did you mean 'random'? expected one of: tpe, random, grid, nsga2, gp, greedy)",
        "s.yaml:3:31: error: samples 0 is out of range (allowed: 1 <= samples <= 1024)",
        "s.yaml:3:41: error: undefined model 'nope' (no 'models:' section; 'local/smollm2' is always available)",
        "s.yaml:4:18: error: unknown key 'temprature' in a fuse component (did you mean 'temperature'?)",
    ]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    (line,) = problems("pipeline:\n  - {type: vote, zzz: 1}\n")
    assert line == "s.yaml:2:18: error: unknown key 'zzz' in a vote component (allowed keys: id, inputs, method, weights)"


def test_strict_types_no_silent_coercion() -> None:
    assert problems("pipeline:\n  - {type: generate, samples: true}\n") == [
        "s.yaml:2:31: error: expected an integer for 'samples', got true"
    ]
    assert problems("pipeline:\n  - {type: generate, samples: 2.0}\n") == [
        "s.yaml:2:31: error: expected an integer for 'samples', got 2.0"
    ]


def test_ints_are_accepted_for_floats() -> None:
    spec = validate_pipeline(load_spec_text("pipeline:\n  - {type: generate, temperature: 1}\n"))
    assert spec.pipeline.layers[0][0].temperature == 1.0


def test_api_key_value_is_never_echoed() -> None:
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    (line,) = problems(f"models:\n  g: {{kind: litellm, model: m, api_key_env: {secret}}}\npipeline:\n  - {{type: generate, model: g}}\n")
    assert secret not in line and "api_key_env" in line


def test_model_names_are_suggested_from_the_defined_ones() -> None:
    (line,) = problems("models:\n  claude: {kind: litellm, model: anthropic/x}\npipeline:\n  - {type: generate, models: [cluade]}\n")
    assert line == "s.yaml:4:31: error: undefined model 'cluade' (did you mean 'claude'?)"


def test_local_model_needs_no_entry() -> None:
    validate_pipeline(load_spec_text("pipeline:\n  - {type: generate, model: local/smollm2}\n"))


def test_a_space_is_not_a_pipeline() -> None:
    assert problems("space:\n  - {type: generate, samples: {int: [1, 3]}}\n") == [
        "s.yaml:1:1: error: this spec is a search space (it has choices), not a pipeline (use 'archon space' to sample pipelines from it)"
    ]


def test_schema_diagnostics_returns_instead_of_raising() -> None:
    spec, found = schema_diagnostics(load_spec_text("pipeline:\n  - {type: generate}\n"))
    assert spec is not None and found == []
    spec, found = schema_diagnostics(load_spec_text("pipeline:\n  - {type: generat}\n"))
    assert spec is None and [d.message for d in found] == ["unknown component type 'generat'"]


def test_settings_of_a_space_are_read_without_its_pipeline(tmp_path) -> None:
    from archon.spec import Settings, load_settings

    (tmp_path / "data.jsonl").write_text("")
    text = ("models: {m: {kind: fake, model: oracle}}\n"
            "benchmark: {name: jsonl, path: data.jsonl}\n"
            "search: {sampler: random, trials: 3}\n"
            "space:\n  - {type: generate, model: m, samples: {int: [1, 4]}}\n")
    settings = load_settings(load_spec_text(text, "s.yaml"))
    assert isinstance(settings, Settings) and not isinstance(settings, Spec)
    assert settings.search.sampler == "random" and list(settings.models) == ["m"]
    # a relative benchmark path is anchored at the spec's folder, once, when the file is there
    resolved = settings.resolve_paths(tmp_path)
    assert resolved.benchmark is not None and resolved.benchmark.path == str((tmp_path / "data.jsonl").resolve())
    assert settings.resolve_paths(tmp_path / "elsewhere").benchmark == settings.benchmark


def test_settings_errors_name_their_position_and_ignore_the_pipeline() -> None:
    from archon.spec import load_settings

    text = ("budget: {per_query: {call: 3}}\n"
            "search: {sampler: tpee}\n"
            "pipeline:\n  - {type: nonsense}\n")
    with pytest.raises(SpecError) as info:
        load_settings(load_spec_text(text, "s.yaml"))
    lines = [d.format() for d in info.value.diagnostics]
    assert lines == [
        "s.yaml:1:22: error: unknown key 'call' in 'budget.per_query' (did you mean 'calls'?)",
        "s.yaml:2:19: error: invalid value 'tpee' for 'sampler' (did you mean 'tpe'? "
        "expected one of: tpe, random, grid, nsga2, gp, greedy)",
    ]
