"""Loaders for custom data and the field's standard benchmarks, from a local copy (``path:``).

Each loader reads the original file format of its benchmark and returns records, a scorer and a
prompt format. Malformed data raises :class:`BenchmarkError` naming ``file:line``. No data of
these benchmarks ships with archon: download a copy once (``HF_SOURCES`` names where) and point
``path:`` at it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

from archon.benchmarks.base import Record, Scorer
from archon.benchmarks.scorers import make_scorer
from archon.errors import BenchmarkError

__all__ = ["LOADERS", "read_rows"]

Loaded = tuple[list[Record], Scorer, Callable[[Record], str], str]

#: Where the public copies live (Hugging Face dataset id, config, split), for the docs and errors.
HF_SOURCES = {
    "gsm8k": ("openai/gsm8k", "main", "test"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test"),
    "mmlu": ("cais/mmlu", "all", "test"),
    "gpqa": ("Idavidrein/gpqa", "gpqa_diamond", "train"),
    "mbpp": ("google-research-datasets/mbpp", "full", "test"),
}


def _err(path: str, line: int, message: str, hint: str | None = None) -> BenchmarkError:
    where = f"{path}:{line}:1" if line else path
    return BenchmarkError(f"{where}: error: {message}" + (f" ({hint})" if hint else ""))


def read_text(path: str) -> str:
    """The file's text (UTF-8, a leading BOM dropped; ``.gz`` unpacked). Bytes that are not UTF-8
    are an error naming their line and column, not a crash."""
    p = Path(path)
    if not p.exists():
        raise _err(path, 0, "no such file", "check 'path:' in the benchmark section")
    if not p.is_file():
        raise _err(path, 0, "not a regular file", "a benchmark is read from a JSONL, JSON or CSV file")
    if p.suffix.lower() == ".gz":
        with gzip.open(p, "rb") as fh:
            data = fh.read()
    else:
        data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BenchmarkError(f"{path}:{line}:{col}: error: byte 0x{data[exc.start]:02x} is not UTF-8 text"
                             " (save the file as UTF-8)") from None


def read_rows(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for JSONL, a JSON list, or CSV with a header row."""
    text = read_text(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".gz":
        suffix = Path(Path(path).stem).suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines(keepends=True))
        for row in reader:
            yield reader.line_num, dict(row)
        return
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _err(path, exc.lineno, f"invalid JSON: {exc.msg}") from exc
        if not isinstance(data, list):
            raise _err(path, 1, "expected a JSON list of objects")
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise _err(path, 0, f"item {i} is {type(row).__name__}, not an object")
            yield i + 1, row
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _err(path, lineno, f"invalid JSON: {exc.msg}", "one JSON object per line") from exc
        if not isinstance(row, dict):
            raise _err(path, lineno, f"expected a JSON object, got {type(row).__name__}")
        yield lineno, row


def _need(row: dict[str, Any], key: str, path: str, lineno: int) -> Any:
    if key not in row or row[key] in (None, ""):
        raise _err(path, lineno, f"missing field {key!r}", f"fields present: {', '.join(sorted(map(str, row))) or 'none'}")
    return row[key]


def _content_id(prefix: str, text: str, seen: set[str]) -> str:
    base = f"{prefix}/{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    rid, n = base, 1
    while rid in seen:
        n += 1
        rid = f"{base}-{n}"
    seen.add(rid)
    return rid


def _unique(rid: str, seen: set[str], path: str, lineno: int) -> str:
    if rid in seen:
        raise _err(path, lineno, f"duplicate id {rid!r}")
    seen.add(rid)
    return rid


def _source(name: str, path: str | None, base_dir: str | None) -> str:
    if path:
        return path if os.path.isabs(path) or not base_dir else os.path.join(base_dir, path)
    raise BenchmarkError(
        f"benchmark {name!r} needs a local copy: set 'path:' "
        "(no file ships with archon; with network, download it once and point 'path:' at it)"
    )


# ----------------------------------------------------------------------------- custom


