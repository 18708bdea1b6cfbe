"""Helpers: build a Spec from YAML text (through the real loader) and compile it."""

from __future__ import annotations

import pytest

from archon.errors import SpecError
from archon.graph import CompositionError, compile_pipeline
from archon.spec import load_spec_text
from archon.spec.schema import Spec


def spec_of(text: str) -> Spec:
    doc = load_spec_text(text, "t.yaml")
    data = dict(doc.data)
    data["pipeline"] = {"layers": data["pipeline"]}
    return Spec.model_validate(data, strict=True)


def compile_text(text: str):
    doc = load_spec_text(text, "t.yaml")
    data = dict(doc.data)
    data["pipeline"] = {"layers": data["pipeline"]}
    return compile_pipeline(Spec.model_validate(data, strict=True), locate=doc.locate)


def rules_broken(text: str) -> list[str]:
    try:
        compile_text(text)
    except CompositionError as exc:
        return exc.rules
    return []




__all__ = ["compile_text", "rules_broken", "spec_of", "SpecError"]
