"""`archon eval` with the real embedded SmolLM2 on capitals dev: a one-call baseline and a
generate x5 -> vote pipeline. Asserts the report's structure, not a particular accuracy."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("xllamacpp", reason="needs the embedded model: pip install '.[local]'")

from archon.cli import main  # noqa: E402

pytestmark = [pytest.mark.local_model, pytest.mark.slow]

DEV = 20


def _report(text: str) -> tuple[float, float, float, int, int]:
    m = re.search(r"accuracy=([\d.]+) ci95=\[([\d.]+),([\d.]+)\] n=(\d+) failed=(\d+)", text)
    assert m, text
    return float(m[1]), float(m[2]), float(m[3]), int(m[4]), int(m[5])


def _check(acc: float, lo: float, hi: float, n: int, rows_path) -> None:
    assert 0.0 <= lo <= acc <= hi <= 1.0
    assert n == DEV
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    assert len(rows) == DEV and len({r["id"] for r in rows}) == DEV
    assert sum(r["score"] for r in rows) / DEV == pytest.approx(acc, abs=1e-4)


def test_eval_baseline_and_vote_of_5_on_capitals(tmp_path, capsys):
    cache = tmp_path / "cache.sqlite"
    base_rows = tmp_path / "baseline.jsonl"
    code = main(["eval", "--baseline", "local/smollm2", "--benchmark", "capitals", "--dev", str(DEV),
                 "--max-tokens", "32", "--cache", str(cache), "--output", str(base_rows), "--quiet"])
    assert code == 0
    base = _report(capsys.readouterr().out)
    _check(*base[:4], base_rows)

    spec = tmp_path / "vote5.yaml"
    spec.write_text(
        f"benchmark: {{name: capitals, dev: {DEV}}}\n"
        "pipeline:\n"
        "  - {type: generate, model: local/smollm2, samples: 5, temperature: 0.7, max_tokens: 32}\n"
        "  - {type: vote}\n"
    )
    vote_rows = tmp_path / "vote.jsonl"
    assert main(["eval", str(spec), "--cache", str(cache), "--output", str(vote_rows), "--quiet"]) == 0
    vote = _report(capsys.readouterr().out)
    _check(*vote[:4], vote_rows)
    rows = [json.loads(line) for line in vote_rows.read_text().splitlines()]
    assert all(r["cost"]["calls"] + r["cost"]["cached_calls"] == 5 for r in rows if r["status"] == "ok")
    print(f"\ncapitals dev n={DEV}: baseline {base[0]:.3f} [{base[1]:.3f}, {base[2]:.3f}]; "
          f"generate x5 -> vote {vote[0]:.3f} [{vote[1]:.3f}, {vote[2]:.3f}]")