def custom(name: str, spec: Any, base_dir: str | None) -> Loaded:
    path = _source(name, spec.path, base_dir)
    if name == "csv" and not path.lower().endswith(".csv"):
        raise BenchmarkError(f"{path}: error: the csv loader needs a .csv file")
    scorer_name = spec.scorer or "exact"
    scorer = make_scorer(scorer_name, **spec.options.get("scorer_options", {}))
    sep = spec.options.get("reference_separator")
    id_field = spec.options.get("id_field", "id")
    records: list[Record] = []
    seen: set[str] = set()
    for lineno, row in read_rows(path):
        text = _need(row, spec.input_field, path, lineno)
        ref = _need(row, spec.reference_field, path, lineno)
        if isinstance(ref, str) and sep:
            ref = [part.strip() for part in ref.split(sep) if part.strip()]
        if id_field in row and row[id_field] not in (None, ""):
            rid = _unique(str(row[id_field]), seen, path, lineno)
        else:
            rid = _content_id(Path(path).stem, str(text), seen)
        meta = {k: v for k, v in row.items() if k not in (spec.input_field, spec.reference_field)}
        records.append(Record(rid, str(text), ref, meta))
    if not records:
        raise _err(path, 0, "no records")
    template = spec.options.get("prompt", "{input}")

    def prompt(r: Record) -> str:
        return template.replace("{input}", r.input)

    return records, scorer, prompt, f"Custom data from {path}, scored with {scorer_name}."


# ----------------------------------------------------------------------------- gsm8k


def gsm8k(name: str, spec: Any, base_dir: str | None) -> Loaded:
    path = _source(name, spec.path, base_dir)
    records: list[Record] = []
    seen: set[str] = set()
    for lineno, row in read_rows(path):
        q = _need(row, "question", path, lineno)
        a = str(_need(row, "answer", path, lineno))
        if "####" not in a:
            raise _err(path, lineno, "answer has no '#### <number>' line", "GSM8K answers end with '#### N'")
        final = a.rsplit("####", 1)[1].strip().replace(",", "")
        work = a.rsplit("####", 1)[0].strip()
        rid = _content_id("gsm8k", q, seen)
        records.append(Record(rid, q, final, {"solution": work, "shot_answer": f"{work}\nAnswer: {final}"}))

    def prompt(r: Record) -> str:
        return f"{r.input}\nSolve it step by step. On the last line write 'Answer: ' followed by the number only."

    return records, make_scorer(spec.scorer or "numeric"), prompt, "GSM8K grade-school math, numeric answer."


# ----------------------------------------------------------------------------- MATH-500


def math500(name: str, spec: Any, base_dir: str | None) -> Loaded:
    path = _source(name, spec.path, base_dir)
    records: list[Record] = []
    seen: set[str] = set()
    for lineno, row in read_rows(path):
        problem = _need(row, "problem", path, lineno)
        answer = _need(row, "answer", path, lineno)
        rid = _unique(str(row.get("unique_id") or _content_id("math500", problem, set())), seen, path, lineno)
        meta: dict[str, Any] = {k: row.get(k) for k in ("subject", "level") if k in row}
        if row.get("solution"):
            meta["shot_answer"] = row["solution"]
        records.append(Record(rid, problem, str(answer), meta))

    def prompt(r: Record) -> str:
        return f"{r.input}\n\nReason step by step and put the final answer in \\boxed{{}}."

    scorer = make_scorer(spec.scorer or "math", **spec.options.get("scorer_options", {}))
    return records, scorer, prompt, "MATH-500, equivalence checked with math-verify."


# ----------------------------------------------------------------------------- multiple choice

_LETTERS = "ABCDEFGHIJ"


def _choice_prompt(r: Record) -> str:
    options = "\n".join(f"{_LETTERS[i]}. {c}" for i, c in enumerate(r.metadata["choices"]))
    return f"{r.input}\n\n{options}\n\nAnswer with the letter of the correct option."


def mmlu(name: str, spec: Any, base_dir: str | None) -> Loaded:
    """HF ``cais/mmlu`` rows (question, subject, choices, answer index) or the original headerless
    CSV (question, A, B, C, D, letter) per subject file."""
    path = _source(name, spec.path, base_dir)
    records: list[Record] = []
    seen: set[str] = set()
    if path.lower().endswith(".csv"):
        rows = []
        for lineno, cols in enumerate(csv.reader(read_text(path).splitlines(keepends=True)), 1):
            if not cols:
                continue
            if len(cols) != 6 or cols[5].strip().upper() not in "ABCD" or not cols[5].strip():
                raise _err(path, lineno, f"expected 6 columns (question, A, B, C, D, answer letter), got {len(cols)}")
            rows.append((lineno, {"question": cols[0], "choices": cols[1:5], "answer": cols[5].strip().upper(),
                                  "subject": Path(path).stem.replace("_test", "")}))
    else:
        rows = list(read_rows(path))
    for lineno, row in rows:
        q = _need(row, "question", path, lineno)
        choices = _need(row, "choices", path, lineno)
        ans = row.get("answer")
        if isinstance(ans, int) and 0 <= ans < len(choices):
            letter = _LETTERS[ans]
        elif isinstance(ans, str) and ans.strip().upper() in _LETTERS[: len(choices)] and ans.strip():
            letter = ans.strip().upper()
        else:
            raise _err(path, lineno, f"answer {ans!r} is not an index or letter of the {len(choices)} choices")
        rid = _content_id(f"mmlu/{row.get('subject', 'all')}", q + "\x00" + "\x00".join(map(str, choices)), seen)
        records.append(Record(rid, q, letter, {"choices": [str(c) for c in choices], "subject": row.get("subject"),
                                                "letters": _LETTERS[: len(choices)]}))
    return records, make_scorer(spec.scorer or "choice"), _choice_prompt, "MMLU multiple choice."


