"""Component kinds: what each one consumes, produces and costs. One entry per kind.

A kind is described in three places, each owning one side of it: its settings are a class in
:mod:`archon.spec.schema` (with the placeholders its prompts get), its contract and cost are its
:class:`Kind` entry here, and how it runs is its module in :mod:`archon.components` (with its
prompt files). The composition rules, the static cost model, the runtime's budget checks and
call counts, and ``load_pipeline``'s benchmark hooks all read the entry, so they cannot disagree
about a kind; a test checks that the schema, :data:`KINDS` and the component modules name the
same set.

Data flowing along an edge is a list of *candidates*; annotations ride on candidates keyed by
candidate id. A kind either **creates** new candidates (generate, fuse, refine, vote: annotations
of its inputs never reach its outputs) or **passes** its input candidates on, possibly filtered,
adding annotations of its own (critique, rank, verify, unit_test, select). The query reaches every
node implicitly.

Call counts are exact: they count what each component really sends (a verifier costs two calls
per candidate, a vote none). Candidate counts are the static upper bound: filters (verify,
unit_test) are assumed to keep every candidate, the worst case for everything downstream. Token
numbers are estimates for budgeting, not promises: each call's prompt is an instruction overhead
plus the query plus the candidates it shows; each call's output is its ``max_tokens`` (or the
benchmark's ``answer_tokens`` when given, capped by ``max_tokens``); short judgements (a
ranking, a verdict, a score) use small fixed sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "JUDGEMENT_TOKENS",
    "KINDS",
    "PROMPT_OVERHEAD_TOKENS",
    "CallEstimate",
    "CascadeKind",
    "Flow",
    "Kind",
    "NodeEstimate",
    "Sizes",
    "StageNode",
    "kind_of",
    "merge_flows",
    "step",
]

#: Tokens of instructions around the query and candidates in every prompt (an estimate).
PROMPT_OVERHEAD_TOKENS = 60
#: Output size of a short judgement: a verdict, a 1-10 score (an estimate).
JUDGEMENT_TOKENS = 16


@dataclass(frozen=True)
class CallEstimate:
    """A group of identical calls: how many, and tokens in and out of each."""

    model: str
    calls: int
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Sizes:
    """The token sizes a node's estimate starts from (estimates, per query).

    ``candidate``: one input candidate; ``critique``: the critique each input candidate carries
    (0 when the node does not show critiques); ``answer``: the benchmark's usual answer length,
    when known (it caps outputs below ``max_tokens``).
    """

    query: int
    candidate: int = 0
    critique: int = 0
    answer: int | None = None

    @property
    def base(self) -> int:
        """The prompt every call of a node starts with: instructions plus the query."""
        return PROMPT_OVERHEAD_TOKENS + self.query


@dataclass
class NodeEstimate:
    """A node's calls with token estimates, and the size of what it passes on.

    ``candidate_tokens``: one output candidate; ``critique_tokens``: one critique it writes (0: it
    writes none; the critiques its inputs carry are passed on by the cost model).
    """

    candidate_tokens: int
    critique_tokens: int = 0
    calls: list[CallEstimate] = field(default_factory=list)

    def add(self, model: str, calls: int, input_tokens: int, output_tokens: int) -> None:
        if calls:
            self.calls.append(CallEstimate(model, calls, input_tokens, output_tokens))


def _output(component: Any, sizes: Sizes) -> int:
    """The length of one free-text answer of ``component``."""
    limit = int(component.max_tokens)
    return min(limit, sizes.answer) if sizes.answer else limit


class Kind:
    """The contract and cost of one component kind (subclassed once per kind below).

    ``consumes``: ``query``, ``candidates`` and the annotation keys it reads when present.
    ``creates``: its outputs are new candidates with empty annotations (otherwise it passes its
    input candidates on, possibly filtered). ``annotates``: the annotation keys it writes on the
    candidates it passes on.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    consumes: ClassVar[tuple[str, ...]]
    creates: ClassVar[bool]
    annotates: ClassVar[tuple[str, ...]] = ()

    def is_source(self, component: Any) -> bool:
        """Takes no candidates, only the query (it belongs in the first layer)."""
        return "candidates" not in self.consumes

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        """Exact model calls one query costs when the node receives ``n_inputs`` candidates."""
        raise NotImplementedError

    def calls_by_model(self, component: Any, n_inputs: int, *, code_task: bool = False) -> dict[str, int]:
        """:meth:`calls` split by model name."""
        calls = self.calls(component, n_inputs, code_task=code_task)
        return {component.model: calls} if calls else {}

    def models(self, component: Any) -> list[str]:
        """The model names the node may call."""
        return [component.model]

    def candidates_out(self, component: Any, n_inputs: int) -> int:
        """Static upper bound of the candidates the node outputs."""
        return n_inputs

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        """The node's calls with token estimates for one query."""
        raise NotImplementedError

    def requires(self, component: Any) -> dict[str, str]:
        """Annotations every input candidate must carry -> the setting that asks for them."""
        return {}

    def shows_critiques(self, component: Any) -> bool:
        """Whether its prompts show the critiques its input candidates carry."""
        return False

    def uses_benchmark(self, component: Any) -> bool:
        """Whether it needs what a benchmark provides: shots, answer extraction, code-ness."""
        return False


