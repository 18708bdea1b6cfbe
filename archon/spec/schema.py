"""Typed objects of a *resolved* spec (one concrete pipeline: no choices left in it).

A space spec has the same shape with choice markers in value positions; ``archon.space``
resolves those into plain values and then validates the result with these models. Every model
forbids unknown keys, so a typo is an error, never a silently ignored setting.

YAML shape (see docs/spec-reference.md for the full reference)::

    models:
      small: {kind: local, model: smollm2}
      gpt:   {kind: litellm, model: openai/gpt-4o-mini, api_key_env: OPENAI_API_KEY,
              price: {input_per_mtok: 0.15, output_per_mtok: 0.6}, concurrency: 16}
    benchmark: capitals            # or a mapping, see BenchmarkSpec
    budget:
      per_query: {calls: 20, output_tokens: 4000}
      search: {dollars: 5, wall_time: 300}
    search: {sampler: tpe, trials: 40, objectives: [accuracy], seed: 0, parallel: 2}
    pipeline:                      # a list of layers; a layer is a component or a list of them
      - {type: generate, model: small, samples: 5, temperature: 0.7}
      - {type: vote}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Iterator, Literal, Self, Union, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ANSWER_FORMATS",
    "LOCAL_MODEL_NAME",
    "LOGPROB_BACKENDS",
    "SIGNALS",
    "BenchmarkSpec",
    "BudgetSpec",
    "CascadeSpec",
    "Component",
    "ComponentBase",
    "CritiqueSpec",
    "FuseSpec",
    "GenerateSpec",
    "ModelSpec",
    "PerQueryBudget",
    "PipelineSpec",
    "Price",
    "RankSpec",
    "RefineSpec",
    "SAMPLER_NAMES",
    "SamplerName",
    "SearchBudget",
    "SearchSettings",
    "SelectSpec",
    "Settings",
    "ShotSpec",
    "Signal",
    "Spec",
    "StageSpec",
    "TaskSpec",
    "UnitTestSpec",
    "VerifySpec",
    "VllmEngine",
    "VoteSpec",
    "COMPONENT_TYPES",
    "walk_components",
]

#: A model reference that works with no ``models:`` entry: the embedded SmolLM2.
LOCAL_MODEL_NAME = "local/smollm2"

PositiveInt = Annotated[int, Field(ge=1)]
#: Upper bounds for counts that multiply calls: far above any sensible architecture, low enough
#: that a typo (``samples: 1000000000``) is an error here instead of a hang or a bill later.
MAX_FAN_OUT = 1024
FanOut = Annotated[int, Field(ge=1, le=MAX_FAN_OUT)]
NonNegInt = Annotated[int, Field(ge=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# ----------------------------------------------------------------------------- models


class Price(Strict):
    """Dollars per million tokens. Overrides litellm's cost map for this model."""

    input_per_mtok: NonNegFloat = 0.0
    output_per_mtok: NonNegFloat = 0.0


class VllmEngine(Strict):
    """Settings passed to ``vllm.LLM`` for the offline engine."""

    tensor_parallel_size: PositiveInt = 1
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1)] = 0.9
    max_model_len: PositiveInt | None = None
    dtype: str = "auto"
    max_num_batched_tokens: PositiveInt | None = None
    num_gpus: NonNegFloat = 1.0
    extra: dict[str, Any] = Field(default_factory=dict)


#: Backend kinds whose answers carry the mean token log-probability when a call asks for it
#: (``CallRequest.logprobs``): what a cascade's ``logprob`` signal needs. The registry's
#: ``BackendKind.logprobs`` says the same per backend (tests/test_kinds.py checks they agree).
LOGPROB_BACKENDS: tuple[str, ...] = ("local", "fake")


class ModelSpec(Strict):
    """A named model endpoint.

    kind:
      litellm  any litellm model id (``openai/gpt-4o-mini``, ``hosted_vllm/name`` + api_base, ...)
      local    the embedded SmolLM2 (``model: smollm2``) or a GGUF file path, run by llama-cpp
      vllm     vLLM's offline engine in a Ray actor (``model`` is a HF id or a local folder)
      fake     archon.testing's scripted backend (``model`` names the script), for tests
    """

    kind: Literal["litellm", "local", "vllm", "fake"]
    model: str = Field(min_length=1)
    api_base: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    price: Price | None = None
    concurrency: PositiveInt = 8
    timeout: Annotated[float, Field(gt=0)] = 120.0
    max_retries: NonNegInt = 6
    context_window: PositiveInt | None = None
    engine: VllmEngine | None = None

    @field_validator("api_base")
    @classmethod
    def _no_credentials_in_api_base(cls, value: str | None) -> str | None:
        # a key in the URL would be copied into run files, logs, reports and exported pipelines;
        # the message does not repeat the value, which holds the secret
        if value is not None:
            try:
                parts = urlsplit(value)
                has_userinfo = parts.username is not None or parts.password is not None
            except ValueError:
                raise ValueError("api_base is not a URL (e.g. http://127.0.0.1:8000/v1)") from None
            if has_userinfo:
                raise ValueError("api_base holds credentials ('user:key@host'); remove them and name the "
                                 "environment variable that holds the key in api_key_env")
        return value

    @model_validator(mode="after")
    def _engine_only_for_vllm(self) -> ModelSpec:
        if self.engine is not None and self.kind != "vllm":
            raise ValueError("'engine' is only allowed for kind: vllm")
        if self.api_base is not None and self.kind != "litellm":
            raise ValueError("'api_base' is only allowed for kind: litellm")
        return self


