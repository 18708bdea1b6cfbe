"""unit_test: write ``num_tests`` tests for the query (one call), then check every candidate.

Consumes the query and candidates. Produces the candidates (same ids; the ``top_k`` best by pass
rate when ``top_k`` is set) annotated with ``tests`` =
``{"mode", "passed", "total", "pass_rate", "results": [bool, ...]}``. The tests themselves go to
the trace (``notes[node]["tests"]``), once per query.

Two ways to check, chosen per query by ``mode``:

``execute`` (and ``auto`` when the benchmark is a code task or a candidate holds a Python code
block): the model writes ``assert`` lines; each candidate's code runs with them in
:mod:`archon.sandbox` (a separate, limited process: model output is never executed in this
process). Calls per query: 1.

``judge`` (and ``auto`` otherwise): the model writes checks in words, then judges each candidate
against them (one call per candidate); per-check PASS/FAIL is parsed by whole words or from
structured output. Calls per query: 1 + one per candidate.

Tests that cannot be parsed are a recorded parse failure; with no tests every candidate is kept
and annotated with ``total: 0``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from archon.components.base import NodeContext, build_messages, dispatch, input_candidates, make_request
from archon.components.parsing import TESTS_SCHEMA, extract_code, parse_checks, parse_code_tests, parse_test_results
from archon.components.types import Candidate, QueryState
from archon.sandbox import run_python

__all__ = ["HARNESS", "is_code_query", "run", "run_code_tests"]

#: Runs inside the sandbox. Reads {"code", "tests", "marker"} from stdin; prints the marker and
#: a JSON list of per-test results last. Candidate output is swallowed so it cannot fake results.
HARNESS = r'''
import contextlib, io, json, sys
_job = json.loads(sys.stdin.read())
_ns = {"__name__": "__candidate__"}
_results = []
_load_error = None
try:
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(_job["code"], "candidate.py", "exec"), _ns)
except BaseException as exc:  # whatever the candidate's code raises (SystemExit too) is its result
    _load_error = f"{type(exc).__name__}: {exc}"
for _src in _job["tests"]:
    if _load_error is not None:
        _results.append(False)
        continue
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(_src, "test.py", "exec"), _ns)
        _results.append(True)
    except BaseException:  # as above: a failing test, not a harness failure
        _results.append(False)
sys.stdout.write("\n" + _job["marker"] + json.dumps({"results": _results, "load_error": _load_error}) + "\n")
'''


def is_code_query(node: Any, cands: list[Candidate], task: str | None) -> bool:
    if node.mode == "execute":
        return True
    if node.mode == "judge":
        return False
    return task == "code" or any(extract_code(c.text) is not None for c in cands)


def run_code_tests(sandbox: Any, code: str, tests: list[str], timeout: float) -> tuple[list[bool], str | None]:
    """Run ``code`` then each test in one sandboxed process; ``(results, problem)``."""
    marker = f"@@archon-tests-{secrets.token_hex(8)}@@"
    job = json.dumps({"code": code, "tests": tests, "marker": marker})
    result = sandbox(HARNESS, stdin=job, timeout=timeout)
    stdout = getattr(result, "stdout", "") or ""
    at = stdout.rfind(marker)
    if at < 0:
        status = getattr(result, "status", "?")
        return [False] * len(tests), f"sandbox run ended with status {status} before reporting results"
    try:
        payload = json.loads(stdout[at + len(marker):].strip().splitlines()[0])
        results = [bool(x) for x in payload["results"]]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return [False] * len(tests), f"unreadable harness output: {exc}"
    return results, payload.get("load_error")


def _annotation(mode: str, results: list[bool]) -> dict[str, Any]:
    passed = sum(1 for r in results if r)
    total = len(results)
    return {"mode": mode, "passed": passed, "total": total, "pass_rate": passed / total if total else 0.0, "results": results}


async def run(node: Any, states: list[QueryState], ctx: NodeContext) -> None:
    per_state: dict[int, list[Candidate]] = {}
    code_mode: dict[int, bool] = {}
    items = []
    for state in states:
        cands = input_candidates(state, ctx)
        per_state[id(state)] = cands
        code = is_code_query(node, cands, ctx.task)
        code_mode[id(state)] = code
        fields = {"query": state.query, "num_tests": node.num_tests}
        system = ctx.prompts.render("unit_test.system", fields, node, "unit_test")
        user = ctx.prompts.render("unit_test.write_code" if code else "unit_test.write_checks", fields, node, "unit_test")
        items.append((state, make_request(ctx, node, build_messages(system, user), tag="unit_test.write")))
    results = await dispatch(ctx, items)

    tests: dict[int, list[str]] = {}
    for (state, _), result in zip(items, results):
        if not result.ok:
            state.fail(ctx.node_id, f"test-writing call failed: {result.error}")
            continue
        code = code_mode[id(state)]
        parsed = parse_code_tests(result.text, node.num_tests) if code else parse_checks(result.text, node.num_tests)
        if not parsed:
            what = "assert statements" if code else "checks"
            state.parse_failure(ctx.node_id, "tests", f"no {what} found in {result.text[:80]!r}", "candidates kept unfiltered, total 0")
        tests[id(state)] = parsed
        state.note(ctx.node_id, "mode", "execute" if code else "judge")
        state.note(ctx.node_id, "tests", parsed)

    outcome: dict[tuple[int, int], list[bool]] = {}
    # Judged queries: one batched round of calls.
    judge_items, owners = [], []
    for state in states:
        if not state.active or code_mode[id(state)] or not tests[id(state)]:
            continue
        listed = "\n".join(f"Check {i}: {t}" for i, t in enumerate(tests[id(state)], 1))
        system = ctx.prompts.render("unit_test.system", {"query": state.query}, node, "unit_test")
        for i, cand in enumerate(per_state[id(state)]):
            user = ctx.prompts.render("unit_test.judge", {"query": state.query, "candidate": cand.text, "tests": listed, "num_tests": len(tests[id(state)])}, node, "unit_test")
            judge_items.append((state, make_request(ctx, node, build_messages(system, user), tag="unit_test.judge", response_format=TESTS_SCHEMA)))
            owners.append(i)
    judge_results = await dispatch(ctx, judge_items)
    for (state, _), i, result in zip(judge_items, owners, judge_results):
        cand = per_state[id(state)][i]
        if not result.ok:
            state.fail(ctx.node_id, f"judge call for {cand.id} failed: {result.error}")
            continue
        n = len(tests[id(state)])
        verdicts, complete = parse_test_results(result.text, n)
        if not complete:
            state.parse_failure(ctx.node_id, "tests", f"{sum(p is None for p in verdicts)} of {n} checks undecided in {result.text[:80]!r}", "undecided checks counted as failed", candidate=cand.id)
        outcome[(id(state), i)] = [bool(p) for p in verdicts]

    # Executed queries: sandbox runs in worker threads, a few at a time.
    await _execute_all(node, states, ctx, per_state, code_mode, tests, outcome)

    for state in states:
        if not state.active:
            continue
        mode = "execute" if code_mode[id(state)] else "judge"
        annotated = [c.annotate("tests", _annotation(mode, outcome.get((id(state), i), []))) for i, c in enumerate(per_state[id(state)])]
        if node.top_k is not None and tests[id(state)]:
            order = sorted(range(len(annotated)), key=lambda i: -annotated[i].annotations["tests"]["pass_rate"])
            annotated = [annotated[i] for i in order[: node.top_k]]
        state.candidates[ctx.node_id] = annotated


async def _execute_all(node: Any, states: list[QueryState], ctx: NodeContext, per_state: dict[int, list[Candidate]],
                       code_mode: dict[int, bool], tests: dict[int, list[str]],
                       outcome: dict[tuple[int, int], list[bool]]) -> None:
    jobs = []
    for state in states:
        if not state.active or not code_mode[id(state)] or not tests[id(state)]:
            continue
        for i, cand in enumerate(per_state[id(state)]):
            jobs.append((state, i, cand))
    if not jobs:
        return
    sandbox = ctx.sandbox or run_python
    gate = asyncio.Semaphore(max(1, ctx.sandbox_concurrency))

    async def one(state: QueryState, i: int, cand: Candidate) -> None:
        code = extract_code(cand.text) or cand.text
        async with gate:
            try:
                results, problem = await asyncio.to_thread(run_code_tests, sandbox, code, tests[id(state)], ctx.sandbox_timeout)
            except Exception as exc:  # noqa: BLE001 - the sandbox itself failed: this query fails
                state.fail(ctx.node_id, f"sandbox failed for {cand.id}: {type(exc).__name__}: {exc}")
                return
        outcome[(id(state), i)] = results
        if problem:
            state.note(ctx.node_id, f"problem:{cand.id}", problem)

    await asyncio.gather(*(one(*job) for job in jobs))