class GenerateKind(Kind):
    name = "generate"
    summary = "query -> new candidates"
    consumes = ("query",)
    creates = True

    def calls_by_model(self, component: Any, n_inputs: int, *, code_task: bool = False) -> dict[str, int]:
        # at temperature 0 the samples of one prompt are the same greedy call, sent once
        out: dict[str, int] = {}
        greedy = component.temperature == 0
        for name in component.model_list():
            out[name] = 1 if greedy else out.get(name, 0) + component.samples
        return out

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        return sum(self.calls_by_model(component, n_inputs).values())

    def models(self, component: Any) -> list[str]:
        return list(component.model_list())

    def candidates_out(self, component: Any, n_inputs: int) -> int:
        return len(component.model_list()) * component.samples

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        out = _output(component, sizes)
        shots = component.few_shot * (sizes.query + out)
        est = NodeEstimate(candidate_tokens=out)
        for name, calls in self.calls_by_model(component, n_inputs).items():
            est.add(name, calls, sizes.base + shots, out)
        return est

    def uses_benchmark(self, component: Any) -> bool:
        return component.few_shot > 0  # the shots come from the benchmark's shot pool


class CritiqueKind(Kind):
    name = "critique"
    summary = "candidates -> same candidates + critiques"
    consumes = ("query", "candidates")
    creates = False
    annotates = ("critique",)

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        return n_inputs

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        critique = _output(component, sizes)
        est = NodeEstimate(candidate_tokens=sizes.candidate, critique_tokens=critique)
        est.add(component.model, n_inputs, sizes.base + sizes.candidate, critique)
        return est


class RankKind(Kind):
    name = "rank"
    summary = "candidates (+critiques) -> top_k of them + rank scores"
    consumes = ("query", "candidates", "critique")
    creates = False
    annotates = ("rank",)

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        return 1 if n_inputs else 0  # one listwise prompt over all candidates

    def candidates_out(self, component: Any, n_inputs: int) -> int:
        return min(component.top_k, n_inputs)

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        est = NodeEstimate(candidate_tokens=sizes.candidate)
        est.add(component.model, self.calls(component, n_inputs), sizes.base + n_inputs * (sizes.candidate + sizes.critique),
                min(component.max_tokens, 8 + 4 * n_inputs))
        return est

    def requires(self, component: Any) -> dict[str, str]:
        return {"critique": "use_critiques"} if component.use_critiques is True else {}

    def shows_critiques(self, component: Any) -> bool:
        return component.use_critiques is not False


class FuseKind(Kind):
    name = "fuse"
    summary = "candidates (+critiques) -> new fused candidates"
    consumes = ("query", "candidates", "critique")
    creates = True

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        return component.samples if n_inputs else 0

    def candidates_out(self, component: Any, n_inputs: int) -> int:
        return component.samples if n_inputs else 0

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        est = NodeEstimate(candidate_tokens=_output(component, sizes))
        est.add(component.model, self.calls(component, n_inputs), sizes.base + n_inputs * (sizes.candidate + sizes.critique),
                est.candidate_tokens)
        return est

    def requires(self, component: Any) -> dict[str, str]:
        return {"critique": "use_critiques"} if component.use_critiques is True else {}

    def shows_critiques(self, component: Any) -> bool:
        return component.use_critiques is not False


class VerifyKind(Kind):
    name = "verify"
    summary = "candidates -> those that pass + verdicts"
    consumes = ("query", "candidates", "score", "rank")
    creates = False
    annotates = ("verdict",)

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        return 2 * n_inputs  # reasoning, then a verdict, per candidate

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        reasoning = _output(component, sizes)
        est = NodeEstimate(candidate_tokens=sizes.candidate)
        est.add(component.model, n_inputs, sizes.base + sizes.candidate, reasoning)
        est.add(component.model, n_inputs, sizes.base + sizes.candidate + reasoning, min(component.max_tokens, JUDGEMENT_TOKENS))
        return est


