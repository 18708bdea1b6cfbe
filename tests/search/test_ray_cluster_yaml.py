"""ray_cluster.yaml validates against the cluster-config schema shipped inside Ray."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _config() -> dict:
    return yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())


def test_matches_rays_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import ray.autoscaler

    schema = json.loads((Path(os.path.dirname(ray.autoscaler.__file__)) / "ray-schema.json").read_text())
    jsonschema.validate(_config(), schema)


def test_passes_ray_up_validation() -> None:
    """What `ray up` does before it launches anything: merge the provider defaults, validate."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(_config())))


def test_gpu_workers_and_setup() -> None:
    config = _config()
    nodes = config["available_node_types"]
    head = nodes[config["head_node_type"]]
    assert "GPU" not in head.get("resources", {})
    workers = [n for name, n in nodes.items() if name != config["head_node_type"]]
    assert any(n["resources"].get("GPU", 0) >= 1 and n["max_workers"] > n.get("min_workers", 0) for n in workers)
    assert any("archon[vllm]" in cmd for cmd in config["setup_commands"])


def test_schema_rejects_a_broken_config() -> None:
    """The check above can fail: an unknown top-level key is refused by Ray's schema."""
    jsonschema = pytest.importorskip("jsonschema")
    from ray.autoscaler._private.util import validate_config

    bad = _config()
    bad["max_wrokers"] = 3
    with pytest.raises(jsonschema.ValidationError):
        validate_config(bad)