# ----------------------------------------------------------------------------- components

class ComponentBase(Strict):
    """Fields every component has. ``id`` defaults to ``<type><n>`` (e.g. ``generate1``).

    ``inputs`` names the nodes whose candidates this node consumes; by default a node consumes
    every node of the previous layer.

    A component kind is this class (its settings), its entry in ``archon.graph.kinds`` (its
    contract and cost) and its module in ``archon.components`` (how it runs, with its prompt
    files ``<type>.*.txt``).
    """

    #: The ``{field}`` placeholders the kind's prompts are rendered with (its system prompt, main
    #: prompt and the rest of its ``<type>.*`` prompts). Validation uses them to catch a misspelt
    #: placeholder; the components layer checks at render time that it passes no other field.
    prompt_fields: ClassVar[frozenset[str]] = frozenset()
    #: The prompt a node's ``prompt_template`` replaces (None: the kind has no prompts).
    main_prompt: ClassVar[str | None] = None

    id: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    inputs: list[str] | None = None


class LLMSettings(ComponentBase):
    """Sampling settings shared by every component that calls a model."""

    model: str = LOCAL_MODEL_NAME
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    max_tokens: PositiveInt = 512
    stop: list[str] | None = None
    system_prompt: str | None = None
    prompt_template: str | None = None


class GenerateSpec(LLMSettings):
    """Sample ``samples`` responses from each of ``models`` (or from ``model``)."""

    prompt_fields = frozenset({"query"})
    main_prompt = "generate.user"

    type: Literal["generate"] = "generate"
    models: list[str] | None = Field(default=None, min_length=1)
    samples: FanOut = 1
    few_shot: NonNegInt = 0

    def model_list(self) -> list[str]:
        return list(self.models) if self.models else [self.model]


class CritiqueSpec(LLMSettings):
    """Write strengths and weaknesses for each candidate (one call per candidate)."""

    prompt_fields = frozenset({"query", "candidate"})
    main_prompt = "critique.user"

    type: Literal["critique"] = "critique"


class RankSpec(LLMSettings):
    """Listwise ranking of the candidates in one call; keeps the ``top_k`` best."""

    prompt_fields = frozenset({"query", "n", "candidates"})
    main_prompt = "rank.user"

    type: Literal["rank"] = "rank"
    top_k: PositiveInt = 5
    #: None (the default): show critiques when an upstream critic wrote them; true: a critic
    #: upstream is required; false: never show them. A value, not "was it set", so the intent
    #: survives every round trip through data (model_dump, YAML, a search trial).
    use_critiques: bool | None = None


class FuseSpec(LLMSettings):
    """Synthesise ``samples`` new candidates from the inputs (one call each)."""

    prompt_fields = frozenset({"query", "n", "candidates"})
    main_prompt = "fuse.user"

    type: Literal["fuse"] = "fuse"
    samples: FanOut = 1
    use_critiques: bool | None = None  # as in RankSpec
    max_candidates: PositiveInt | None = None


class VerifySpec(LLMSettings):
    """Two calls per candidate (reasoning, then a verdict); keep those that pass."""

    prompt_fields = frozenset({"query", "candidate"})
    main_prompt = "verify.reason"

    type: Literal["verify"] = "verify"
    fallback: Literal["keep_all", "keep_best", "fail"] = "keep_all"


class UnitTestSpec(LLMSettings):
    """Generate ``num_tests`` tests from the query (one call), then evaluate each candidate.

    mode ``execute`` runs code candidates against the tests in the sandbox (no model calls);
    ``judge`` asks the model (one call per candidate); ``auto`` executes for code tasks.
    """

    prompt_fields = frozenset({"query", "num_tests", "candidate", "tests"})
    main_prompt = "unit_test.judge"

    type: Literal["unit_test"] = "unit_test"
    num_tests: FanOut = 5
    mode: Literal["auto", "execute", "judge"] = "auto"
    top_k: PositiveInt | None = None


