"""Archon ``model_type`` values -> archon ``models:`` entries.

Archon names a provider per component (``"model_type": "Together_API"``); archon names models
once, under ``models:``, and components refer to them by a short name. The entry records which
environment variable holds the key (``api_key_env``) — the key itself is never written anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PROVIDERS", "UNSUPPORTED_MODEL_TYPES", "Provider", "model_entry", "short_name"]


@dataclass(frozen=True)
class Provider:
    """How one Archon ``model_type`` reaches its models from archon."""

    kind: str                 # archon model kind: litellm or vllm
    prefix: str | None        # litellm provider prefix (``together_ai`` -> ``together_ai/<model>``)
    api_key_env: str | None   # the provider's usual environment variable for its API key
    note: str = ""


PROVIDERS: dict[str, Provider] = {
    "Together_API": Provider("litellm", "together_ai", "TOGETHER_API_KEY"),
    "OpenAI_API": Provider("litellm", "openai", "OPENAI_API_KEY"),
    "Anthropic_API": Provider("litellm", "anthropic", "ANTHROPIC_API_KEY"),
    "Groq_API": Provider("litellm", "groq", "GROQ_API_KEY"),
    "Google_API": Provider("litellm", "gemini", "GEMINI_API_KEY"),
    # Bedrock authenticates with the AWS credential chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    # AWS_REGION_NAME), which litellm reads itself; there is no single key variable to name.
    "Bedrock_API": Provider("litellm", "bedrock", None, "uses the AWS credential chain"),
    # Archon's vLLM type runs the model in-process with vLLM's offline engine: archon's vllm kind.
    "vLLM": Provider("vllm", None, None),
}

#: Archon model types that cannot be imported without being remapped, and why.
UNSUPPORTED_MODEL_TYPES: dict[str, str] = {
    "tgi": "a text-generation-inference server needs its URL, which Archon configs do not carry",
}

_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def short_name(model: str) -> str:
    """A short, readable model name: the last path segment, lower-cased, safe characters only.

    ``Qwen/Qwen2-72B-Instruct`` -> ``qwen2-72b-instruct``; ``bedrock/meta.llama3-70b-instruct-v1:0``
    -> ``meta.llama3-70b-instruct-v1-0``.
    """
    tail = model.rstrip("/").rsplit("/", 1)[-1].lower()
    name = _UNSAFE.sub("-", tail).strip("-._")
    if not name or not name[0].isalpha():
        name = f"m-{name}" if name else "model"
    return name


def model_entry(model: str, model_type: str) -> dict[str, object]:
    """The ``models:`` entry for an Archon (model, model_type) pair; ``model_type`` must be known."""
    provider = PROVIDERS[model_type]
    if provider.kind == "vllm":
        return {"kind": "vllm", "model": model}
    litellm_id = model if model.startswith(f"{provider.prefix}/") else f"{provider.prefix}/{model}"
    entry: dict[str, object] = {"kind": "litellm", "model": litellm_id}
    if provider.api_key_env:
        entry["api_key_env"] = provider.api_key_env
    return entry
