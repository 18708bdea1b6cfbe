"""What every component shares: the per-node context, and the one way calls go out
(:func:`dispatch`).

Why one dispatch path: every component sends *all* queries' requests for a node (or for one
round of a multi-round node) in a single ``client.complete`` call, so the client can batch them
for vLLM or overlap them for API backends; and every call is recorded on its query's state
(cost, logical usage for the budget, a call record for the trace) in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol, Sequence

from archon.backends.records import CallRequest, CallResult, Cost, Usage
from archon.components.parsing import default_extract
from archon.components.prompting import PromptBook
from archon.components.types import CallRecord, Candidate, QueryState, sample_seed
from archon.errors import ReplayMissError

__all__ = [
    "ClientLike",
    "NodeContext",
    "build_messages",
    "dispatch",
    "input_candidates",
    "make_request",
    "number_candidates",
    "with_logprob",
]


class ClientLike(Protocol):
    """The part of :class:`archon.backends.Client` components use."""

    async def complete(self, requests: Sequence[CallRequest]) -> list[CallResult]: ...

    def supports_structured_output(self, model_name: str) -> bool: ...


@dataclass
class NodeContext:
    """Everything a component needs besides its settings and the query states.

    ``task`` is ``"code"`` when the benchmark is a coding task (unit_test then executes);
    ``sandbox`` runs untrusted code (``archon.sandbox.run_python`` by default, injectable for
    tests); ``extract`` pulls the final answer out of a response (for vote).

    Inside a cascade: ``seed_key`` is the id the node has in its stage (its calls' seeds derive
    from it; None: ``node_id``), ``logprobs`` asks the calls that write its candidates' text for
    their mean token log-probability (a ``logprob`` signal reads it). For a cascade node itself,
    ``stages`` are its stages (:class:`archon.graph.cascade.Stage`) and ``run_stage(k, states)``
    runs stage ``k`` (0-based) over ``states`` as one batch per node (the executor provides it).
    """

    client: ClientLike
    node_id: str
    inputs: tuple[str, ...]
    prompts: PromptBook = field(default_factory=PromptBook)
    shots: Sequence[Any] = ()
    extract: Callable[[str], str | None] = default_extract
    task: str | None = None
    sandbox: Callable[..., Any] | None = None
    sandbox_timeout: float = 10.0
    sandbox_concurrency: int = 2
    seed_key: str | None = None
    logprobs: bool = False
    stages: Sequence[Any] = ()
    run_stage: Callable[[int, list[QueryState]], Awaitable[None]] | None = None


def input_candidates(state: QueryState, ctx: NodeContext) -> list[Candidate]:
    """The candidates a node consumes for one query: its inputs' outputs in declared order.

    The same candidate can reach a node along two branches (e.g. two critique nodes over one
    generator); it is consumed once, with the annotations of both branches merged (the first
    branch wins when both set the same kind).
    """
    out: list[Candidate] = []
    position: dict[str, int] = {}
    for source in ctx.inputs:
        for cand in state.candidates.get(source, []):
            if cand.id in position:
                first = out[position[cand.id]]
                extra = {k: v for k, v in cand.annotations.items() if k not in first.annotations}
                for kind, value in extra.items():
                    first = first.annotate(kind, value)
                out[position[cand.id]] = first
            else:
                position[cand.id] = len(out)
                out.append(cand)
    return out


def build_messages(system: str | None, user: str, history: Sequence[tuple[str, str]] = ()) -> tuple[tuple[str, str], ...]:
    msgs: list[tuple[str, str]] = []
    if system:
        msgs.append(("system", system))
    msgs.extend(history)
    msgs.append(("user", user))
    return tuple(msgs)


def make_request(
    ctx: NodeContext,
    node: Any,
    messages: tuple[tuple[str, str], ...],
    *,
    tag: str,
    model: str | None = None,
    sample_index: int = 0,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
    logprobs: bool = False,
) -> CallRequest:
    """A request with the node's sampling settings and a seed derived from (node, sample).
    ``logprobs``: ask for the answer's mean token log-probability (the text-writing calls of a
    node a cascade's ``logprob`` signal reads pass ``ctx.logprobs``)."""
    chosen = model or node.model
    structured = response_format is not None and ctx.client.supports_structured_output(chosen)
    return CallRequest(
        model=chosen,
        messages=messages,
        temperature=node.temperature,
        top_p=node.top_p,
        max_tokens=max_tokens if max_tokens is not None else node.max_tokens,
        stop=tuple(node.stop or ()),
        sample_index=sample_index,
        seed=sample_seed(ctx.seed_key or ctx.node_id, sample_index),
        response_format=response_format if structured else None,
        tag=tag,
        logprobs=logprobs,
    )


