"""Fixtures for component tests (helpers live in pipeline_kit, shared with tests/runtime)."""

from __future__ import annotations

import pytest

from pipeline_kit import Runner


@pytest.fixture
def run_component() -> Runner:
    return Runner()
