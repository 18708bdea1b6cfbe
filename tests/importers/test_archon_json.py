"""The Archon -> archon mapping, one rule at a time, on small hand-written configs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from archon.errors import Diagnostic, ImportArchonError, InputError, SpecError
from archon.importers import convert_archon, import_archon_text
from archon.importers.archon_json import ERROR_CODES, LOCAL_MAX_TOKENS
from archon.spec.schema import LOCAL_MODEL_NAME


def comp(kind: str, model: str = "Qwen/Qwen2-72B-Instruct", model_type: str = "Together_API", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "model": model, "model_type": model_type, "temperature": 0.7, "max_tokens": 1024}
    if kind in ("critic", "verifier", "unit_test_generator", "unit_test_evaluator"):
        base["samples"] = 1
    if kind == "ranker":
        base["top_k"] = 3
    if kind == "unit_test_evaluator":
        base["remove_unit_tests_from_prompt"] = True
    base.update(extra)
    return base


def config(*layers: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {"name": "t", "layers": [list(layer) for layer in layers], **top}


def run(data: dict[str, Any], **kwargs: Any):
    """Import ``data`` through the text path (positions, validation) and return the result."""
    return import_archon_text(json.dumps(data, indent=2), "cfg.json", **kwargs)


def nodes(tree: dict[str, Any]) -> list[list[str]]:
    return [[node["type"] for node in layer] for layer in tree["pipeline"]]


def errors_of(data: Any, **kwargs: Any) -> ImportArchonError:
    with pytest.raises(ImportArchonError) as info:
        run(data, **kwargs)
    return info.value


def position_of(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, col) of the n-th occurrence of ``needle`` in ``text``."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# ----------------------------------------------------------------------------- error types


def test_errors_are_input_errors() -> None:
    assert issubclass(ImportArchonError, InputError)


# ----------------------------------------------------------------------------- generate


def test_generators_become_one_generate_node_each_with_their_settings() -> None:
    tree = run(config([comp("generator", samples=3, temperature=1.0, max_tokens=700),
                       comp("generator", model="gpt-4o", model_type="OpenAI_API")], [comp("fuser")])).tree
    assert nodes(tree) == [["generate", "generate"], ["fuse"]]
    first, second = tree["pipeline"][0]
    assert first == {"type": "generate", "model": "qwen2-72b-instruct", "temperature": 1.0, "max_tokens": 700, "samples": 3}
    assert second["model"] == "gpt-4o" and second["samples"] == 1  # Archon's default sample count
    assert tree["models"] == {
        "qwen2-72b-instruct": {"kind": "litellm", "model": "together_ai/Qwen/Qwen2-72B-Instruct", "api_key_env": "TOGETHER_API_KEY"},
        "gpt-4o": {"kind": "litellm", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY"},
    }


@pytest.mark.parametrize(
    ("model", "model_type", "entry"),
    [
        ("claude-3-5-sonnet-20240620", "Anthropic_API",
         {"kind": "litellm", "model": "anthropic/claude-3-5-sonnet-20240620", "api_key_env": "ANTHROPIC_API_KEY"}),
        ("llama-3.1-70b-versatile", "Groq_API", {"kind": "litellm", "model": "groq/llama-3.1-70b-versatile", "api_key_env": "GROQ_API_KEY"}),
        ("gemini-1.5-pro-001", "Google_API", {"kind": "litellm", "model": "gemini/gemini-1.5-pro-001", "api_key_env": "GEMINI_API_KEY"}),
        ("bedrock/meta.llama3-70b-instruct-v1:0", "Bedrock_API", {"kind": "litellm", "model": "bedrock/meta.llama3-70b-instruct-v1:0"}),
        ("anthropic.claude-v2", "Bedrock_API", {"kind": "litellm", "model": "bedrock/anthropic.claude-v2"}),
        ("facebook/opt-125m", "vLLM", {"kind": "vllm", "model": "facebook/opt-125m"}),
    ],
)
def test_model_types_map_to_provider_prefixes(model: str, model_type: str, entry: dict[str, Any]) -> None:
    tree = run(config([comp("generator", model=model, model_type=model_type)])).tree
    (name, got), = tree["models"].items()
    assert got == entry
    assert tree["pipeline"][0][0]["model"] == name


def test_same_model_twice_is_one_entry_and_clashing_short_names_are_disambiguated() -> None:
    tree = run(config([comp("generator"), comp("generator"),
                       comp("generator", model="meta-llama/Llama-3-70b-chat-hf"),
                       comp("generator", model="other/Llama-3-70B-chat-hf")], [comp("fuser")])).tree
    assert list(tree["models"]) == ["qwen2-72b-instruct", "llama-3-70b-chat-hf", "llama-3-70b-chat-hf-together_ai"]


def test_unknown_model_type_is_an_error_with_a_suggestion() -> None:
    data = config([comp("generator", model_type="OpenAI")])
    err = errors_of(data)
    (diag,) = err.diagnostics
    assert diag.code == "unknown-model-type"
    assert "unknown model_type 'OpenAI' for model 'Qwen/Qwen2-72B-Instruct'" in diag.message
    assert "did you mean 'OpenAI_API'?" in (diag.hint or "")
    text = json.dumps(data, indent=2)
    assert (diag.line, diag.column) == position_of(text, '"OpenAI"')


def test_empty_model_type_and_tgi_are_errors() -> None:
    assert errors_of(config([comp("generator", model_type="")])).codes == ["unknown-model-type"]
    err = errors_of(config([comp("generator", model_type="tgi")]))
    assert err.codes == ["unsupported-model-type"] and "needs its URL" in str(err)


def test_local_points_every_model_at_the_embedded_model_and_caps_max_tokens() -> None:
    data = config([comp("generator", max_tokens=2048), comp("generator", model="x", model_type="Weird_API")],
                  [comp("fuser", max_tokens=100)])
    result = run(data, local=True)
    assert "models" not in result.tree
    for layer in result.tree["pipeline"]:
        for node in layer:
            assert node["model"] == LOCAL_MODEL_NAME
    assert result.tree["pipeline"][0][0]["max_tokens"] == LOCAL_MAX_TOKENS
    assert result.tree["pipeline"][1][0]["max_tokens"] == 100


def test_model_map_replaces_one_model() -> None:
    data = config([comp("generator"), comp("generator", model="gpt-4o", model_type="OpenAI_API")], [comp("fuser", model="gpt-4o", model_type="OpenAI_API")])
    tree = run(data, model_map={"gpt-4o": "openai/gpt-4o-mini", "Qwen/Qwen2-72B-Instruct": LOCAL_MODEL_NAME}).tree
    assert [n["model"] for n in tree["pipeline"][0]] == [LOCAL_MODEL_NAME, "gpt-4o-mini"]
    assert tree["models"] == {"gpt-4o-mini": {"kind": "litellm", "model": "openai/gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}}


# ----------------------------------------------------------------------------- layer formats


def test_both_layer_formats_give_the_same_pipeline() -> None:
    lists = config([comp("generator"), comp("generator", model="b/B")], [comp("critic")], [comp("fuser")])
    objects = {"name": "t", "layers": [{"branches": 1, "models": layer} for layer in lists["layers"]]}
    assert run(lists).tree == run(objects).tree


def test_branches_other_than_one_are_ignored_with_a_warning() -> None:
    data = {"name": "t", "layers": [{"branches": 1, "models": [comp("generator")]},
                                    {"branches": 2, "models": [comp("fuser")]}]}
    result = run(data)
    assert nodes(result.tree) == [["generate"], ["fuse"]]
    (warning,) = [w for w in result.warnings if "branches" in w.message]
    assert warning.severity == "warning"
    assert (warning.line, warning.column) == position_of(json.dumps(data, indent=2), '"branches": 2')


def test_a_bare_component_layer_imports_as_a_one_component_layer() -> None:
    result = run({"name": "t", "layers": [comp("generator"), comp("fuser")]})
    assert nodes(result.tree) == [["generate"], ["fuse"]]
    assert any("bare component" in w.message for w in result.warnings)


def test_layer_object_keys_are_checked() -> None:
    err = errors_of({"name": "t", "layers": [{"branch": 1, "models": [comp("generator")]}]})
    assert err.codes == ["unknown-key"] and "did you mean 'branches'?" in str(err)


# ----------------------------------------------------------------------------- other components


def test_critic_ranker_fuser_chain() -> None:
    tree = run(config([comp("generator", samples=5)], [comp("critic")],
                      [comp("ranker", top_k=2, use_critiques=True)], [comp("fuser", samples=2), comp("fuser")],
                      [comp("fuser")])).tree
    assert nodes(tree) == [["generate"], ["critique"], ["rank"], ["fuse", "fuse"], ["fuse"]]
    rank = tree["pipeline"][2][0]
    assert (rank["top_k"], rank["use_critiques"]) == (2, True)
    assert [f["samples"] for f in tree["pipeline"][3]] == [2, 1]
    assert all(f["use_critiques"] for f in tree["pipeline"][3])


def test_ranker_uses_critiques_only_when_asked_and_available() -> None:
    tree = run(config([comp("generator")], [comp("critic")], [comp("ranker")], [comp("fuser")])).tree
    assert tree["pipeline"][2][0]["use_critiques"] is False  # Archon's default
    result = run(config([comp("generator")], [comp("ranker", use_critiques=True)], [comp("fuser")]))
    assert result.tree["pipeline"][1][0]["use_critiques"] is False
    assert result.tree["pipeline"][2][0]["use_critiques"] is False
    assert any("no critic runs before this ranker" in w.message for w in result.warnings)


def test_fusion_consumes_critiques() -> None:
    tree = run(config([comp("generator")], [comp("critic")], [comp("fuser")], [comp("fuser")])).tree
    assert [layer[0]["use_critiques"] for layer in tree["pipeline"][2:]] == [True, False]


def test_verifier_maps_to_verify_and_first_k_to_a_verdict_select() -> None:
    tree = run(config([comp("generator", samples=4)], [comp("verifier")], [comp("fuser")])).tree
    assert nodes(tree) == [["generate"], ["verify"], ["fuse"]]
    assert tree["pipeline"][1][0]["fallback"] == "keep_all"  # Archon passes everything on when nothing passes
    tree = run(config([comp("generator", samples=4)], [comp("verifier", first_k=2)])).tree
    assert nodes(tree) == [["generate"], ["verify"], ["select"]]
    assert tree["pipeline"][2][0] == {"type": "select", "by": "verdict", "top_k": 2}


def test_unit_test_generator_and_evaluator_become_one_unit_test() -> None:
    data = config([comp("unit_test_generator", unit_test_cap=7, model="gpt-4o", model_type="OpenAI_API")],
                  [comp("generator", samples=10)],
                  [comp("unit_test_evaluator", first_pass=True, top_k=1, model="gpt-4o", model_type="OpenAI_API")])
    result = run(data)
    assert nodes(result.tree) == [["generate"], ["unit_test"]]
    unit = result.tree["pipeline"][1][0]
    assert (unit["num_tests"], unit["mode"], unit["top_k"], unit["model"]) == (7, "judge", 1, "gpt-4o")
    assert not result.warnings


def test_evaluator_first_k_wins_over_top_k_with_a_warning() -> None:
    data = config([comp("unit_test_generator", unit_test_cap=5)], [comp("generator", samples=10)],
                  [comp("unit_test_evaluator", first_k=3, top_k=1)])
    result = run(data)
    assert result.tree["pipeline"][1][0]["top_k"] == 3
    assert any("'top_k': 1 applies in Archon only" in w.message for w in result.warnings)


def test_unit_test_generator_alone_inserts_a_unit_test_after_the_generators() -> None:
    data = config([comp("unit_test_generator")], [comp("generator")], [comp("critic")], [comp("fuser")])
    result = run(data)
    assert nodes(result.tree) == [["generate"], ["unit_test"], ["critique"], ["fuse"]]
    assert "top_k" not in result.tree["pipeline"][1][0]
    assert {"unit_test_generator without a unit_test_evaluator", "unit_test_generator sets no 'unit_test_cap'"} <= {
        w.message for w in result.warnings}


def test_unit_test_generator_alone_at_the_end() -> None:
    tree = run(config([comp("unit_test_generator", unit_test_cap=3)], [comp("generator", samples=3)])).tree
    assert nodes(tree) == [["generate"], ["unit_test"]]


# ----------------------------------------------------------------------------- keys and values


def test_misspelled_key_names_the_key_position_and_the_fix() -> None:
    data = config([comp("generator")], [comp("fuser", length_contorl=True)])
    text = json.dumps(data, indent=2)
    err = errors_of(data)
    (diag,) = err.diagnostics
    assert diag.code == "unknown-key"
    assert (diag.line, diag.column) == position_of(text, '"length_contorl"')
    assert diag.format() == (f"cfg.json:{diag.line}:{diag.column}: error: unknown key 'length_contorl' in a fuser "
                             "(did you mean 'length_control'?)")


def test_every_misspelling_is_reported() -> None:
    data = config([comp("generator", sampels=2)], [comp("fuser", temprature=0.5)])
    err = errors_of(data)
    assert [d.message for d in err.diagnostics] == ["unknown key 'sampels' in a generator",
                                                    "unknown key 'temprature' in a fuser"]
    assert [d.hint for d in err.diagnostics] == ["did you mean 'samples'?", "did you mean 'temperature'?"]


def test_known_key_on_the_wrong_component_is_dropped_with_a_warning() -> None:
    result = run(config([comp("generator", first_k=2)], [comp("fuser")]))
    (warning,) = result.warnings
    assert warning.message == "'first_k' on a generator is dropped"
    assert "first_k" not in result.yaml.split("pipeline:")[1]


def test_repeated_warnings_are_counted_once() -> None:
    result = run(config([comp("generator", top_k=1) for _ in range(4)], [comp("fuser")]))
    (warning,) = result.warnings
    assert warning.message == "'top_k' on a generator is dropped [4 places; first here]"


def test_length_control_and_no_system_are_reported_as_not_carried_over() -> None:
    result = run(config([comp("generator", no_system=True)], [comp("fuser", length_control=True)]))
    messages = [w.message for w in result.warnings]
    assert "'no_system': true on a generator is not carried over" in messages
    assert "'length_control': true on a fuser is not carried over" in messages


def test_empty_checkpoint_is_silently_dropped() -> None:
    assert not run(config([comp("generator", checkpoint="")], [comp("fuser")])).warnings


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("temperature", "hot", "generator 'temperature' must be a number from 0 to 2, found 'hot'"),
        ("temperature", 3, "generator 'temperature' must be a number from 0 to 2, found 3"),
        ("samples", 0, "generator 'samples' must be a positive integer, found 0"),
        ("max_tokens", 10.5, "generator 'max_tokens' must be a positive integer, found 10.5"),
        ("samples", True, "generator 'samples' must be a positive integer, found true"),
    ],
)
def test_bad_values_are_errors_at_the_value(key: str, value: Any, expected: str) -> None:
    data = config([comp("generator", **{key: value})])
    err = errors_of(data)
    (diag,) = err.diagnostics
    assert (diag.code, diag.message) == ("bad-value", expected)
    text = json.dumps(data, indent=2)
    line, column = position_of(text, f'"{key}": ')
    assert (diag.line, diag.column) == (line, column + len(f'"{key}": '))


def test_missing_required_key_is_an_error() -> None:
    data = config([{"type": "generator", "model": "m", "model_type": "Together_API", "max_tokens": 5}])
    err = errors_of(data)
    assert err.codes == ["missing-key"] and "generator is missing 'temperature'" in str(err)


def test_unknown_component_type_suggests_the_archon_name() -> None:
    err = errors_of(config([comp("generator")], [comp("fuse")]))
    assert err.codes == ["unknown-component"] and "did you mean 'fuser'?" in str(err)


def test_custom_components_are_rejected() -> None:
    assert errors_of(config([comp("generator")], custom=True)).codes == ["custom-components"]


def test_top_level_typo() -> None:
    err = errors_of({"name": "t", "layer": [[comp("generator")]]})
    assert err.codes == ["missing-layers", "unknown-key"]
    assert "did you mean 'layers'?" in str(err)


# ----------------------------------------------------------------------------- layout rules


@pytest.mark.parametrize(
    ("layers", "code", "fragment"),
    [
        ([[comp("fuser")]], "no-candidates", "fuser in layers[0] has no candidates to work on"),
        ([[comp("generator")], [comp("generator")]], "generator-after-first-layer", "generator in layers[1]"),
        ([[comp("generator"), comp("fuser")]], "mixed-layer", "layers[0] mixes generator and fuser components"),
        ([[comp("generator")], [comp("critic"), comp("critic")]], "not-alone", "a critic must be alone in its layer"),
        ([[comp("generator")], [comp("ranker"), comp("ranker")]], "not-alone", "a ranker must be alone"),
        ([[comp("generator")], [comp("unit_test_generator")], [comp("unit_test_evaluator")]],
         "unit-test-generator-late", "unit_test_generator in layers[1] comes after the generators"),
        ([[comp("generator")], [comp("unit_test_evaluator")]], "evaluator-without-tests", "without a unit_test_generator"),
        ([[comp("unit_test_generator")]], "no-generator", "no generator layer"),
        ([[]], "empty-layer", "layers[0] is empty"),
    ],
)
def test_archon_layout_rules(layers: list[list[dict[str, Any]]], code: str, fragment: str) -> None:
    err = errors_of({"name": "t", "layers": layers})
    assert err.codes[0] == code
    assert fragment in err.diagnostics[0].message


def test_layout_error_points_at_the_offending_component() -> None:
    data = config([comp("generator")], [comp("generator", model="x/Y")])
    (diag,) = errors_of(data).diagnostics
    assert (diag.line, diag.column) == position_of(json.dumps(data, indent=2), "{", 3)  # layers[1][0]


# ----------------------------------------------------------------------------- text level


def test_invalid_json_reports_jsons_own_line_and_column() -> None:
    text = '{\n  "name": "t",\n  "layers": [[{"type": "generator"tor", "model": "m"}]]\n}'
    with pytest.raises(ImportArchonError) as info:
        import_archon_text(text, "bad.json")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.line, diag.column) == ("invalid-json", 3, 35)
    assert diag.format() == ("bad.json:3:35: error: invalid JSON: Expecting ',' delimiter "
                             "(found 'tor\", \"model' here; a value must be followed by ',' or a closing bracket)")


def test_truncated_json() -> None:
    with pytest.raises(ImportArchonError) as info:
        import_archon_text('{"name": "t", "layers": [', "cut.json")
    assert info.value.diagnostics[0].hint == "the text ends too early"


def test_duplicate_keys_are_errors() -> None:
    text = '{"name": "t", "layers": [[{"type": "generator", "model": "m", "model_type": "Together_API",' \
           ' "temperature": 0.7, "temperature": 1.5, "max_tokens": 9}]]}'
    with pytest.raises(ImportArchonError) as info:
        import_archon_text(text, "dup.json")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.line, diag.column) == ("duplicate-key", 1, text.index('"temperature": 1.5') + 1)


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(ImportArchonError) as info:
        import_archon_text("[1, 2]", "list.json")
    assert info.value.codes == ["not-an-object"]


def test_deep_nesting_is_refused_cleanly() -> None:
    text = '{"name": "t", "layers": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(ImportArchonError) as info:
        import_archon_text(text, "deep.json")
    assert info.value.codes == ["too-deep"]


def test_non_utf8_and_bom(tmp_path: Any) -> None:
    from archon.importers import import_archon

    good = json.dumps(config([comp("generator")])).encode()
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + good)
    assert import_archon(bom).tree["pipeline"]
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{\n "name": "caf\xe9", "layers": []}')
    with pytest.raises(ImportArchonError) as info:
        import_archon(bad)
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.line, diag.column) == ("not-utf8", 2, 14)


def test_missing_file_is_an_input_error(tmp_path: Any) -> None:
    from archon.importers import import_archon

    with pytest.raises(ImportArchonError) as info:
        import_archon(tmp_path / "nope.json")
    assert info.value.codes == ["unreadable"]


# ----------------------------------------------------------------------------- API shapes


def test_convert_archon_on_a_dict_says_where_in_words() -> None:
    tree = convert_archon(config([comp("generator")], [comp("fuser")]), "x.json")
    assert nodes(tree) == [["generate"], ["fuse"]]
    with pytest.raises(ImportArchonError) as info:
        convert_archon(config([comp("generator")], [comp("fuser", length_contorl=True)]), "x.json")
    assert str(info.value) == ("x.json: error: layers[1][0].length_contorl: unknown key 'length_contorl' in a fuser "
                               "(did you mean 'length_control'?)")


def test_yaml_output_round_trips_and_carries_the_warnings_as_comments() -> None:
    import yaml

    result = run(config([comp("generator", top_k=1)], [comp("fuser")]))
    assert yaml.safe_load(result.yaml) == result.tree
    header = [line for line in result.yaml.splitlines() if line.startswith("#")]
    assert any("warning: 'top_k' on a generator is dropped" in line for line in header)


def test_every_error_code_is_documented() -> None:
    import pathlib

    doc = pathlib.Path(__file__).resolve().parents[2] / "docs" / "archon-compat.md"
    text = doc.read_text(encoding="utf-8")
    for code in ERROR_CODES:
        assert f"`{code}`" in text, code


def test_validator_findings_are_mapped_back_to_the_archon_component(monkeypatch: pytest.MonkeyPatch) -> None:
    """archon's own validator speaks about the generated YAML; the user sees their JSON position."""
    from archon.importers import validation
    from archon.spec.document import load_spec_text

    def reject_the_fuser(text: str, file: str) -> None:
        doc = load_spec_text(text, file)
        line, column = doc.locate(("pipeline", 1, 0))
        raise SpecError([Diagnostic(file, line, column, "fuse2 has a made-up problem", "a hint")])

    monkeypatch.setattr(validation, "_load_and_validate", reject_the_fuser)
    data = config([comp("generator")], [comp("fuser")])
    err = errors_of(data)
    (diag,) = err.diagnostics
    assert diag.code == "archon-rule"
    assert diag.message == "the imported pipeline breaks an archon rule: fuse2 has a made-up problem"
    assert (diag.line, diag.column) == position_of(json.dumps(data, indent=2), "{", 3)  # layers[1][0]
