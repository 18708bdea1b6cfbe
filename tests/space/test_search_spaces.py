"""The ready-made spaces in search_spaces/ load, resolve and count as docs/spaces.md states."""

from __future__ import annotations

from pathlib import Path

from archon.space import Space
from archon.spec import load_spec_file

ROOT = Path(__file__).resolve().parents[2] / "search_spaces"


def load(name: str) -> Space:
    return Space.from_document(load_spec_file(ROOT / name))


def test_moa_count():
    s = load("moa.yaml")
    # proposers 2..6 (5) x temperature 0.3..1.1 step 0.2 (5) x widths over depth 0,1,2 (1 + 3 + 9) = 325
    assert s.count().exact == 325
    p = s.resolve({"proposers": 4, "proposer_temperature": 0.5, "depth": 2, "width#1": 3, "width#2": 2})
    assert p.static_cost().calls == 4 + 3 + 2 + 1


def test_test_time_compute_count():
    s = load("test_time_compute.yaml")
    r = s.count()
    # n 1..16 x 7 temperatures x 4 top_p x 3 selections = 1344; verify_then_select costs 3n calls,
    # over the 40-call budget for n >= 14: 3 x 7 x 4 = 84 invalid
    assert r.total_points == 1344 and r.exact == 1260
    assert list(r.invalid_reasons) == [next(iter(r.invalid_reasons))] and next(iter(r.invalid_reasons)).startswith("budget-calls")


def test_itas_structure_and_a_point():
    s = load("archon_itas.yaml")
    names = [c.name for c in s.choices]
    assert names == ["generators", "samples", "critic_ranker", "extra_fusion_layers", "fusers#1", "fusers#2", "fusers#3", "final_filter"]
    p = s.resolve({"generators": 3, "samples": 2, "critic_ranker": "on", "extra_fusion_layers": 1, "fusers#1": 2, "final_filter": "verifier"})
    kinds = [[p.component(n).type for n in layer] for layer in p.layers()]
    assert kinds == [["generate"], ["critique"], ["rank"], ["fuse", "fuse"], ["critique"], ["rank"], ["verify"], ["fuse"]]
    # 6 generations, 6 critiques, 1 rank, 2 fusions, 2 critiques, 1 rank, 2x2 verifications, 1 fusion
    assert p.static_cost().calls == 6 + 6 + 1 + 2 + 2 + 1 + 4 + 1


def test_itas_exact_count():
    r = load("archon_itas.yaml").count()
    # 10 x 5 x 2 x (1 + 5 + 25 + 125) x 3 = 46,800 points; every invalid one breaks context-window
    assert r.total_points == 46_800
    assert r.exact == 2_763
    assert [(k.split(":")[0], n) for k, n in r.invalid_reasons.items()] == [("context-window", 44_037)]


def test_cascade_count_and_a_point():
    s = load("cascade.yaml")
    # prompt 2 x examples 2 x samples 2 x signal 3 x threshold 9 x strong prompt 2 x strong examples 2
    assert s.count().exact == 864
    p = s.resolve({"cheap_prompt": None, "cheap_shots": 0, "cheap_samples": 3, "signal": "vote_margin", "threshold": 0.5,
                   "strong_prompt": None, "strong_shots": 4})
    first, second = p.stages["cascade1"]
    assert (first.signal, first.threshold, first.margin_candidates) == ("vote_margin", 0.5, 3)
    assert first.seed_keys[first.nodes[0]] == second.seed_keys[second.nodes[0]] == "answer"  # the quickstart's calls
    assert p.static_cost().calls == 3 + 5  # the worst case, within budget.per_query.calls
