"""What Archon's JSON configs may contain, and what the importer does with each key.

Archon itself never checks its configs: a key it does not read is ignored, so a misspelled
``length_contorl`` silently turns length control off. The importer is strict instead. Every key
is one of:

* ``MAP``      carried over into the archon pipeline (possibly renamed or merged);
* ``IGNORED``  a real Archon key that Archon's component of this type never reads: dropped with a
               warning that says so (``checkpoint: ""`` is dropped silently: it is Archon's own
               placeholder and carries nothing);
* ``PARTIAL``  read by Archon, but archon has no exact equivalent: dropped or approximated with a
               warning giving the reason (see ``docs/archon-compat.md``);

and any key outside :data:`ALL_COMPONENT_KEYS` is an error with a "did you mean" suggestion.
The lists were derived from reading which keys Archon's component classes look up.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "ALL_COMPONENT_KEYS",
    "COMPONENT_KEYS",
    "COMPONENT_TYPES",
    "KeyPolicy",
    "LAYER_KEYS",
    "REQUIRED_KEYS",
    "SEARCH_CONFIG_KEYS",
    "SINGLETON_TYPES",
    "TOP_LEVEL_KEYS",
]


class KeyPolicy(Enum):
    MAP = "map"
    IGNORED = "ignored"
    PARTIAL = "partial"


M, I, P = KeyPolicy.MAP, KeyPolicy.IGNORED, KeyPolicy.PARTIAL

# The keys every Archon component hands to its underlying model wrapper (``no_system`` and
# ``checkpoint`` are added to every type below).
_MODEL = {"type": M, "model": M, "model_type": M, "temperature": M, "max_tokens": M}

#: Archon component type -> {key: policy}, with the reason for each non-MAP policy.
COMPONENT_KEYS: dict[str, dict[str, tuple[KeyPolicy, str]]] = {
    "generator": {
        **{k: (v, "") for k, v in _MODEL.items()},
        "samples": (M, ""),
        "top_k": (I, "Archon's generator does not read top_k"),
    },
    "fuser": {
        **{k: (v, "") for k, v in _MODEL.items()},
        "samples": (M, ""),
        "length_control": (P, "archon's fuse prompt has no length-control variant; override the "
                              "fuse prompt under `prompts:` to ask for shorter answers"),
        "top_k": (I, "Archon's fuser does not read top_k"),
        "top_k_generations": (I, "Archon's fuser does not read top_k_generations"),
        "fuse_generations_count": (I, "Archon's fuser does not read fuse_generations_count"),
        "ranker_config": (I, "Archon's fuser does not read ranker_config"),
        "ranker_batch_size": (I, "only Archon's PairRM ranker reads ranker_batch_size"),
        "use_critiques": (I, "Archon's fuser always uses critiques when a critic ran before it; "
                             "archon does the same"),
        "remove_unit_tests_from_prompt": (I, "Archon's fuser does not read remove_unit_tests_from_prompt"),
    },
    "critic": {
        **{k: (v, "") for k, v in _MODEL.items()},
        "samples": (P, "Archon's critic keeps only the first sample; archon's critique writes one"),
        "top_k": (I, "Archon's critic does not read top_k"),
        "ranker_batch_size": (I, "only Archon's PairRM ranker reads ranker_batch_size"),
    },
    "ranker": {
        **{k: (v, "") for k, v in _MODEL.items()},
        "top_k": (M, ""),
        "use_critiques": (M, ""),
        "samples": (P, "Archon's ranker always asks for one sample"),
        "ranker_batch_size": (I, "only Archon's PairRM ranker reads ranker_batch_size"),
    },
    "verifier": {
        **{k: (v, "") for k, v in _MODEL.items()},
        "samples": (P, "Archon's verifier keeps only the first sample of each call"),
        "first_k": (M, ""),
        "batch_num": (I, "Archon's verifier does not read batch_num"),
    },
    "unit_test_generator": {
        **{k: (v, "") for k, v in _MODEL.items()},
        "samples": (P, "Archon's unit-test generator keeps only the first sample"),
        "unit_test_cap": (M, ""),
    },
    "unit_test_evaluator": {
        **{k: (v, "") for k, v in _MODEL.items()},
        "samples": (P, "Archon's unit-test evaluator keeps only the first sample"),
        "top_k": (M, ""),
        "first_k": (M, ""),
        "first_pass": (M, ""),
        "remove_unit_tests_from_prompt": (M, ""),
        "unit_test_cap": (I, "Archon's unit-test evaluator does not use unit_test_cap"),
    },
}
for _keys in COMPONENT_KEYS.values():
    _keys["no_system"] = (P, "archon's components always send their own system prompt")
    _keys["checkpoint"] = (I, "Archon never reads checkpoint")

COMPONENT_TYPES: tuple[str, ...] = tuple(COMPONENT_KEYS)

#: Every key any Archon component may carry: outside this set a key is a typo.
ALL_COMPONENT_KEYS: frozenset[str] = frozenset(k for keys in COMPONENT_KEYS.values() for k in keys)

#: Keys Archon's code looks up with ``config[...]`` (a KeyError in Archon when missing).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "generator": ("model", "model_type", "temperature", "max_tokens"),
    "fuser": ("model", "model_type", "temperature", "max_tokens"),
    "critic": ("model", "model_type", "temperature", "max_tokens", "samples"),
    "ranker": ("model", "model_type", "temperature", "max_tokens", "top_k"),
    "verifier": ("model", "model_type", "temperature", "max_tokens", "samples"),
    "unit_test_generator": ("model", "model_type", "temperature", "max_tokens", "samples"),
    "unit_test_evaluator": ("model", "model_type", "temperature", "max_tokens", "samples",
                            "remove_unit_tests_from_prompt"),
}

#: Component types Archon insists on running alone in their layer.
SINGLETON_TYPES = frozenset({"critic", "ranker", "verifier", "unit_test_generator", "unit_test_evaluator"})

#: Keys of a whole config, and of a layer in the older ``{"branches": n, "models": [...]}`` form.
TOP_LEVEL_KEYS = ("name", "layers", "custom")
LAYER_KEYS = ("branches", "models")

#: Keys that mark an Archon *search* (ITAS) config rather than an architecture.
SEARCH_CONFIG_KEYS = frozenset({
    "search_algorithm_choice", "model_top_k_choices", "sample_top_k_choices", "fuser_layer_1_choices",
    "models_available", "maximum_inference_calls", "random_search_iterations", "n_iter", "init_points",
    "number_of_archon_configs_for_final_ranking", "dataset_sample_for_search",
})