class VoteSpec(ComponentBase):
    """Majority (self-consistency) vote over extracted answers; no model calls."""

    type: Literal["vote"] = "vote"
    method: Literal["majority", "weighted"] = "majority"
    weights: dict[str, NonNegFloat] | None = None


class RefineSpec(LLMSettings):
    """Critique-and-revise each candidate for ``rounds`` rounds (two calls per round)."""

    prompt_fields = frozenset({"query", "candidate", "critique"})
    main_prompt = "refine.revise"

    type: Literal["refine"] = "refine"
    rounds: FanOut = 1


class SelectSpec(LLMSettings):
    """Best-of-N: score each candidate and keep the ``top_k`` best.

    by ``judge`` asks the model for a 1-10 score (one call per candidate); ``verdict`` uses
    verdicts from an earlier verify node, ``tests`` the pass rate from an earlier unit_test node
    (neither calls a model).
    """

    prompt_fields = frozenset({"query", "candidate"})
    main_prompt = "select.judge"

    type: Literal["select"] = "select"
    by: Literal["judge", "verdict", "tests"] = "judge"
    top_k: PositiveInt = 1


#: How sure a cascade stage is of its answer, each a number in [0, 1] (see docs/cascade.md):
#: ``vote_margin`` the lead of the most common extracted answer over the runner-up among the
#: stage's samples; ``verdict`` 1 when a verifier passed the stage's answer; ``logprob`` the
#: answer's per-token probability (exp of its mean token log-probability); ``parses`` 1 when the
#: benchmark's answer extraction finds an answer in it.
Signal = Literal["vote_margin", "verdict", "logprob", "parses"]
SIGNALS: tuple[str, ...] = get_args(Signal)


class StageSpec(Strict):
    """One stage of a cascade: layers of ordinary components (each consumes the layer before it;
    the first reads the query, or the cascade's input candidates), and, on every stage but the
    last, the ``signal`` and ``threshold`` deciding which queries go on to the next stage: those
    whose confidence is below the threshold."""

    layers: list[list["Component"]] = Field(min_length=1)
    signal: Signal | None = None
    threshold: Annotated[float, Field(ge=0, le=1)] | None = None


class CascadeSpec(ComponentBase):
    """Adaptive compute: run stage 1 on every query; a query whose confidence after a stage is
    below that stage's threshold goes on to the next stage; the last stage answers the rest."""

    type: Literal["cascade"] = "cascade"
    stages: list[StageSpec] = Field(min_length=2)


Component = Annotated[
    Union[
        GenerateSpec,
        CritiqueSpec,
        RankSpec,
        FuseSpec,
        VerifySpec,
        UnitTestSpec,
        VoteSpec,
        RefineSpec,
        SelectSpec,
        CascadeSpec,
    ],
    Field(discriminator="type"),
]
StageSpec.model_rebuild()
CascadeSpec.model_rebuild()


def walk_components(layers: list[list[Any]]) -> Iterator[Any]:
    """Every component of ``layers``, the ones inside cascade stages included (after their
    cascade), in the order they are written."""
    for layer in layers:
        for component in layer:
            yield component
            if isinstance(component, CascadeSpec):
                for stage in component.stages:
                    yield from walk_components(stage.layers)

#: Component kind name -> its settings class (in the order of the union above).
COMPONENT_TYPES: dict[str, type[ComponentBase]] = {
    cls.model_fields["type"].default: cls for cls in get_args(get_args(Component)[0])
}

#: Kind name -> the placeholders its prompts get (kinds without prompts left out).
PROMPT_FIELDS: dict[str, frozenset[str]] = {name: cls.prompt_fields for name, cls in COMPONENT_TYPES.items() if cls.prompt_fields}

#: One layer: the components in it, in order.
Layer = list[Component]


class PipelineSpec(Strict):
    """Layers of components. The YAML shorthand (a bare component for a one-component layer)
    is normalised by the loader before this model sees it."""

    layers: list[Layer] = Field(min_length=1)


# ----------------------------------------------------------------------------- benchmark


class BenchmarkSpec(Strict):
    """Which data defines "good", and how it is split.

    ``name`` is a built-in (capitals, antonyms, arithmetic, humaneval) or a loader
    (jsonl, csv, gsm8k, math500, mmlu, gpqa, mbpp, mt_bench, alpaca_eval, arena_hard).
    """

    name: str
    path: str | None = None
    scorer: str | None = None
    input_field: str = "input"
    reference_field: str = "reference"
    shots: NonNegInt = 8
    dev: PositiveInt = 50
    #: records the search never sees, on which its top candidates and the baseline are compared
    #: before one is emitted; unset means twice dev, sharing what test leaves with dev in that
    #: ratio when records are scarce (0 turns the selection stage off)
    selection: NonNegInt | None = None
    test: PositiveInt = 100
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict)