class UnitTestKind(Kind):
    name = "unit_test"
    summary = "query + candidates -> candidates + tests, pass rates"
    consumes = ("query", "candidates")
    creates = False
    annotates = ("tests",)

    @staticmethod
    def judges(component: Any, *, code_task: bool = False) -> bool:
        """Whether a model judges each candidate (instead of the sandbox executing tests).

        ``auto`` is counted as judged except on a code task. (At run time ``auto`` also executes
        when a candidate holds a code block, which can only make fewer calls than counted.)
        """
        return component.mode == "judge" or (component.mode == "auto" and not code_task)

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        if not n_inputs:
            return 0
        return 1 + (n_inputs if self.judges(component, code_task=code_task) else 0)

    def candidates_out(self, component: Any, n_inputs: int) -> int:
        return min(component.top_k, n_inputs) if component.top_k else n_inputs

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        tests = _output(component, sizes)
        est = NodeEstimate(candidate_tokens=sizes.candidate)
        if n_inputs:
            est.add(component.model, 1, sizes.base, tests)
            if self.judges(component, code_task=code_task):
                est.add(component.model, n_inputs, sizes.base + tests + sizes.candidate,
                        min(component.max_tokens, JUDGEMENT_TOKENS * component.num_tests))
        return est

    def uses_benchmark(self, component: Any) -> bool:
        return True  # whether the task is code decides between executing and judging


class VoteKind(Kind):
    name = "vote"
    summary = "candidates -> one majority answer"
    consumes = ("candidates", "score")
    creates = True

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        return 0

    def models(self, component: Any) -> list[str]:
        return []

    def candidates_out(self, component: Any, n_inputs: int) -> int:
        return 1 if n_inputs else 0

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        return NodeEstimate(candidate_tokens=sizes.candidate)

    def uses_benchmark(self, component: Any) -> bool:
        return True  # answers are compared as the benchmark's extractor reads them


class RefineKind(Kind):
    name = "refine"
    summary = "candidates -> revised candidates"
    consumes = ("query", "candidates")
    creates = True

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        return 2 * component.rounds * n_inputs  # a critique and a revision per round and candidate

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        out = _output(component, sizes)
        est = NodeEstimate(candidate_tokens=out)
        size = sizes.candidate
        for _ in range(component.rounds):
            est.add(component.model, n_inputs, sizes.base + size, out)  # critique of the current draft
            est.add(component.model, n_inputs, sizes.base + size + out, out)  # the revision
            size = out
        return est


class SelectKind(Kind):
    name = "select"
    summary = "candidates (+verdicts/tests) -> top_k of them"
    consumes = ("query", "candidates", "verdict", "tests")
    creates = False
    annotates = ("score",)

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        return n_inputs if component.by == "judge" else 0

    def candidates_out(self, component: Any, n_inputs: int) -> int:
        return min(component.top_k, n_inputs)

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        est = NodeEstimate(candidate_tokens=sizes.candidate)
        est.add(component.model, self.calls(component, n_inputs), sizes.base + sizes.candidate,
                min(component.max_tokens, JUDGEMENT_TOKENS))
        return est

    def requires(self, component: Any) -> dict[str, str]:
        return {"verdict": "by"} if component.by == "verdict" else {"tests": "by"} if component.by == "tests" else {}


@dataclass(frozen=True)
class StageNode:
    """One node of a cascade stage in the static model: its component, the candidates it
    receives and its estimate; ``layer`` and ``index`` place it in the stage's layers."""

    component: Any
    layer: int
    index: int
    n_inputs: int
    estimate: NodeEstimate
    out: "Flow"


