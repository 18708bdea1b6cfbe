"""Every published Archon config either imports into a valid pipeline or is rejected precisely.

The corpus (Archon's 293 JSON files: 292 architectures and one search config, plus its LICENSE) is not part of this repository; it is read
from ``../shared/archon-configs`` next to the repository root, and these tests skip when it is
absent. ``REJECTED`` was derived by reading the files: for each config that must be rejected, the
error class, the position of the first error, a fragment of its message and how many errors the
file has. Every other config must convert.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archon.errors import ImportArchonError
from archon.importers import import_archon
from archon.spec.schema import LOCAL_MODEL_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "archon-configs"
FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.json")) if CORPUS.is_dir() else []

needs_corpus = pytest.mark.skipif(not FILES, reason=f"Archon corpus not found at {CORPUS}")

LENGTH_CONTROL_TYPO = (
    "MoA_three_proposer_layers_of_70Bx8_models_to_4_models_to_2_models_with_Qwen2_72B_for_aggregation_layer_length_control.json"
)

#: file -> (error code, line, column, message fragment, number of errors)
REJECTED: dict[str, tuple[str, int, int, str, int]] = {
    "archon-1-110bFuser-1-110bRanker3-8-70BM3S.json": ("invalid-json", 26, 40, "invalid JSON: Expecting ',' delimiter", 1),
    "archon-1-110bFuser-1-110bRanker5-8-70BM.json": ("invalid-json", 71, 40, "invalid JSON: Expecting ',' delimiter", 1),
    LENGTH_CONTROL_TYPO: ("unknown-key", 78, 17, "unknown key 'length_contorl' in a fuser", 8),
    f"best_performing_configs/alpaca_eval/{LENGTH_CONTROL_TYPO}": ("unknown-key", 78, 17, "unknown key 'length_contorl'", 8),
    f"best_performing_configs/arena_hard_auto/{LENGTH_CONTROL_TYPO}": ("unknown-key", 78, 17, "unknown key 'length_contorl'", 8),
    "archon-1-110bFuser-1-PairRM3-8-70BM.json": ("reward-model-ranker", 86, 30, "'llm-blender/PairRM' is a pairwise reward model", 1),
    "archon-1-110bFuser-1-PairRM3-8-70BM3S.json": ("reward-model-ranker", 86, 30, "'llm-blender/PairRM' is a pairwise reward model", 1),
    "archon-1-110bFuser-PairRM3-6-MoAM.json": ("reward-model-ranker", 68, 30, "'llm-blender/PairRM' is a pairwise reward model", 1),
    "archon-70Bx8_3_samples_then_critic_then_rank_top5_WITH_PAIRRM_then_fuser.json": (
        "reward-model-ranker", 73, 26, "'llm-blender/PairRM' is a pairwise reward model", 1),
    "archon_70Bx8_3_sample_then_PairRM_ranker_then_critic_then_fuser.json": (
        "reward-model-ranker", 73, 26, "'llm-blender/PairRM' is a pairwise reward model", 1),
    "archon-70Bx10_SOTA_1_samples_then_critic_then_fuse_with_Claude_3.5_Sonnet.json": (
        "mixed-layer", 53, 13, "layers[0] mixes generator and fuser components", 1),
    "archon-8-proposer-2-layer-qwen110b-fuser.json": (
        "generator-after-first-layer", 79, 13, "generator in layers[1] after candidates already exist", 1),
    "itas_example_search_config.json": ("search-config", 3, 5, "not an Archon architecture config", 1),
}


def _validate_yaml(text: str, name: str) -> object:
    """Load the produced YAML back with archon's spec loader, validate it and compile the graph."""
    from archon.graph import check_pipeline
    from archon.spec.document import load_spec_text

    return check_pipeline(load_spec_text(text, name))[1]


@needs_corpus
def test_corpus_is_the_published_set() -> None:
    # 292 architecture configs plus one search config; the table must name files that exist.
    assert len(FILES) == 293
    assert set(REJECTED) <= set(FILES)


@needs_corpus
@pytest.mark.parametrize("name", FILES)
def test_config_imports_or_is_rejected_exactly(name: str) -> None:
    path = CORPUS / name
    if name in REJECTED:
        code, line, column, fragment, count = REJECTED[name]
        with pytest.raises(ImportArchonError) as info:
            import_archon(path)
        first = info.value.diagnostics[0]
        assert (first.code, first.line, first.column) == (code, line, column), first.format()
        assert fragment in first.message
        assert len(info.value.diagnostics) == count
        for diagnostic in info.value.diagnostics:
            assert diagnostic.format().startswith(f"{path}:{diagnostic.line}:{diagnostic.column}: error: ")
            assert "\n" not in diagnostic.format()
        return
    result = import_archon(path)
    assert result.tree["pipeline"], "an imported pipeline has layers"
    _validate_yaml(result.yaml, name)
    for entry in result.tree.get("models", {}).values():
        # an env var *name* (or none, for Bedrock's AWS chain), never a key
        assert entry.get("api_key_env") in (None, "TOGETHER_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                                             "GROQ_API_KEY", "GEMINI_API_KEY")


@needs_corpus
@pytest.mark.parametrize("name", [f for f in FILES if f not in REJECTED])
def test_config_imports_for_the_local_model(name: str) -> None:
    result = import_archon(CORPUS / name, local=True)
    assert "models" not in result.tree
    for layer in result.tree["pipeline"]:
        for node in layer:
            assert node.get("model", LOCAL_MODEL_NAME) == LOCAL_MODEL_NAME
            assert node.get("max_tokens", 0) <= 512
    _validate_yaml(result.yaml, name)


@needs_corpus
def test_search_config_is_rejected_as_not_an_architecture() -> None:
    path = CORPUS / "itas_example_search_config.json"
    with pytest.raises(ImportArchonError) as info:
        import_archon(path)
    message = str(info.value)
    assert message.count("\n") == 0, "one clear line, not a list of 'unknown key' errors"
    assert "not an Archon architecture config: this is an Archon search (ITAS) config" in message
    assert "search_spaces/archon_itas.yaml" in message


@needs_corpus
def test_reward_model_ranker_imports_with_local_mapping() -> None:
    # PairRM cannot be called as a chat model, but --local replaces every model.
    result = import_archon(CORPUS / "archon-1-110bFuser-1-PairRM3-8-70BM.json", local=True)
    kinds = [node["type"] for layer in result.tree["pipeline"] for node in layer]
    assert kinds.count("rank") == 1
