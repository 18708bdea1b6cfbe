"""Helpers shared by the component and runtime tests: specs from plain data, a pipeline for a
spec, a client on archon's scripted fake backend, and a scripted "model" that answers every
component's prompts in a way the tests can check (critiques quote the candidate they are about,
rankings and verdicts follow rules the tests control)."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Callable, Sequence

from pydantic import TypeAdapter

from archon.backends.records import CallRequest, CallResult
from archon.components import COMPONENTS, NodeContext, PromptBook
from archon.components.types import Candidate, QueryState
from archon.spec.schema import Component, ModelSpec, Spec
from archon.testing import FakeBackend

__all__ = ["CountingClient", "Runner", "Smart", "last_user", "make_client", "make_pipeline", "make_spec", "quoted_candidate", "seeded"]


def make_spec(layers: list[Any], *, models: list[str] = ("m1", "m2"), **extra: Any) -> Spec:
    norm = [layer if isinstance(layer, list) else [layer] for layer in layers]
    data = {"models": {m: {"kind": "fake", "model": m} for m in models}, "pipeline": {"layers": norm}}
    data.update(extra)
    return Spec.model_validate(data)


def make_pipeline(spec: Spec) -> Any:
    from archon.graph import compile_pipeline

    return compile_pipeline(spec)


def make_client(spec: Spec, responder: Callable[[CallRequest], str] | None = None, **fake_options: Any) -> tuple[Any, FakeBackend]:
    from archon.backends import Client

    fake = FakeBackend(responder or Smart(), **fake_options)
    return Client(spec.models, fake=fake, retry_base=0.0, retry_cap=0.0), fake


def last_user(req: CallRequest) -> str:
    return next(c for r, c in reversed(req.messages) if r == "user")


def quoted_candidate(prompt: str) -> str | None:
    m = re.search(r"(?:Proposed answer|Current answer|Answer to check|Answer):\n(.*?)\n\n", prompt, re.S)
    return m.group(1) if m else None


class Smart:
    """A deterministic scripted model that understands archon's own prompts by request tag.

    generate: ``<model>/<sample>: <answer>`` where ``answer`` comes from ``answers`` (a function
    of query and sample) - default ``ans<sample % 3>``. critique/refine critique: ``CRIT<<text>>``
    quoting the candidate. rank: ``rank_reply(n)`` (default: reverse order). verdict: yes when the
    candidate contains ``good_word``. judge score: ``Score: <len(candidate) % 10 + 1>``.
    """

    def __init__(
        self,
        answers: Callable[[str, str, int], str] | None = None,
        rank_reply: Callable[[int], str] | None = None,
        good_word: str = "ans1",
        tests_text: str = "1. mentions the answer\n2. is short",
        judge_text: Callable[[str], str] | None = None,
        verdict_text: Callable[[str], str] | None = None,
    ) -> None:
        self.answers = answers or (lambda query, model, sample: f"ans{sample % 3}")
        self.rank_reply = rank_reply or (lambda n: " > ".join(f"[{i}]" for i in range(n, 0, -1)))
        self.good_word = good_word
        self.tests_text = tests_text
        self.judge_text = judge_text or (lambda cand: "Check 1: PASS\nCheck 2: FAIL")
        self.verdict_text = verdict_text

    def __call__(self, req: CallRequest) -> str:
        prompt = last_user(req)
        tag = req.tag
        if tag == "generate":
            return f"{req.model}/{req.sample_index}: {self.answers(prompt, req.model, req.sample_index)}"
        if tag in ("critique", "refine.critique"):
            return f"CRIT<<{quoted_candidate(prompt)}>>"
        if tag == "rank":
            n = int(re.search(r"There are (\d+) numbered", prompt).group(1))
            return self.rank_reply(n)
        if tag == "fuse":
            shown = len(re.findall(r"^\[\d+\] ", prompt, re.M))
            return f"FUSED[{shown}]#{req.sample_index}"
        if tag == "verify.reason":
            return f"REASON<<{quoted_candidate(prompt)}>>"
        if tag == "verify.verdict":
            reasoning = next(c for r, c in reversed(req.messages) if r == "assistant")
            if self.verdict_text is not None:
                return self.verdict_text(reasoning)
            return "Yes, it is correct." if self.good_word in reasoning else "No."
        if tag == "refine.revise":
            return f"REV({quoted_candidate(prompt)})"
        if tag == "select":
            cand = quoted_candidate(prompt) or ""
            return f"Score: {len(cand) % 10 + 1}"
        if tag == "unit_test.write":
            return self.tests_text
        if tag == "unit_test.judge":
            return self.judge_text(quoted_candidate(prompt) or "")
        return f"untagged reply to {prompt[:20]}"


class CountingClient:
    """Wraps a client; remembers each ``complete`` batch (to check one batch per node/round)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[list[CallRequest]] = []

    async def complete(self, requests: Sequence[CallRequest]) -> list[CallResult]:
        self.batches.append(list(requests))
        return await self.inner.complete(requests)

    def supports_structured_output(self, model_name: str) -> bool:
        return self.inner.supports_structured_output(model_name)

    @property
    def requests(self) -> list[CallRequest]:
        return [r for batch in self.batches for r in batch]


def seeded(queries: Sequence[str], texts: Sequence[Sequence[str]], *, annotate: Callable[[int, Candidate], Candidate] | None = None) -> list[QueryState]:
    states = []
    for i, (query, cand_texts) in enumerate(zip(queries, texts)):
        state = QueryState(index=i, query=query)
        cands = [Candidate(id=f"src:m1:{k}", text=t, node="src", model="m1", sample_index=k) for k, t in enumerate(cand_texts)]
        if annotate is not None:
            cands = [annotate(k, c) for k, c in enumerate(cands)]
        state.candidates["src"] = cands
        states.append(state)
    return states


class Runner:
    def __init__(self) -> None:
        self.fake: FakeBackend | None = None
        self.client: CountingClient | None = None

    def __call__(
        self,
        node: dict[str, Any],
        states: list[QueryState],
        responder: Callable[[CallRequest], str] | None = None,
        *,
        structured: bool = False,
        failures: Sequence[Any] = (),
        node_id: str = "n1",
        inputs: tuple[str, ...] = ("src",),
        **ctx_options: Any,
    ) -> Any:
        from archon.backends import Client

        component = TypeAdapter(Component).validate_python(node)
        models = {m: ModelSpec(kind="fake", model=m, max_retries=0) for m in ("m1", "m2", "m3")}
        self.fake = FakeBackend(responder or Smart(), supports_structured_output=structured, failures=list(failures))
        self.client = CountingClient(Client(models, fake=self.fake, retry_base=0.0, retry_cap=0.0))
        ctx = NodeContext(client=self.client, node_id=node_id, inputs=inputs, prompts=ctx_options.pop("prompts", PromptBook()), **ctx_options)
        asyncio.run(COMPONENTS[component.type].run(component, states, ctx))
        return component