class CascadeKind(Kind):
    """Stages of ordinary layers; a query goes on to the next stage only while its stage's
    confidence signal is below the threshold. Statically every stage may run, so the calls,
    tokens and candidate counts here are the worst case (all stages), which is what per-query
    budgets are checked against; what a cascade costs on average is measured (the runtime counts
    only the calls it makes). Each stage is a chain: every layer consumes the one before it, the
    first reads the query (generators) or the cascade's input candidates, as every stage of one
    cascade must alike."""

    name = "cascade"
    summary = "query or candidates -> the answer of the first stage sure enough of it"
    consumes = ("query", "candidates")
    creates = True

    def is_source(self, component: Any) -> bool:
        return self.stage_reads_query(component.stages[0])

    @staticmethod
    def stage_reads_query(stage: Any) -> bool:
        """Whether the stage starts from the query (its first layer is all generators)."""
        return all(kind_of(c).is_source(c) for c in stage.layers[0])

    def stage_nodes(self, stage: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> tuple[list[StageNode], Flow]:
        """The stage's nodes layer by layer with their estimates, and what leaves its last layer."""
        flow = Flow() if self.stage_reads_query(stage) else Flow(n_inputs, sizes.candidate, sizes.critique)
        nodes: list[StageNode] = []
        for li, layer in enumerate(stage.layers):
            outs = []
            for ci, comp in enumerate(layer):
                est, out = step(comp, flow, sizes.query, sizes.answer, code_task=code_task)
                nodes.append(StageNode(comp, li, ci, flow.count, est, out))
                outs.append(out)
            flow = merge_flows(outs)
        return nodes, flow

    def _stages(self, component: Any, n_inputs: int, sizes: Sizes, code_task: bool) -> list[tuple[list[StageNode], Flow]]:
        return [self.stage_nodes(stage, n_inputs, sizes, code_task=code_task) for stage in component.stages]

    def calls_by_model(self, component: Any, n_inputs: int, *, code_task: bool = False) -> dict[str, int]:
        out: dict[str, int] = {}
        for nodes, _ in self._stages(component, n_inputs, Sizes(query=0), code_task):
            for node in nodes:
                for group in node.estimate.calls:
                    out[group.model] = out.get(group.model, 0) + group.calls
        return out

    def calls(self, component: Any, n_inputs: int, *, code_task: bool = False) -> int:
        return sum(self.calls_by_model(component, n_inputs, code_task=code_task).values())

    def models(self, component: Any) -> list[str]:
        names: list[str] = []
        for stage in component.stages:
            for layer in stage.layers:
                for comp in layer:
                    names.extend(m for m in kind_of(comp).models(comp) if m not in names)
        return names

    def candidates_out(self, component: Any, n_inputs: int) -> int:
        return max(flow.count for _, flow in self._stages(component, n_inputs, Sizes(query=0), False))

    def estimate(self, component: Any, n_inputs: int, sizes: Sizes, *, code_task: bool = False) -> NodeEstimate:
        stages = self._stages(component, n_inputs, sizes, code_task)
        est = NodeEstimate(candidate_tokens=max(flow.size for _, flow in stages),
                           critique_tokens=max(flow.critique for _, flow in stages))
        for nodes, _ in stages:
            for node in nodes:
                est.calls.extend(node.estimate.calls)
        return est

    def shows_critiques(self, component: Any) -> bool:
        # the critiques its input candidates carry reach the stages' first layers
        return any(kind_of(c).shows_critiques(c) for stage in component.stages for c in stage.layers[0])

    def uses_benchmark(self, component: Any) -> bool:
        inner = (c for stage in component.stages for layer in stage.layers for c in layer)
        # vote_margin and parses read answers the way the benchmark extracts them
        return any(stage.signal in ("vote_margin", "parses") for stage in component.stages) or any(
            kind_of(c).uses_benchmark(c) for c in inner)


#: Every component kind by name, in the order the docs list them.
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        GenerateKind(),
        CritiqueKind(),
        RankKind(),
        FuseKind(),
        VerifyKind(),
        UnitTestKind(),
        VoteKind(),
        RefineKind(),
        SelectKind(),
        CascadeKind(),
    )
}


def kind_of(component: Any) -> Kind:
    """The :class:`Kind` entry of a schema component (validated specs only name known kinds)."""
    return KINDS[component.type]


@dataclass(frozen=True)
class Flow:
    """What leaves a node per query: how many candidates at most (``count``), the tokens of one
    (``size``) and of the critique each carries (``critique``, 0: none)."""

    count: int = 0
    size: int = 0
    critique: int = 0


def merge_flows(flows: list[Flow]) -> Flow:
    """What a node receives from several inputs: every candidate, sized by the largest."""
    return Flow(sum(f.count for f in flows), max((f.size for f in flows), default=0),
                max((f.critique for f in flows), default=0))


def step(component: Any, inflow: Flow, query_tokens: int, answer_tokens: int | None, *,
         code_task: bool = False) -> tuple[NodeEstimate, Flow]:
    """One node of the static model: its estimate given what it receives, and what leaves it."""
    kind = kind_of(component)
    sizes = Sizes(query=query_tokens, candidate=inflow.size,
                  critique=inflow.critique if kind.shows_critiques(component) else 0, answer=answer_tokens)
    est = kind.estimate(component, inflow.count, sizes, code_task=code_task)
    # a kind that passes its candidates on passes their critiques on too
    carried = est.critique_tokens or (0 if kind.creates else inflow.critique)
    return est, Flow(kind.candidates_out(component, inflow.count), est.candidate_tokens, carried)
