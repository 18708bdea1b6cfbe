"""Reading structure out of model text: rankings, yes/no verdicts, scores, per-test results,
final answers.

Why a module of its own: small models answer in every format but the one asked for. Each parser
first tries JSON (what structured output returns), then the formats models actually write, and
says when it could not decide (``None`` / ``ok=False``) instead of guessing silently; the
component then records the parse failure and applies its stated fallback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RANK_SCHEMA",
    "SCORE_SCHEMA",
    "TESTS_SCHEMA",
    "VERDICT_SCHEMA",
    "RankParse",
    "default_extract",
    "extract_code",
    "extract_json",
    "normalise_answer",
    "parse_checks",
    "parse_code_tests",
    "parse_ranking",
    "parse_score",
    "parse_test_results",
    "parse_verdict",
]

RANK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ranking": {"type": "array", "items": {"type": "integer"}}},
    "required": ["ranking"],
}
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["verdict"],
}
SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 10}},
    "required": ["score"],
}
TESTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"results": {"type": "array", "items": {"type": "boolean"}}},
    "required": ["results"],
}


def extract_json(text: str) -> Any | None:
    """The first JSON object or array in ``text`` (whole text, fenced block, or embedded)."""
    stripped = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.S)
    for chunk in ([stripped] + ([fenced.group(1).strip()] if fenced else [])):
        try:
            return json.loads(chunk)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", stripped):
        try:
            value, _ = decoder.raw_decode(stripped[match.start():])
            return value
        except ValueError:
            continue
    return None


# ----------------------------------------------------------------------------- ranking


def _is_whole_json(text: str) -> bool:
    stripped = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)```", stripped, re.S)
    body = fenced.group(1).strip() if fenced else stripped
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class RankParse:
    """A ranking as 0-based indices (complete: every candidate exactly once).

    ``found`` is how many positions came from the model's text; the rest were appended in
    original order. ``ok`` is false when nothing usable was found.
    """

    order: tuple[int, ...]
    found: int
    ok: bool
    detail: str = ""


_LIST_MARKER = re.compile(r"^\s*(?:#?\d+\s*[.):]|rank\s*\d+\s*[.):-]|[-*•]|(?:first|second|third|fourth|fifth|best|worst)\s*[:.-])\s*", re.I)


def _numbers_from_text(text: str) -> list[int]:
    bracketed = re.findall(r"\[(-?\d+)\]", text)
    if bracketed:
        return [int(x) for x in bracketed]
    labelled = re.findall(r"\b(?:answer|response|candidate|option)\s*#?\s*(\d+)", text, re.I)
    if labelled:
        return [int(x) for x in labelled]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1:
        # "1. 3\n2. 1\n3. 2": drop the list numbering, keep the first number on each line.
        picked = []
        for line in lines:
            rest = _LIST_MARKER.sub("", line, count=1)
            m = re.search(r"-?\d+", rest)
            if m:
                picked.append(int(m.group(0)))
        if picked:
            return picked
    return [int(x) for x in re.findall(r"-?\d+", text)]


def parse_ranking(text: str, n: int) -> RankParse:
    """Parse a best-first ranking of candidates numbered 1..n.

    Accepts JSON (``{"ranking": [2, 1, 3]}`` or ``[2, 1, 3]``), ``[2] > [1] > [3]``,
    ``2, 1, 3``, "Answer 2 is best, then answer 1", and numbered lines. Out-of-range and repeated
    numbers are ignored; candidates the text does not mention are appended in original order.
    """
    numbers: list[int] | None = None
    data = extract_json(text)
    if isinstance(data, list) and not _is_whole_json(text):
        data = None  # "[2] > [1]" starts with a JSON-looking "[2]": not a JSON ranking
    if isinstance(data, dict):
        for key in ("ranking", "order", "rank", "ranks"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if isinstance(data, list) and data and all(isinstance(x, (int, str)) and str(x).strip().isdigit() for x in data):
        numbers = [int(x) for x in data]
    if numbers is None:
        numbers = _numbers_from_text(text)
    order: list[int] = []
    for k in numbers:
        if 1 <= k <= n and (k - 1) not in order:
            order.append(k - 1)
    found = len(order)
    order.extend(i for i in range(n) if i not in order)
    if found == 0:
        return RankParse(tuple(order), 0, False, f"no candidate number 1..{n} found in {_clip(text)!r}")
    detail = "" if found >= n - 1 else f"ranked {found} of {n}; the rest appended in original order"
    return RankParse(tuple(order), found, True, detail)


# ----------------------------------------------------------------------------- verdicts

_YES = {"yes", "correct", "true", "pass", "passes", "passed", "valid", "right", "accurate"}
_NO = {"no", "incorrect", "false", "fail", "fails", "failed", "invalid", "wrong", "inaccurate"}
_NEGATORS = {"not", "isn't", "isnt", "never", "hardly"}


def parse_verdict(text: str) -> bool | None:
    """``True`` for yes, ``False`` for no, ``None`` when undecidable.

    JSON ``{"verdict": "yes"}`` first; then a ``verdict:``/``answer:`` line; then the first
    verdict word in the text ("not correct" counts as no).
    """
    data = extract_json(text)
    if isinstance(data, dict):
        for key in ("verdict", "answer", "correct", "passed"):
            if key in data:
                value = data[key]
                if isinstance(value, bool):
                    return value
                got = _first_verdict(str(value))
                if got is not None:
                    return got
    labelled = re.search(r"(?:verdict|final answer|answer)\s*[:=-]\s*(.+)", text, re.I)
    if labelled:
        got = _first_verdict(labelled.group(1))
        if got is not None:
            return got
    return _first_verdict(text)


def _first_verdict(text: str) -> bool | None:
    words = re.findall(r"[a-z']+", text.lower())
    previous = ""
    for word in words:
        if word in _YES:
            return previous not in _NEGATORS
        if word in _NO:
            return False
        previous = word
    return None


# ----------------------------------------------------------------------------- scores


def parse_score(text: str, low: int = 1, high: int = 10) -> float | None:
    """A score in [low, high]: JSON ``{"score": 7}``, "Score: 7", "7/10", or a lone number."""
    data = extract_json(text)
    if isinstance(data, dict) and isinstance(data.get("score"), (int, float)) and not isinstance(data.get("score"), bool):
        value = float(data["score"])
        return value if low <= value <= high else None
    for pattern in (r"score\s*[:=]?\s*(\d+(?:\.\d+)?)", r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d.])"):
        for match in re.finditer(pattern, text, re.I):
            value = float(match.group(1))
            if low <= value <= high:
                return value
    return None


# ----------------------------------------------------------------------------- tests


def extract_code(text: str) -> str | None:
    """The first fenced Python code block (```python or a bare ``` block), if any."""
    match = re.search(r"```(?:python|py)\s*\n(.*?)```", text, re.S | re.I) or re.search(r"```\s*\n(.*?)```", text, re.S)
    return match.group(1).strip("\n") if match else None


def parse_code_tests(text: str, limit: int) -> list[str]:
    """Assert statements from a test-writing reply (inside a code block, or bare lines)."""
    body = extract_code(text) or text
    tests: list[str] = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("assert ") or stripped.startswith("assert("):
            tests.append(stripped)
    return tests[:limit]


def parse_checks(text: str, limit: int) -> list[str]:
    """Numbered or bulleted checks, one per line (falls back to every non-empty line)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    numbered = [re.sub(r"^(?:\d+\s*[.):]|[-*•])\s*", "", ln) for ln in lines if re.match(r"^(?:\d+\s*[.):]|[-*•])\s*\S", ln)]
    chosen = numbered or lines
    return [c for c in chosen if c][:limit]


