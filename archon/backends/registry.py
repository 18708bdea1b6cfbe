"""Which class serves each ``kind:`` of model entry: one entry per backend kind.

A backend module is imported when a model of its kind is first called, not before: litellm takes
seconds to import, and the local engine, vLLM and Ray are optional. (The fake is standard library
only and loads with this module.) The names here are the
``kind`` values :class:`archon.spec.schema.ModelSpec` accepts (the spec layer cannot import
this one); tests/test_kinds.py checks that the two agree.

Adding a backend: a module with a class that implements :class:`archon.backends.base.Backend`,
one entry below, and its name in ``ModelSpec.kind``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from archon.backends.base import Backend
from archon.backends.fake import FakeBackend, get_script

if TYPE_CHECKING:
    from archon.spec.schema import ModelSpec

__all__ = ["BACKENDS", "BackendKind", "build_backend"]


@dataclass(frozen=True)
class BackendKind:
    """One ``kind:`` of model entry and how to build the backend that serves it."""

    name: str
    summary: str
    build: Callable[[ModelSpec], Backend]
    #: its answers carry the mean token log-probability when a call asks (a cascade's ``logprob``
    #: signal needs it; the spec layer's ``LOGPROB_BACKENDS`` names the same kinds)
    logprobs: bool = False


def _litellm(spec: ModelSpec) -> Backend:
    from archon.backends.litellm_backend import LiteLLMBackend  # lazy: see the module docstring

    return LiteLLMBackend(spec)


def _local(spec: ModelSpec) -> Backend:
    from archon.backends.local import LocalBackend  # lazy: the engine is an optional extra

    return LocalBackend(spec)


def _vllm(spec: ModelSpec) -> Backend:
    from archon.backends.vllm_backend import VllmBackend  # lazy: talks to Ray and vLLM

    return VllmBackend(spec)


def _fake(spec: ModelSpec) -> Backend:
    return FakeBackend(get_script(spec.model), name=spec.model)


#: Every backend kind by name, in the order ``ModelSpec.kind`` lists them.
BACKENDS: dict[str, BackendKind] = {
    k.name: k
    for k in (
        BackendKind("litellm", "any litellm model id: hosted providers and OpenAI-compatible servers", _litellm),
        BackendKind("local", "the embedded SmolLM2 or a GGUF file, run in process by llama.cpp (xllamacpp)", _local,
                    logprobs=True),
        BackendKind("vllm", "vLLM's offline engine in a Ray actor", _vllm),
        BackendKind("fake", "a script registered with archon.testing.register_script (tests)", _fake, logprobs=True),
    )
}


def build_backend(spec: ModelSpec) -> Backend:
    """A backend for one model entry (imports the library its kind needs on first use)."""
    return BACKENDS[spec.kind].build(spec)
