"""Property: any resolved spec survives dump_yaml -> load -> validate unchanged, and the dump is stable."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archon.spec import dump_yaml, load_spec_text, schema_diagnostics
from archon.spec.validate import prompt_names
from archon.spec.schema import COMPONENT_TYPES, LOCAL_MODEL_NAME, MAX_FAN_OUT, Spec

# Text as users may write it, including quoting hazards ("yes", "1e3", ": ", "#", newlines, unicode).
TRICKY = st.sampled_from(["yes", "no", "on", "null", "~", "1e3", "1_000", "0x10", ".inf", "true", "- x", "a: b", "#c", "'q'", '"', "", " lead", "trail ", "multi\nline\n", "tab\there", "<<", "*ref", "&anc", "!tag", "%x", "@x", "`x"])
TEXT = st.one_of(TRICKY, st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
IDENT = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,12}\Z")
ENV = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z")
POS = st.integers(min_value=1, max_value=10**6)
FAN_OUT = st.integers(min_value=1, max_value=MAX_FAN_OUT)  # samples, num_tests, rounds
NONNEG_F = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@st.composite
def model_entries(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["litellm", "local", "vllm", "fake"]))
    entry: dict[str, Any] = {"kind": kind, "model": draw(TEXT.filter(bool))}
    if kind == "litellm":
        entry["api_base"] = draw(maybe(TEXT))
    if kind == "vllm":
        entry["engine"] = draw(maybe(st.fixed_dictionaries({}, optional={
            "tensor_parallel_size": POS,
            "gpu_memory_utilization": st.floats(min_value=0.01, max_value=1.0),
            "dtype": TEXT,
            "extra": st.dictionaries(IDENT, st.one_of(st.integers(), TEXT, st.booleans()), max_size=2),
        })))
    entry["api_key_env"] = draw(maybe(ENV))
    entry["price"] = draw(maybe(st.fixed_dictionaries({}, optional={"input_per_mtok": NONNEG_F, "output_per_mtok": NONNEG_F})))
    entry["concurrency"] = draw(maybe(POS))
    entry["timeout"] = draw(maybe(st.floats(min_value=0.001, max_value=1e4)))
    entry["context_window"] = draw(maybe(POS))
    return drop_none(entry)


LLM_FIELDS = {
    "temperature": st.floats(min_value=0, max_value=2),
    "top_p": st.floats(min_value=1e-6, max_value=1),
    "max_tokens": POS,
    "stop": st.lists(TEXT, max_size=3),
    "system_prompt": TEXT,
    "prompt_template": TEXT,
}
OWN_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "generate": {"samples": FAN_OUT, "few_shot": st.integers(0, 20)},
    "critique": {},
    "rank": {"top_k": POS, "use_critiques": st.booleans()},
    "fuse": {"samples": FAN_OUT, "use_critiques": st.booleans(), "max_candidates": POS},
    "verify": {"fallback": st.sampled_from(["keep_all", "keep_best", "fail"])},
    "unit_test": {"num_tests": FAN_OUT, "mode": st.sampled_from(["auto", "execute", "judge"]), "top_k": POS},
    "vote": {"method": st.sampled_from(["majority", "weighted"]), "weights": st.dictionaries(TEXT, NONNEG_F, max_size=3)},
    "refine": {"rounds": FAN_OUT},
    "select": {"by": st.sampled_from(["judge", "verdict", "tests"]), "top_k": POS},
}


@st.composite
def components(draw: st.DrawFn, model_names: list[str], nested: bool = True) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(k for k in COMPONENT_TYPES if nested or k != "cascade")))
    if kind == "cascade":  # stages of ordinary components (one level deep)
        stage = st.fixed_dictionaries(
            {"layers": st.lists(st.lists(components(model_names, False), min_size=1, max_size=2), min_size=1, max_size=2)},
            optional={"signal": st.sampled_from(["vote_margin", "verdict", "logprob", "parses"]),
                      "threshold": st.floats(min_value=0, max_value=1)})
        return draw(st.fixed_dictionaries({"type": st.just(kind), "stages": st.lists(stage, min_size=2, max_size=3)},
                                          optional={"id": IDENT, "inputs": st.lists(IDENT, max_size=3)}))
    fields = dict(OWN_FIELDS[kind])
    fields["id"] = IDENT
    fields["inputs"] = st.lists(IDENT, max_size=3)
    if kind != "vote":
        fields.update(LLM_FIELDS)
        fields["model"] = st.sampled_from(model_names)
    if kind == "generate":
        fields["models"] = st.lists(st.sampled_from(model_names), min_size=1, max_size=3)
    component = draw(st.fixed_dictionaries({"type": st.just(kind)}, optional=fields))
    return component


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    models = draw(st.dictionaries(TEXT.filter(lambda s: s != LOCAL_MODEL_NAME), model_entries(), max_size=3))
    names = [LOCAL_MODEL_NAME, *models]
    layers = draw(st.lists(st.lists(components(names), min_size=1, max_size=3), min_size=1, max_size=4))
    data: dict[str, Any] = {"models": models, "pipeline": {"layers": layers}}
    data.update(draw(st.fixed_dictionaries({}, optional={
        "name": TEXT,
        "description": TEXT,
        "benchmark": st.fixed_dictionaries({"name": TEXT}, optional={
            "path": TEXT, "shots": st.integers(0, 50), "dev": POS, "test": POS, "seed": st.integers(),
            "options": st.dictionaries(TEXT, st.one_of(st.integers(), TEXT, st.lists(st.integers(), max_size=2)), max_size=2),
        }),
        "budget": st.fixed_dictionaries({}, optional={
            "per_query": st.fixed_dictionaries({}, optional={"calls": POS, "input_tokens": POS, "output_tokens": POS, "dollars": NONNEG_F}),
            "search": st.fixed_dictionaries({}, optional={"dollars": NONNEG_F, "tokens": POS, "calls": POS, "wall_time": st.floats(min_value=0.1, max_value=1e6)}),
        }),
        "search": st.fixed_dictionaries({}, optional={
            "sampler": st.sampled_from(["tpe", "random", "grid", "nsga2", "gp", "greedy"]),
            "trials": POS,
            "objectives": st.lists(st.sampled_from(["accuracy", "cost"]), min_size=1, max_size=2),
            "seed": st.integers(),
            "parallel": POS,
            "storage": TEXT,
            "fidelity": st.fixed_dictionaries({}, optional={"enabled": st.booleans(), "min_queries": POS, "factor": st.integers(2, 10)}),
        }),
        "prompts": st.dictionaries(st.sampled_from(prompt_names() or ["x"]), TEXT, max_size=2),
        "cache": st.one_of(st.booleans(), TEXT),
    })))
    return Spec.model_validate(data, strict=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_dump_load_is_identity(spec: Spec) -> None:
    text = dump_yaml(spec)
    again, problems = schema_diagnostics(load_spec_text(text, "roundtrip.yaml"))
    assert problems == [], text
    assert again == spec, text
    assert dump_yaml(again) == text


def test_dump_is_layered_and_omits_defaults() -> None:
    spec = Spec.model_validate(
        {"benchmark": {"name": "capitals"}, "pipeline": {"layers": [[{"type": "generate", "samples": 3, "temperature": 0.7}], [{"type": "vote"}, {"type": "vote", "id": "v"}]]}},
        strict=True,
    )
    assert dump_yaml(spec) == (
        "benchmark: capitals\n"
        "pipeline:\n"
        "- {type: generate, samples: 3}\n"
        "- - {type: vote}\n"
        "  - {type: vote, id: v}\n"
    )


def test_explicit_use_critiques_survives_the_dump() -> None:
    spec = Spec.model_validate({"pipeline": {"layers": [[{"type": "generate"}], [{"type": "critique"}], [{"type": "rank", "use_critiques": True}]]}}, strict=True)
    assert "use_critiques: true" in dump_yaml(spec)
    again, _ = schema_diagnostics(load_spec_text(dump_yaml(spec)))
    assert again is not None and "use_critiques" in again.pipeline.layers[2][0].model_fields_set
