"""What ``serve_pipeline`` decides before anything starts (no Ray): the spec the replicas get is
self-contained, and ``--replicas`` maps onto Serve's own deployment settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archon.errors import InputError
from archon.serve.deployment import Batching
from archon.serve.server import fingerprint, prepare_spec, scaling_options


def test_replicas_map_onto_serves_settings() -> None:
    batching = Batching(max_batch_size=8, max_concurrent=4)
    assert scaling_options(3, batching) == {"num_replicas": 3, "max_ongoing_requests": 32}
    assert scaling_options("auto", batching) == {"num_replicas": "auto", "max_ongoing_requests": 32}
    assert scaling_options("1:4", batching) == {
        "max_ongoing_requests": 32,
        "autoscaling_config": {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 8},
    }
    for bad in ("0", "two", "4:1", "1:0", "-1", "1:"):
        with pytest.raises(InputError, match="--replicas"):
            scaling_options(bad, batching)


def test_the_replicas_get_a_self_contained_spec(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "qa.jsonl").write_text("".join(json.dumps({"input": f"q{i}", "reference": f"a{i}"}) + "\n" for i in range(20)))
    pipe = tmp_path / "pipe.yaml"
    pipe.write_text("benchmark: {name: jsonl, path: data/qa.jsonl, shots: 3}\n"
                    "pipeline:\n  - {type: generate, few_shot: 2, samples: 3}\n  - {type: vote}\n")
    spec = prepare_spec(pipe)
    assert spec.task is not None and len(spec.task.shots) == 3
    assert fingerprint(spec).startswith("archon-") and fingerprint(spec) == fingerprint(prepare_spec(pipe))
    # nothing taken from the benchmark: the spec goes as it is, and its data is never read
    plain = tmp_path / "plain.yaml"
    plain.write_text("benchmark: {name: jsonl, path: missing.jsonl}\npipeline:\n  - {type: generate}\n")
    assert prepare_spec(plain).task is None