def gpqa(name: str, spec: Any, base_dir: str | None) -> Loaded:
    """The GPQA CSV (Question, Correct Answer, Incorrect Answer 1-3); options are shuffled per
    record by a hash of (seed, record id), so the correct letter is spread evenly and stable."""
    path = _source(name, spec.path, base_dir)
    records: list[Record] = []
    seen: set[str] = set()
    for lineno, row in read_rows(path):
        q = _need(row, "Question", path, lineno).strip()
        correct = _need(row, "Correct Answer", path, lineno).strip()
        wrong = [_need(row, f"Incorrect Answer {i}", path, lineno).strip() for i in (1, 2, 3)]
        rid = _unique(str(row.get("Record ID") or _content_id("gpqa", q, set())), seen, path, lineno)
        options = [correct, *wrong]
        order = sorted(range(4), key=lambda i: hashlib.sha256(f"{spec.seed}:{rid}:{i}".encode()).hexdigest())
        choices = [options[i] for i in order]
        letter = _LETTERS[order.index(0)]
        records.append(Record(rid, q, letter, {"choices": choices, "letters": "ABCD",
                                                "domain": row.get("High-level domain")}))
    return records, make_scorer(spec.scorer or "choice"), _choice_prompt, "GPQA multiple choice (options shuffled by seed)."


# ----------------------------------------------------------------------------- mbpp


def mbpp(name: str, spec: Any, base_dir: str | None) -> Loaded:
    """MBPP full (``text``) or sanitized (``prompt`` + ``test_imports``) rows, run in the sandbox."""
    path = _source(name, spec.path, base_dir)
    records: list[Record] = []
    seen: set[str] = set()
    for lineno, row in read_rows(path):
        text = row.get("text") or row.get("prompt")
        if not text:
            raise _err(path, lineno, "missing field 'text' (or 'prompt')")
        tests = _need(row, "test_list", path, lineno)
        if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
            raise _err(path, lineno, "test_list must be a list of assert strings")
        imports = row.get("test_imports") or []
        rid = _unique(f"mbpp/{_need(row, 'task_id', path, lineno)}", seen, path, lineno)
        ref = {"tests": "\n".join([*imports, *tests]), "setup": row.get("test_setup_code") or "",
               "solution": row.get("code") or ""}
        records.append(Record(rid, text, ref, {"examples": tests[:1]}))

    def prompt(r: Record) -> str:
        return (f"{r.input}\nYour code must pass this test:\n{r.metadata['examples'][0]}\n"
                "Reply with the Python code in one ```python code block.")

    scorer = make_scorer(spec.scorer or "code", **spec.options.get("scorer_options", {}))
    return records, scorer, prompt, "MBPP, pass@1 by execution in the sandbox."


# ----------------------------------------------------------------------------- judge-based


def _turn_text(turn: Any) -> str:
    return turn.get("content", "") if isinstance(turn, dict) else str(turn)


def _reference_answers(spec: Any, base_dir: str | None) -> dict[str, str]:
    ref_path = spec.options.get("reference_path")
    if not ref_path:
        return {}
    ref_path = ref_path if os.path.isabs(ref_path) or not base_dir else os.path.join(base_dir, ref_path)
    answers: dict[str, str] = {}
    for lineno, row in read_rows(ref_path):
        qid = row.get("question_id", row.get("uid"))
        if qid is None:
            raise _err(ref_path, lineno, "missing field 'question_id' (or 'uid')")
        if "choices" in row:
            turns = row["choices"][0].get("turns", []) if row["choices"] else []
            text = _turn_text(turns[0]) if turns else ""
        elif "messages" in row:
            assistant = [m for m in row["messages"] if m.get("role") == "assistant"]
            content = assistant[0].get("content", "") if assistant else ""
            text = content.get("answer", "") if isinstance(content, dict) else str(content)
        else:
            raise _err(ref_path, lineno, "expected 'choices' or 'messages' with the reference answer")
        answers[str(qid)] = text
    return answers


