"""The executor: runs one pipeline over a batch of queries, node by node.

Why node by node across the whole batch: every query's calls for a node go to the client in one
``complete`` (one per round for multi-round nodes), so vLLM gets one big batch and API backends
get as much concurrency as their per-model limits allow, instead of one query's calls trickling
out one after another.

Failure isolation: a query whose calls fail for good is marked ``failed`` with the error and is
skipped by later nodes; the other queries go on. Per-query budget: before each node, the calls
and output tokens the node could add for a query (the static cost model) are checked against
``budget.per_query``; a query that would exceed it stops, marked ``over_budget``. Input tokens and
dollars are only known after the calls, so they are checked after each node: a query past either
limit stops before its next node.

Cascades: a cascade node's stages are node lists of their own (:mod:`archon.graph.cascade`);
the cascade component asks the executor to run a stage over the queries that reached it
(``ctx.run_stage``), which runs the stage's nodes one by one exactly like top-level nodes: one
batch per node, budget checks per node, failures isolated per query. So stage 1 runs for the
whole batch and each later stage for the queries sent on to it, as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from archon.components import COMPONENTS, NodeContext, PromptBook, default_extract, input_candidates
from archon.components.types import Candidate, QueryResult, QueryState
from archon.errors import ArchonError, UsageError
from archon.graph.cost import calls_for

__all__ = ["Executor", "node_calls"]


def node_calls(component: Any, n_inputs: int, *, code_task: bool = False) -> int:
    """Model calls a node makes for one query with ``n_inputs`` input candidates.

    The static cost model (:func:`archon.graph.cost.calls_for`) is the authority, so the budget
    the search plans with and the calls the runtime makes agree; the tests check every
    component's actual calls against it.
    """
    return int(calls_for(component, n_inputs, code_task=code_task))


@dataclass(frozen=True)
class _Node:
    """What the executor needs of a node, top-level or inside a cascade stage."""

    component: Any
    inputs: tuple[str, ...]
    seed_key: str | None = None
    logprobs: bool = False


class Executor:
    """Runs ``pipeline`` over batches of queries with ``client``.

    ``shots``: the benchmark's shot pool (records with ``input``/``reference``) for few-shot
    generate nodes. ``extract``: answer extractor for vote (default
    :func:`archon.components.default_extract`). ``budget``: a ``PerQueryBudget`` (default: the
    spec's ``budget.per_query``). ``prompts``: prompt-name -> template overrides (default: the
    spec's ``prompts:``). ``task``: ``"code"`` when the inputs are coding tasks (unit_test then
    executes candidates in the sandbox). ``trace``: keep every node's candidates, notes and call
    records in each :class:`QueryResult`.
    """

    def __init__(
        self,
        pipeline: Any,
        client: Any,
        *,
        shots: Sequence[Any] = (),
        extract: Callable[[str], str | None] | None = None,
        extractor: Callable[[str], str | None] | None = None,
        budget: Any = None,
        prompts: dict[str, str] | None = None,
        task: str | None = None,
        trace: bool = False,
        sandbox: Callable[..., Any] | None = None,
        sandbox_timeout: float = 10.0,
    ) -> None:
        spec = getattr(pipeline, "spec", None)
        self.pipeline = pipeline
        self.client = client
        self.shots = list(shots)
        self.extract = extract or extractor or default_extract
        self.budget = budget if budget is not None else (spec.budget.per_query if spec is not None else None)
        self.prompts = PromptBook(prompts if prompts is not None else (dict(spec.prompts) if spec is not None else {}))
        self.task = task if task is not None else ("code" if getattr(pipeline, "code_task", False) else None)
        self.trace = trace
        self.sandbox = sandbox
        self.sandbox_timeout = sandbox_timeout
        self.stages: dict[str, list[Any]] = dict(getattr(pipeline, "stages", {}) or {})
        self._nodes: dict[str, _Node] = {
            n: _Node(pipeline.graph.nodes[n]["component"], tuple(pipeline.inputs(n))) for n in pipeline.order
        }
        for stages in self.stages.values():
            for stage in stages:
                for n in stage.nodes:
                    self._nodes[n] = _Node(stage.components[n], tuple(stage.inputs[n]), stage.seed_keys[n],
                                           stage.signal == "logprob" and n in stage.logprob_writers)
        for node_id, node in self._nodes.items():
            if node.component.type not in COMPONENTS:
                raise UsageError(f"node {node_id!r} has unknown component type {node.component.type!r}")

    def component(self, node_id: str) -> Any:
        return self._nodes[node_id].component

    def context(self, node_id: str) -> NodeContext:
        node = self._nodes[node_id]
        stages = self.stages.get(node_id, ())

        async def run_stage(k: int, states: list[QueryState]) -> None:
            for inner in stages[k].nodes:
                await self._run_node(inner, states)

        return NodeContext(
            client=self.client,
            node_id=node_id,
            inputs=node.inputs,
            prompts=self.prompts,
            shots=self.shots,
            extract=self.extract,
            task=self.task,
            sandbox=self.sandbox,
            sandbox_timeout=self.sandbox_timeout,
            seed_key=node.seed_key,
            logprobs=node.logprobs,
            stages=stages,
            run_stage=run_stage if stages else None,
        )

    async def run_batch(
        self,
        queries: Iterable[str],
        *,
        trace: bool | None = None,
        on_node: Callable[[str, int], None] | None = None,
    ) -> list[QueryResult]:
        """Run every query through the pipeline; results in input order.

        ``on_node(node_id, active_queries)`` is called after each node (progress display).
        """
        states = [QueryState(index=i, query=str(q)) for i, q in enumerate(queries)]
        for node_id in self.pipeline.order:
            await self._run_node(node_id, states)
            if on_node is not None:
                on_node(node_id, sum(1 for s in states if s.active))
        keep = self.trace if trace is None else trace
        return [self._result(s, keep) for s in states]

    async def run(self, query: str, *, trace: bool | None = None) -> QueryResult:
        return (await self.run_batch([query], trace=trace))[0]

    # ------------------------------------------------------------------ one node

    async def _run_node(self, node_id: str, states: list[QueryState]) -> None:
        component = self.component(node_id)
        module = COMPONENTS[component.type]
        ctx = self.context(node_id)
        active = [s for s in states if s.active]
        for state in active:
            if ctx.inputs and not input_candidates(state, ctx):
                state.fail(node_id, f"no input candidates from {', '.join(ctx.inputs)}")
                continue
            self._check_budget_before(node_id, component, state, ctx)
        active = [s for s in active if s.active]
        if not active:
            return
        try:
            await module.run(component, active, ctx)
        except ArchonError as exc:  # e.g. the sandbox cannot start: these queries fail, not the run
            for state in active:
                state.fail(node_id, f"{type(exc).__name__}: {exc}")
        for state in active:
            if state.active and node_id not in state.candidates:
                state.fail(node_id, "produced no candidates")
            if state.active:
                self._check_budget_after(node_id, state)

    def _check_budget_before(self, node_id: str, component: Any, state: QueryState, ctx: NodeContext) -> None:
        budget = self.budget
        if budget is None or component.type == "cascade":  # a cascade's stage nodes are checked one by one
            return
        n_inputs = len(input_candidates(state, ctx)) if ctx.inputs else 0
        calls = node_calls(component, n_inputs, code_task=self.task == "code")
        if budget.calls is not None and state.usage_calls + calls > budget.calls:
            state.stop_over_budget(
                node_id,
                f"would need {calls} more calls ({state.usage_calls} made; per-query limit {budget.calls})",
            )
            return
        max_tokens = getattr(component, "max_tokens", 0) or 0
        projected = calls * max_tokens
        if budget.output_tokens is not None and state.usage_completion_tokens + projected > budget.output_tokens:
            state.stop_over_budget(
                node_id,
                f"could need {projected} more output tokens ({state.usage_completion_tokens} used; "
                f"per-query limit {budget.output_tokens})",
            )

    def _check_budget_after(self, node_id: str, state: QueryState) -> None:
        budget = self.budget
        if budget is None:
            return
        if budget.input_tokens is not None and state.usage_prompt_tokens > budget.input_tokens:
            state.stop_over_budget(
                node_id, f"used {state.usage_prompt_tokens} input tokens (per-query limit {budget.input_tokens})"
            )
        elif budget.dollars is not None and state.usage_dollars > budget.dollars:
            state.stop_over_budget(node_id, f"spent ${state.usage_dollars:.6f} (per-query limit ${budget.dollars})")

    # ------------------------------------------------------------------ results

    def _result(self, state: QueryState, trace: bool) -> QueryResult:
        output = state.candidates.get(self.pipeline.output, [])
        answer = output[0].text if state.status == "ok" and output else None
        if trace:
            candidates = _unique_latest(state)
            trace_data: dict[str, Any] | None = {
                "nodes": {node: [c.to_dict() for c in cands] for node, cands in state.candidates.items()},
                "notes": state.notes,
                "calls": [c.to_dict() for c in state.calls],
            }
        else:
            candidates = list(output)
            trace_data = None
        return QueryResult(
            query=state.query,
            answer=answer,
            candidates=candidates,
            status=state.status,
            error=state.error,
            cost=state.cost,
            parse_failures=list(state.parse_failures),
            trace=trace_data,
            answered_by=dict(state.answered_by),
        )


def _unique_latest(state: QueryState) -> list[Candidate]:
    """Every candidate once, in order of first appearance, with the annotations of the last node
    that passed it on (per-node views are in the trace's ``nodes``)."""
    latest: dict[str, Candidate] = {}
    for cands in state.candidates.values():
        for cand in cands:
            latest[cand.id] = cand
    return list(latest.values())
