"""report.html in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

The page must render without a console error or a failed script, fetch nothing from anywhere,
show the verdict, the pipeline graphs and the charts, and its leaderboard must sort, filter and
open a trial's drill-down. A full-page screenshot of each report is saved in the test's tmp
directory and its path printed, for a person to look at.

Skipped, saying why, when Playwright's Python package or a Chromium binary is missing
(.ci/run installs both; Playwright never downloads a browser here, it drives the system one).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: Chromium flags: no sandbox (root in CI), no GPU, and nothing that talks to the network.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    for candidate in (os.environ.get("ARCHON_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (path := shutil.which(candidate)):
            return path
    pytest.skip("no Chromium binary found (apt-get install -y chromium, or set ARCHON_CHROMIUM to one)")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed (pip install playwright)")
    executable = _chromium()
    with sync_api.sync_playwright() as pw:
        yield pw, executable


def _open(browser, report: Path, profile: Path):
    pw, executable = browser
    context = pw.chromium.launch_persistent_context(str(profile), executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
                                                    viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri(), wait_until="load")
    return context, page, problems, requests


def _visible_box(page, selector: str) -> dict:
    loc = page.locator(selector).first
    assert loc.is_visible(), selector
    box = loc.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 40, (selector, box)
    return box


@pytest.mark.parametrize("which", ["quickstart_replay_run", "custom_jsonl_run"])
def test_report_renders_in_headless_chromium(which, request, browser, tmp_path, capsys) -> None:
    result, run = request.getfixturevalue(which)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    context, page, problems, requests = _open(browser, run / "report.html", tmp_path / "profile")
    try:
        # the verdict: first on the page, in the words of summary.json
        verdict = page.locator("#verdict .headline")
        assert verdict.is_visible()
        assert " ".join(verdict.inner_text().split()) == " ".join(summary["verdict"]["headline"].split())
        top = _visible_box(page, "#verdict")
        assert top["y"] < 400, "the verdict is at the top"
        # the emitted pipeline and its neighbour drawn as graphs, with their nodes
        graphs = page.locator("#pipelines svg.pipeline-graph")
        assert graphs.count() >= 2
        _visible_box(page, "#pipelines svg.pipeline-graph")
        assert page.locator("#pipelines svg.pipeline-graph g.node").count() >= 2
        # the charts: accuracy vs cost (one mark per scored trial), dev/selection/test, history
        cost = page.locator("#cost figure:not([hidden]) svg.cost-accuracy")
        assert cost.count() == 1
        _visible_box(page, "#cost figure:not([hidden]) svg.cost-accuracy")
        scored = [t for t in summary["trials"] if t["dev"] is not None and t["status"] in ("complete", "pruned")]
        assert page.locator("#cost figure:not([hidden]) a.point").count() == len(scored)
        _visible_box(page, "#generalization svg.generalization")
        _visible_box(page, "#history svg.history")
        # switching the cost unit shows another chart
        page.locator("[data-unit-button=calls]").click()
        assert page.locator("figure[data-unit=calls]").is_visible()
        # the leaderboard sorts by a column and filters by a choice
        rows = page.locator("#board tbody tr")
        assert rows.count() == summary["n_trials"]
        page.locator("#board thead th", has_text="trial").first.click()
        numbers = [int(x) for x in page.eval_on_selector_all("#board tbody tr", "rs => rs.map(r => r.dataset.trial)")]
        assert numbers == sorted(numbers, reverse=True)
        page.locator("#board thead th", has_text="trial").first.click()
        numbers = [int(x) for x in page.eval_on_selector_all("#board tbody tr", "rs => rs.map(r => r.dataset.trial)")]
        assert numbers == sorted(numbers)
        page.fill("#filter", "aggregate=vote")
        want = sum(1 for t in summary["trials"] if t["params"].get("aggregate") == "vote")
        assert page.locator("#board tbody tr:not([hidden])").count() == want
        page.fill("#filter", "")
        # a row opens that trial's drill-down, with example queries from its trace
        emitted = summary["emitted"]["trial"]
        number = emitted if emitted is not None else summary["best"]["trial"]
        page.locator(f"#board tbody tr[data-trial='{number}'] td").nth(1).click()
        details = page.locator(f"details#trial-{number}")
        assert details.get_attribute("open") is not None
        assert details.locator(".ex").count() >= 1 and details.locator(".ex").first.is_visible()
        assert "final answer:" in details.inner_text()
        # nothing was fetched: the page and nothing else
        assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
        assert not problems, problems
        page.evaluate("window.scrollTo(0, 0)")
        shot = tmp_path / f"report-{which.replace('_run', '')}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
        with capsys.disabled():
            print(f"\nreport screenshot ({which}): {shot}")
    finally:
        context.close()
