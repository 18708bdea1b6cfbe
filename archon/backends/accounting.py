"""What a call costs in dollars (the :class:`~archon.backends.records.Cost` summary that adds
calls up is a call record).

Dollars come from the spec's ``price`` (dollars per million tokens) when a model has one;
otherwise, for litellm models, from litellm's bundled cost map (loaded from the wheel, never from
the network). Local, vLLM and fake models cost nothing unless the spec prices them: their cost is
hardware the user already pays for, and a price in the spec is how a user says otherwise.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archon.spec.schema import ModelSpec

__all__ = ["call_dollars", "litellm_dollars"]


def call_dollars(model: ModelSpec, prompt_tokens: int, completion_tokens: int) -> float:
    """Dollars for one call of ``model`` with these token counts."""
    if model.price is not None:
        return (
            prompt_tokens * model.price.input_per_mtok + completion_tokens * model.price.output_per_mtok
        ) / 1_000_000
    if model.kind != "litellm":
        return 0.0
    return litellm_dollars(model.model, prompt_tokens, completion_tokens)


def litellm_dollars(model_id: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Dollars from litellm's local cost map; 0.0 for models it does not know (self-hosted)."""
    if prompt_tokens == 0 and completion_tokens == 0:
        return 0.0
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # lazy: seconds to import, and only a priced litellm call needs its cost map

    try:
        p, c = litellm.cost_per_token(
            model=model_id, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # noqa: BLE001 - litellm raises a bare Exception for a model it has no price for
        return 0.0
    return float(p) + float(c)
