"""What a finished search writes for people and scripts: summary.json's documented keys,
report.html's sections (self-contained, nothing fetched), the terminal summary, and no secret
anywhere in the run directory. The page in a real browser: test_report_browser.py."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from report_fixtures import CUSTOM_JSONL_SPACE, FIXTURES, REPORT_TEST_SECRET

from archon.search.charts import Point, pareto_front
from archon.search.report_data import SCHEMA_VERSION, verdict

#: The top-level keys of summary.json that docs/search.md documents; scripts rely on them.
DOCUMENTED_KEYS = {
    "schema_version", "study", "description", "storage", "objectives", "cost_unit", "sampler", "benchmark", "verdict",
    "emitted", "baseline", "best", "pareto", "candidates", "n_trials", "counts", "trials", "selection", "test", "power",
    "stopped", "no_result", "calls_made", "calls_cached", "call_failed_queries", "wall_time", "ledger", "outputs",
}
VERDICT_KINDS = {"win", "win_unconfirmed", "win_untested", "no_win", "unchecked", "nothing"}


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("which", ["custom_jsonl_run", "quickstart_replay_run"])
def test_summary_json_has_the_documented_keys_and_one_story(which, request) -> None:
    result, run = request.getfixturevalue(which)
    s = _summary(run)
    assert set(s) == DOCUMENTED_KEYS
    assert s["schema_version"] == SCHEMA_VERSION
    v = s["verdict"]
    assert v["kind"] in VERDICT_KINDS and v["headline"].endswith(".")
    assert v == {"kind": verdict(result).kind, "headline": verdict(result).headline, "details": verdict(result).details}
    emitted = s["emitted"]
    # the verdict tells the same story as the selection decision and the test comparison
    if emitted["trial"] is None:
        assert v["kind"] == "no_win" and "best.yaml holds the baseline" in v["headline"]
    else:
        assert v["kind"] in ("win", "win_unconfirmed", "win_untested") and v["headline"].startswith(f"Trial {emitted['trial']} ")
        tested = next(p for p in s["test"]["pipelines"] if p.get("emitted"))
        assert (v["kind"] == "win") == (tested["vs_baseline"]["significant"] and tested["vs_baseline"]["difference"] > 0)
        assert f"{tested['test']['accuracy']:.3f}" in v["headline"]
    # trials by name: every trial once, with its choices as the space names them
    assert s["n_trials"] == len(s["trials"]) == len(result.trials) and sum(s["counts"].values()) == s["n_trials"]
    assert {t["trial"] for t in s["trials"]} == {t.number for t in result.trials}
    assert all(isinstance(v, (str, int, float, bool, type(None))) for t in s["trials"] for v in t["params"].values())
    # dev -> selection -> test evidence for every contender and the baseline
    labels = {c["label"] for c in s["candidates"]}
    assert "baseline" in labels and {c["label"] for c in s["selection"]["contenders"]} <= labels
    for c in s["candidates"]:
        for split in ("dev", "selection", "test"):
            if c[split] is not None:
                lo, hi = c[split]["ci"]
                assert 0 <= lo <= c[split]["accuracy"] <= hi <= 1 and c[split]["n"] > 0
    assert s["baseline"]["model"] and s["baseline"]["test"]["n"] == s["test"]["n"]
    # outputs are relative to the run directory and exist
    for name in ("best", "report", "summary", "leaderboard", "leaderboard_csv"):
        assert (run / s["outputs"][name]).exists(), name


def test_custom_jsonl_choices_are_shown_by_name(custom_jsonl_run) -> None:
    result, run = custom_jsonl_run
    s = _summary(run)
    first = min(s["trials"], key=lambda t: t["trial"])
    assert first["params"] == {"style": None, "temperature": 0.0, "samples": 1, "aggregate": "first"}
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "aggregate=first" in html or ">first<" in html
    assert "aggregate=0" not in html and "aggregate=1" not in html
    md = (run / "leaderboard.md").read_text(encoding="utf-8")
    assert "aggregate=first" in md and "aggregate=0" not in md


@pytest.mark.parametrize("which", ["custom_jsonl_run", "quickstart_replay_run"])
def test_report_html_is_self_contained_and_has_every_section(which, request) -> None:
    result, run = request.getfixturevalue(which)
    page = (run / "report.html").read_text(encoding="utf-8")
    s = _summary(run)
    # nothing is fetched: no external script, style, image or font
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=\s*['\"]?(https?:)?//", page, re.I)
    assert "@import" not in page and "url(http" not in page
    assert not re.search(r"(src|href)\s*=\s*['\"]https?:", page, re.I)
    assert "data:image/png" not in page  # charts are inline SVG
    # the verdict, first, in the words of summary.json
    assert page.index("id='verdict'") < page.index("id='pipelines'") < page.index("id='cost'")
    assert page.index("id='cost'") < page.index("id='generalization'") < page.index("id='leaderboard'") < page.index("id='trials'")
    import html

    assert html.escape(s["verdict"]["headline"]) in page
    # the emitted pipeline and the baseline (or the best by dev) as graphs, and the charts
    assert page.count("class='pipeline-graph'") >= 2
    for chart in ("cost-accuracy", "generalization", "history"):
        assert f"class='chart {chart}'" in page, chart
    # one leaderboard row and one drill-down per trial; examples from the traces
    assert page.count("<tr data-trial=") == len(result.trials)
    assert page.count("<details class='trial'") == len(result.trials)
    assert "Example dev queries" in page and "final answer:" in page and "expected:" in page


def test_every_svg_is_well_formed(custom_jsonl_run) -> None:
    _, run = custom_jsonl_run
    page = (run / "report.html").read_text(encoding="utf-8")
    svgs = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(svgs) >= 5
    for svg in svgs:
        ET.fromstring(svg)  # raises on a broken document
    plots = sorted(p.name for p in (run / "plots").glob("*.svg"))
    assert {"cost_accuracy_calls.svg", "cost_accuracy_tokens.svg", "cost_accuracy_dollars.svg", "generalization.svg",
            "history.svg"} <= set(plots)
    for name in plots:
        ET.parse(run / "plots" / name)


def test_no_secret_in_any_file_the_search_wrote(custom_jsonl_run) -> None:
    _, run = custom_jsonl_run
    checked = 0
    for path in run.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert REPORT_TEST_SECRET.encode() not in path.read_bytes(), path
            checked += 1
    assert checked >= 8
    # the report names the variable a key comes from only where the spec does: never its value
    assert "ARCHON_REPORT_TEST_KEY" not in (run / "report.html").read_text(encoding="utf-8")


def test_terminal_summary_leads_with_the_verdict(tmp_path, capsys) -> None:
    from archon.cli import main

    spec = tmp_path / "code_words.yaml"
    spec.write_text(CUSTOM_JSONL_SPACE.format(data=FIXTURES / "code_words.jsonl").replace("trials: 14", "trials: 6"), encoding="utf-8")
    code = main(["search", str(spec), "--no-ray", "--quiet", "--run-dir", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0, out
    s = _summary(tmp_path / "run")
    said = " ".join(re.sub(r"[\u2500-\u257f]", " ", out).split())  # the panel's border and wrapping removed
    assert f"verdict: {VERDICT_TITLES[s['verdict']['kind']]}" in said
    assert " ".join(s["verdict"]["headline"].split()) in said
    # the verdict comes before the details
    assert out.index("verdict:") < out.index("best by dev:") < out.index("report:")


VERDICT_TITLES = {"win": "a real win", "win_unconfirmed": "not confirmed on test",
                  "win_untested": "won on held-out selection data; test not scored", "no_win": "keep the baseline",
                  "unchecked": "not checked on held-out data", "nothing": "nothing emitted"}


def test_pareto_front_is_the_set_nothing_beats() -> None:
    pts = [Point(0, 1.0, 0.3), Point(1, 1.0, 0.5), Point(2, 3.0, 0.5), Point(3, 5.0, 0.8), Point(4, 2.0, 0.6),
           Point(5, 0.5, 0.1), Point(6, 4.0, 0.9, complete=False)]
    front = pareto_front(pts)
    assert [p.trial for p in front] == [5, 1, 4, 3]  # cheapest first; pruned points never count
    for p in front:
        assert not any(q.accuracy >= p.accuracy and q.cost <= p.cost and (q.accuracy > p.accuracy or q.cost < p.cost)
                       for q in pts if q.complete)


def test_an_emitted_baseline_gets_one_test_line_and_a_trial_its_comparison() -> None:
    from archon.search.report import test_lines

    score = {"accuracy": 0.4, "ci": [0.3, 0.5], "n": 65}
    vs = {"difference": 0.05, "wins": 5, "losses": 2, "method": "McNemar exact", "p_value": 0.45, "significant": False}
    test = {"baseline": {"model": "local/smollm2", "label": "baseline", "test": score},
            "pipelines": [{"label": "baseline", "trial": None, "emitted": True, "test": score},
                          {"label": "trial-12", "trial": 12, "best_by_dev": True, "test": score, "vs_baseline": vs}]}
    lines = test_lines(test)
    assert lines[0].startswith("baseline (emitted: local/smollm2, one greedy call): test 0.400")
    assert lines[1].startswith("trial 12 (best by dev, not emitted): test 0.400") and "5 wins / 2 losses" in lines[1]
    assert len(lines) == 2
    test["pipelines"] = test["pipelines"][1:]  # a trial emitted instead: the baseline gets its own line
    test["pipelines"][0]["emitted"] = True
    assert test_lines(test)[-1] == "baseline (local/smollm2, one greedy call): test 0.400 [0.30, 0.50]"
