"""docs/spec-reference.md names every field of the schema, so the reference cannot silently drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from archon.spec import schema

DOC = Path(__file__).parents[2] / "docs" / "spec-reference.md"
MODELS = [m for m in vars(schema).values() if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == schema.__name__]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_is_documented(model: type[BaseModel]) -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in model.model_fields if f"`{name}`" not in text and name not in ("layers",)]
    assert not missing, f"{model.__name__}: {missing} not in {DOC.name}"


def test_every_component_type_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for kind in schema.COMPONENT_TYPES:
        assert f"| `{kind}` |" in text
