"""What a drawing of a pipeline shows of each node besides its id and kind: its settings worth
showing. Shared by the text, Mermaid and DOT renderings (:mod:`archon.graph.render`) and the SVG
one (:mod:`archon.graph.svg`)."""

from __future__ import annotations

from typing import Any

__all__ = ["settings", "stage_text"]


def settings(component: Any) -> list[tuple[str, Any]]:
    """The settings worth showing: the model(s) and every field that differs from its default;
    for a cascade, one line per stage."""
    if component.type == "cascade":
        return [(f"stage {k}", stage_text(stage)) for k, stage in enumerate(component.stages, 1)]
    data = component.model_dump(exclude_defaults=True)
    out: list[tuple[str, Any]] = []
    if component.type == "generate":
        out.append(("models", component.model_list()) if component.models else ("model", component.model))
    elif hasattr(component, "model"):
        out.append(("model", component.model))
    for key, value in data.items():
        if key in ("type", "id", "inputs", "model", "models", "system_prompt", "prompt_template"):
            continue
        out.append((key, value))
    for key in ("system_prompt", "prompt_template"):
        if data.get(key):
            out.append((key, "(custom)"))
    return out


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def stage_text(stage: Any) -> str:
    """A cascade stage on one line: its layers (``a + b`` side by side, ``->`` between layers),
    then when a query goes on (``next if vote_margin < 0.5``)."""
    layers = []
    for layer in stage.layers:
        parts = []
        for comp in layer:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in settings(comp) if k not in ("model",) or v != "local/smollm2")
            parts.append(f"{comp.type}({shown})" if shown else comp.type)
        layers.append(" + ".join(parts))
    text = " -> ".join(layers)
    if stage.signal is not None:
        text += f"; next if {stage.signal} < {_short(stage.threshold)}"
    return text