def with_logprob(cand: Candidate, result: CallResult) -> Candidate:
    """``cand`` annotated with the mean token log-probability of the call that wrote it, when
    the call returned one."""
    return cand if result.mean_logprob is None else cand.annotate("logprob", result.mean_logprob)


def call_identity(request: CallRequest) -> tuple[Any, ...]:
    """What makes two requests the same call. At temperature 0 decoding is greedy, so the seed
    and sample index cannot change the answer (the client sends such samples once)."""
    greedy = request.temperature == 0
    fmt = None if request.response_format is None else repr(sorted(request.response_format.items()))
    return (request.model, request.messages, request.temperature, request.top_p, request.max_tokens,
            request.stop, None if greedy else request.seed, 0 if greedy else request.sample_index, fmt)


def _record(state: QueryState, node_id: str, request: CallRequest, result: CallResult) -> None:
    usage = result.usage or Usage()
    identity = call_identity(request)
    repeat = result.ok and identity in state.sent
    if not repeat:
        # A query's cost counts distinct calls: five greedy samples of one prompt are one call
        # (what is paid with an empty cache), so budgets, tie-breaks and fronts use real cost.
        state.sent.add(identity)
        state.cost = state.cost + Cost.of(result)
        state.usage_calls += 1
        state.usage_prompt_tokens += usage.prompt_tokens
        state.usage_completion_tokens += usage.completion_tokens
        state.usage_dollars += usage.dollars
    if result.ok:
        state.answers.setdefault(identity, result)
    else:
        state.call_failed(node_id, str(result.error))
    state.calls.append(
        CallRecord(
            node=node_id,
            tag=request.tag,
            model=request.model,
            sample_index=request.sample_index,
            seed=request.seed,
            cached=result.cached,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            dollars=usage.dollars,
            error=result.error,
        )
    )


def _known(state: QueryState, request: CallRequest) -> CallResult | None:
    answer = state.answers.get(call_identity(request))
    if answer is not None and request.logprobs and answer.mean_logprob is None:
        return None  # the same answer, but without the log-probability this request asks for
    return answer


async def dispatch(ctx: NodeContext, items: Sequence[tuple[QueryState, CallRequest]]) -> list[CallResult]:
    """Send every request in ``items`` in one ``client.complete`` and record each on its state.

    The client returns a result per request and never raises per call; if the whole batch
    raises anyway (a bug or a dead backend), every request gets that error as its result, so the
    caller's per-query failure handling still applies and the batch's other nodes are unharmed.
    """
    if not items:
        return []
    # a call this query already made successfully (an earlier cascade stage's sample) is answered
    # from the query's own record: not sent again, not paid again, with or without a cache
    known = [_known(state, request) for state, request in items]
    fresh = [i for i, answer in enumerate(known) if answer is None]
    requests = [items[i][1] for i in fresh]
    sent: list[CallResult] = []
    if requests:
        try:
            sent = list(await ctx.client.complete(requests))
        except ReplayMissError:
            raise  # a replay without the answer stops the evaluation: scoring around it would lie
        except Exception as exc:  # noqa: BLE001 - turned into per-call errors, handled per query
            message = f"{type(exc).__name__}: {exc}"
            sent = [CallResult(text="", error=message) for _ in requests]
        if len(sent) != len(requests):
            message = f"client returned {len(sent)} results for {len(requests)} requests"
            sent = [CallResult(text="", error=message) for _ in requests]
    results: list[CallResult] = list(known)  # type: ignore[arg-type]  # the gaps are filled next
    for i, result in zip(fresh, sent):
        results[i] = result
    for (state, request), result in zip(items, results):
        _record(state, ctx.node_id, request, result)
    return results


def number_candidates(cands: Sequence[Candidate], *, with_critiques: bool = False) -> str:
    """Candidates as ``[1] text`` blocks (with their critique underneath when asked)."""
    blocks = []
    for i, cand in enumerate(cands, 1):
        block = f"[{i}] {cand.text.strip()}"
        critique = cand.annotations.get("critique") if with_critiques else None
        if critique:
            block += f"\nCritique of [{i}]: {str(critique).strip()}"
        blocks.append(block)
    return "\n\n".join(blocks)


RunFn = Callable[[Any, list[QueryState], NodeContext], Awaitable[None]]
