"""Property tests over random valid pipelines: candidate-id integrity, no annotation leakage
after any component, and calls per node exactly as the static cost model says."""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archon.graph.kinds import KINDS
from archon.graph.cost import calls_for
from archon.runtime import Executor
from pipeline_kit import Smart, make_client, make_pipeline, make_spec

MODELS = st.sampled_from(["m1", "m2"])


@st.composite
def pipelines(draw):
    layers = [[{"type": "generate", "model": draw(MODELS), "samples": draw(st.integers(1, 3))} for _ in range(draw(st.integers(1, 2)))]]
    has_verify = False
    for _ in range(draw(st.integers(0, 4))):
        step = draw(st.sampled_from(["critique+rank", "critique+fuse", "rank", "fuse", "verify", "unit_test", "refine", "select"]))
        model = draw(MODELS)
        if step.startswith("critique+"):
            layers.append({"type": "critique", "model": model})
            user = step.split("+")[1]
            extra = {"top_k": draw(st.integers(1, 4))} if user == "rank" else {"samples": draw(st.integers(1, 2))}
            layers.append({"type": user, "model": draw(MODELS), "use_critiques": True, **extra})
        elif step == "rank":
            layers.append({"type": "rank", "model": model, "use_critiques": False, "top_k": draw(st.integers(1, 4))})
        elif step == "fuse":
            layers.append({"type": "fuse", "model": model, "use_critiques": False, "samples": draw(st.integers(1, 3))})
        elif step == "verify":
            layers.append({"type": "verify", "model": model, "fallback": draw(st.sampled_from(["keep_all", "keep_best"]))})
            has_verify = True
        elif step == "unit_test":
            layers.append({"type": "unit_test", "model": model, "mode": "judge", "num_tests": 2, "top_k": draw(st.one_of(st.none(), st.integers(1, 3)))})
        elif step == "refine":
            layers.append({"type": "refine", "model": model, "rounds": draw(st.integers(1, 2))})
        else:
            by = draw(st.sampled_from(["judge", "verdict"] if has_verify else ["judge"]))
            layers.append({"type": "select", "model": model, "by": by, "top_k": draw(st.integers(1, 3))})
    final = draw(st.sampled_from(["vote", "fuse", "select", "rank"]))
    layers.append({"type": final} if final == "vote" else {"type": final, "model": draw(MODELS), **({"use_critiques": False} if final in ("fuse", "rank") else {})})
    return layers


RANK_REPLIES = [
    lambda n: " > ".join(f"[{i}]" for i in range(n, 0, -1)),
    lambda n: ", ".join(str(i) for i in range(1, n + 1)),
    lambda n: "I like the second one." if n >= 2 else "[1]",
    lambda n: "no idea",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pipelines(), st.integers(0, len(RANK_REPLIES) - 1), st.integers(1, 3))
def test_random_pipelines_keep_ids_and_annotations_straight(layers, rank_style, n_queries) -> None:
    spec = make_spec(layers)
    pipeline = make_pipeline(spec)
    responder = Smart(rank_reply=RANK_REPLIES[rank_style], answers=lambda q, m, s: f"ans{(s + len(q)) % 3} from {m}")
    client, _ = make_client(spec, responder)
    queries = [f"question number {i}?" for i in range(n_queries)]
    results = asyncio.run(Executor(pipeline, client, trace=True).run_batch(queries))
    for result in results:
        assert result.status == "ok", result.error
        nodes = result.trace["nodes"]
        known: set[str] = set()
        for note in result.trace["notes"].values():
            known.update(c["id"] for c in note.get("intermediate", []))
        calls = Counter(c["node"] for c in result.trace["calls"])
        for node in pipeline.order:
            component = pipeline.component(node)
            entry = KINDS[component.type]
            inputs: dict[str, dict] = {}
            for src in pipeline.inputs(node):
                for cand in nodes[src]:
                    merged = inputs.setdefault(cand["id"], {"text": cand["text"], "annotations": {}})
                    for kind, value in cand["annotations"].items():
                        merged["annotations"].setdefault(kind, value)
            out = nodes[node]
            ids = [c["id"] for c in out]
            assert len(ids) == len(set(ids)), f"duplicate ids at {node}"
            assert calls.get(node, 0) == calls_for(component, len(inputs)), node
            for cand in out:
                assert set(cand["parents"]) <= known | set(inputs), f"{cand['id']} has an unknown parent"
                if entry.creates:
                    assert cand["node"] == node and cand["annotations"] == {}, f"{node} leaked annotations onto {cand['id']}"
                    assert cand["id"] not in known
                else:
                    assert cand["id"] in inputs, f"{node} invented {cand['id']}"
                    before = inputs[cand["id"]]
                    assert cand["text"] == before["text"]
                    for kind, value in before["annotations"].items():
                        if kind in entry.annotates:
                            continue  # a second rank/verify/select re-annotates on purpose
                        assert cand["annotations"][kind] == value, f"{node} changed {kind} of {cand['id']}"
                    assert set(cand["annotations"]) - set(before["annotations"]) <= set(entry.annotates)
                # every annotation is about this very candidate
                if "critique" in cand["annotations"]:
                    assert cand["annotations"]["critique"] == f"CRIT<<{cand['text']}>>"
                if "verdict" in cand["annotations"]:
                    assert cand["annotations"]["verdict"]["reasoning"] == f"REASON<<{cand['text']}>>"
            known.update(ids)
        assert result.answer == nodes[pipeline.output][0]["text"]
        # a query pays each distinct call once (two nodes asking the same thing share it)
        assert 0 < result.cost.calls <= sum(calls.values()) and result.cost.calls <= pipeline.static_cost().calls