# ----------------------------------------------------------------------------- budget


class PerQueryBudget(Strict):
    calls: PositiveInt | None = None
    input_tokens: PositiveInt | None = None
    output_tokens: PositiveInt | None = None
    dollars: NonNegFloat | None = None


class SearchBudget(Strict):
    dollars: NonNegFloat | None = None
    tokens: PositiveInt | None = None
    calls: PositiveInt | None = None
    wall_time: Annotated[float, Field(gt=0)] | None = None  # seconds


class BudgetSpec(Strict):
    per_query: PerQueryBudget = Field(default_factory=PerQueryBudget)
    search: SearchBudget = Field(default_factory=SearchBudget)


# ----------------------------------------------------------------------------- search


class FidelitySpec(Strict):
    """Successive halving over dev: first ``min_queries``, then x``factor`` per rung."""

    enabled: bool = True
    min_queries: PositiveInt = 8
    factor: Annotated[int, Field(ge=2)] = 3


#: The values of ``search.sampler``; archon.search.samplers builds exactly these (a test checks).
SamplerName = Literal["tpe", "random", "grid", "nsga2", "gp", "greedy"]
Objective = Literal["accuracy", "cost"]


def _accuracy_only() -> list[Objective]:
    return ["accuracy"]
SAMPLER_NAMES: tuple[str, ...] = get_args(SamplerName)


class SearchSettings(Strict):
    sampler: SamplerName = "tpe"
    trials: PositiveInt = 50
    objectives: list[Objective] = Field(default_factory=_accuracy_only, min_length=1)
    seed: int = 0
    parallel: PositiveInt = 1
    storage: str | None = None
    run_dir: str | None = None
    fidelity: FidelitySpec = Field(default_factory=FidelitySpec)


# ----------------------------------------------------------------------------- task


#: How a pipeline reads the final answer out of a response (for vote): the names of the
#: benchmarks' scorers, each of which knows how its task's answers look (archon.benchmarks.export
#: maps a name to that scorer's extractor; a test checks the two lists agree).
AnswerFormat = Literal["exact", "numeric", "math", "choice", "code", "contains", "regex", "judge", "rating",
                       "capital", "antonym"]
ANSWER_FORMATS: tuple[str, ...] = get_args(AnswerFormat)


class ShotSpec(Strict):
    """One solved example a few-shot generate node shows the model (the query, then the answer)."""

    id: str | None = None
    input: str
    reference: str


class TaskSpec(Strict):
    """What a pipeline takes from its task at run time, written down so that it runs without the
    benchmark's data: the few-shot pool, how vote reads an answer, and whether inputs are code
    tasks. Exports (``best.yaml``, ``pareto/*.yaml``) carry it; when present, the runtime uses it
    and never loads the benchmark (which stays in the file for ``archon eval``)."""

    kind: Literal["qa", "code", "choice", "math", "judge"] = "qa"
    answer: AnswerFormat = "exact"
    answer_options: dict[str, Any] = Field(default_factory=dict)
    shots: list[ShotSpec] = Field(default_factory=list)


# ----------------------------------------------------------------------------- the spec


class Settings(Strict):
    """Every section of a spec but its pipeline. A space and each pipeline it resolves to share
    them (choices live only in the pipeline), so a search reads them once from the space."""

    name: str | None = None
    description: str | None = None
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    benchmark: BenchmarkSpec | None = None
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    search: SearchSettings = Field(default_factory=SearchSettings)
    prompts: dict[str, str] = Field(default_factory=dict)  # prompt-name -> template text override
    cache: bool | str = True  # False disables the call cache; a path scopes it to that file
    task: TaskSpec | None = None

    def resolve_paths(self, base: str | os.PathLike[str]) -> Self:
        """A copy whose benchmark ``path``, when relative and naming a file under ``base`` (the
        spec file's folder), is absolute; so the data is found from any working directory, a
        Ray worker's included. Other paths are left as written."""
        bench = self.benchmark
        if bench is None or not bench.path or os.path.isabs(bench.path):
            return self
        candidate = Path(base) / bench.path
        if not candidate.exists():
            return self
        return self.model_copy(update={"benchmark": bench.model_copy(update={"path": str(candidate.resolve())})})


class Spec(Settings):
    """A whole resolved spec: one pipeline and everything needed to run or evaluate it."""

    pipeline: PipelineSpec