_PASS_WORDS = re.compile(r"\b(pass|passes|passed|yes|satisfied|satisfies|true|met)\b", re.I)
_FAIL_WORDS = re.compile(r"\b(fail|fails|failed|no|not satisfied|unsatisfied|false|not met)\b", re.I)


def parse_test_results(text: str, n: int) -> tuple[list[bool | None], bool]:
    """Per-check pass/fail from a judge's reply, by whole words, not substrings.

    JSON ``{"results": [true, false]}`` first; then lines naming a check number ("Check 2: FAIL");
    then, if the reply has exactly ``n`` verdict lines, those in order. Returns the per-check
    results (``None`` = undecided) and whether every check was decided.
    """
    results: list[bool | None] = [None] * n
    data = extract_json(text)
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        data = data["results"]
    if isinstance(data, list) and data and all(isinstance(x, bool) for x in data):
        for i, value in enumerate(data[:n]):
            results[i] = value
        return results, all(r is not None for r in results)
    unnumbered: list[bool] = []
    for line in text.splitlines():
        verdict = _line_verdict(line)
        if verdict is None:
            continue
        m = re.search(r"\b(?:check|test)?\s*#?(\d+)\s*[:.)-]", line, re.I)
        if m and 1 <= int(m.group(1)) <= n and results[int(m.group(1)) - 1] is None:
            results[int(m.group(1)) - 1] = verdict
        else:
            unnumbered.append(verdict)
    if all(r is None for r in results) and len(unnumbered) == n:
        results = list(unnumbered)
    return results, all(r is not None for r in results)


def _line_verdict(line: str) -> bool | None:
    fail = _FAIL_WORDS.search(line)
    ok = _PASS_WORDS.search(line)
    if fail and (not ok or fail.start() <= ok.start()):
        return False
    if ok:
        return True
    return None


# ----------------------------------------------------------------------------- answers


def normalise_answer(text: str) -> str:
    """Lower-case, strip punctuation at the ends and collapse whitespace (for comparing answers)."""
    text = re.sub(r"\s+", " ", text.strip().lower())
    return text.strip(" .,!?;:\"'`*")


def default_extract(text: str) -> str | None:
    """The final answer in a response, for voting when the benchmark gives no extractor.

    An ``answer:`` line wins; then a ``\\boxed{...}``; then the last number; then the whole
    normalised text. ``None`` for an empty response.
    """
    matches = re.findall(r"(?:final answer|answer)\s*(?:is)?\s*[:=]\s*(.+)", text, re.I)
    if matches:
        value = normalise_answer(matches[-1])
        if value:
            return value
    boxed = re.findall(r"\\boxed\{([^{}]*)\}", text)
    if boxed:
        return normalise_answer(boxed[-1])
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    if numbers:
        value = numbers[-1].replace(",", "")
        return value.rstrip("0").rstrip(".") if "." in value else value
    value = normalise_answer(text)
    return value or None


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