def _judge_scorer(spec: Any, has_reference: bool) -> Scorer:
    name = spec.scorer or ("judge" if has_reference else "rating")
    opts = {"judge_model": spec.options.get("judge_model", "local/smollm2")}
    if "judge_max_tokens" in spec.options:
        opts["max_tokens"] = int(spec.options["judge_max_tokens"])
    return make_scorer(name, **opts) if ":" not in name else make_scorer(name)


def _question_rows(name: str, spec: Any, base_dir: str | None) -> tuple[str, list[tuple[int, str, str, dict]]]:
    path = _source(name, spec.path, base_dir)
    out = []
    for lineno, row in read_rows(path):
        qid = row.get("question_id", row.get("uid"))
        if qid is None:
            raise _err(path, lineno, "missing field 'question_id' (or 'uid')")
        if "turns" in row:
            turns = row["turns"]
            if not turns:
                raise _err(path, lineno, "'turns' is empty")
            text = _turn_text(turns[0])
        else:
            text = _need(row, "prompt", path, lineno)
        out.append((lineno, str(qid), text, row))
    return path, out


def mt_bench(name: str, spec: Any, base_dir: str | None) -> Loaded:
    """MT-Bench ``question.jsonl``; first turn only. With a reference (the question's own
    ``reference`` field or ``options.reference_path``) it is a pairwise comparison, else a 1-10 grade."""
    path, rows = _question_rows(name, spec, base_dir)
    refs = _reference_answers(spec, base_dir)
    records: list[Record] = []
    seen: set[str] = set()
    for lineno, qid, text, row in rows:
        ref = refs.get(qid) or (row.get("reference") or [None])[0]
        rid = _unique(f"mt_bench/{qid}", seen, path, lineno)
        records.append(Record(rid, text, {"answer": ref} if ref else None, {"category": row.get("category")}))
    has_ref = all(r.reference for r in records)
    if spec.scorer == "judge" and not has_ref:
        raise BenchmarkError(f"{path}: error: pairwise judging needs a reference answer for every question "
                             "(set options.reference_path)")
    return records, _judge_scorer(spec, has_ref), lambda r: r.input, "MT-Bench (first turn), judged."


def alpaca_eval(name: str, spec: Any, base_dir: str | None) -> Loaded:
    """AlpacaEval's ``alpaca_eval.json`` (instruction + the baseline's ``output``): win rate of the
    pipeline against the baseline output, judged pairwise in both orders."""
    path = _source(name, spec.path, base_dir)
    records: list[Record] = []
    seen: set[str] = set()
    for lineno, row in read_rows(path):
        instr = _need(row, "instruction", path, lineno)
        out = _need(row, "output", path, lineno)
        rid = _content_id("alpaca_eval", instr, seen)
        records.append(Record(rid, instr, {"answer": out}, {"dataset": row.get("dataset"), "baseline": row.get("generator")}))
    return records, _judge_scorer(spec, True), lambda r: r.input, "AlpacaEval: pairwise win rate vs the baseline output."


def arena_hard(name: str, spec: Any, base_dir: str | None) -> Loaded:
    """Arena-Hard ``question.jsonl`` plus the baseline model's answers (``options.reference_path``):
    pairwise win rate against the baseline, both orders."""
    path, rows = _question_rows(name, spec, base_dir)
    refs = _reference_answers(spec, base_dir)
    if not refs:
        raise BenchmarkError(f"{path}: error: arena_hard needs the baseline answers (set options.reference_path)")
    records: list[Record] = []
    seen: set[str] = set()
    for lineno, qid, text, row in rows:
        if qid not in refs:
            raise _err(path, lineno, f"no baseline answer for question {qid!r} in the reference file")
        rid = _unique(f"arena_hard/{qid}", seen, path, lineno)
        records.append(Record(rid, text, {"answer": refs[qid]}, {"category": row.get("category")}))
    return records, _judge_scorer(spec, True), lambda r: r.input, "Arena-Hard: pairwise win rate vs the baseline."


LOADERS: dict[str, tuple[str, Callable[[str, Any, str | None], Loaded]]] = {
    "jsonl": ("qa", custom),
    "csv": ("qa", custom),
    "gsm8k": ("math", gsm8k),
    "math500": ("math", math500),
    "mmlu": ("choice", mmlu),
    "gpqa": ("choice", gpqa),
    "mbpp": ("code", mbpp),
    "mt_bench": ("judge", mt_bench),
    "alpaca_eval": ("judge", alpaca_eval),
    "arena_hard": ("judge", arena_hard),
}
