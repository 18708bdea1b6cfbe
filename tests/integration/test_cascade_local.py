"""A cascade on the real embedded SmolLM2: stage 1 (one greedy call, asked for its token
log-probabilities) answers the queries it is sure of, stage 2 (three samples and a vote) the rest.
The engine returns real log-probabilities; the queries that escalate, and only those, make
stage 2's calls, as one batch; a rerun with the same cache makes no call at all."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

pytest.importorskip("xllamacpp", reason="needs pip install '.[local]'")

COUNTRIES = ["France", "Japan", "Italy", "Burkina Faso", "Kyrgyzstan", "Vanuatu", "Suriname", "Peru"]
QUERIES = [f"What is the capital of {c}? Answer with the city name only." for c in COUNTRIES]

CASCADE = """\
name: logprob-cascade
pipeline:
  - type: cascade
    stages:
      - layers:
          - {type: generate, id: answer, model: local/smollm2, temperature: 0, max_tokens: 12}
        signal: logprob
        threshold: %s
      - layers:
          - {type: generate, id: answer, model: local/smollm2, samples: 3, temperature: 0.7, max_tokens: 12}
          - {type: vote}
"""


def test_a_logprob_cascade_on_smollm2(tmp_path: Path) -> None:
    from archon.pipeline_file import load_pipeline

    cache = tmp_path / "calls.sqlite"
    # first the confidences alone (threshold 0: nobody goes on), then a threshold between them
    spec = tmp_path / "probe.yaml"
    spec.write_text(CASCADE % 0.0)
    with load_pipeline(spec, cache=cache, trace=True) as p:
        probe = p.run_batch(QUERIES)
    confidences = [r.trace["notes"]["cascade1"]["stages"][0]["confidence"] for r in probe]
    assert all(r.answered_by == {"cascade1": 1} for r in probe)
    assert all(0.0 < c <= 1.0 for c in confidences) and len(set(confidences)) > 1, confidences
    # the engine's own value: the answer's mean token log-probability, annotated on the candidate
    logprob = probe[0].trace["nodes"]["cascade1.s1.answer"][0]["annotations"]["logprob"]
    assert math.exp(logprob) == pytest.approx(confidences[0], abs=1e-6)

    threshold = sorted(confidences)[len(confidences) // 2]  # about half go on
    spec.write_text(CASCADE % threshold)
    with load_pipeline(spec, cache=cache, trace=True) as p:
        results = p.run_batch(QUERIES)
        meter = p.client.meter.snapshot()
    went_on = [c < threshold for c in confidences]
    assert [r.answered_by["cascade1"] for r in results] == [2 if w else 1 for w in went_on]
    assert all(r.status == "ok" and r.answer for r in results)
    # stage 1 is answered by the cache; stage 2 made 3 samples for each escalated query only
    assert meter.calls == 3 * sum(went_on)
    assert [r.cost.calls + r.cost.cached_calls for r in results] == [4 if w else 1 for w in went_on]

    with load_pipeline(spec, cache=cache) as p:
        again = p.run_batch(QUERIES)
        assert p.client.meter.snapshot().calls == 0
    assert [r.answer for r in again] == [r.answer for r in results]
