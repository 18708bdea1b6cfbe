"""unit_test in execute mode, against the real sandbox: candidates' code runs in a separate
limited process, never in the test process."""

from __future__ import annotations

import os

import pytest

from archon.components.unit_test import run_code_tests
from pipeline_kit import Smart, seeded

TESTS = "```python\nassert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert add(2, 2) == 4\n```"
GOOD = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```"
WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
BROKEN = "```python\ndef add(a, b) return\n```"
LEAKY = "```python\nimport os\nos.environ['ARCHON_H5_LEAK'] = '1'\nprint('@@fake-marker@@ [true, true, true]')\ndef add(a, b):\n    return 0\n```"


def test_execute_mode_runs_code_in_the_sandbox(run_component) -> None:
    from archon.sandbox import run_python

    states = seeded(["Write add(a, b) returning the sum."], [[GOOD, WRONG, BROKEN, LEAKY]])
    comp = run_component({"type": "unit_test", "model": "m1", "num_tests": 3, "top_k": 2}, states, Smart(tests_text=TESTS), sandbox=run_python)
    assert len(run_component.client.requests) == 1  # only the test-writing call: code is executed, not judged
    assert comp.mode == "auto" and states[0].notes["n1"]["mode"] == "execute"
    state = states[0]
    assert state.status == "ok", state.error
    out = state.candidates["n1"]
    assert [c.id for c in out] == ["src:m1:0", "src:m1:3"]  # 3/3, then the leaky one's 1/3
    good = out[0].annotations["tests"]
    assert good["results"] == [True, True, True] and good["pass_rate"] == 1.0 and good["mode"] == "execute"
    # add() returning 0 passes only add(-1, 1) == 0; its printed fake marker changed nothing
    assert out[1].annotations["tests"]["results"] == [False, True, False]
    assert any(k.startswith("problem:src:m1:2") for k in state.notes["n1"])  # the syntax error is in the trace
    assert "ARCHON_H5_LEAK" not in os.environ


def test_harness_reports_load_errors_and_timeouts() -> None:
    from archon.sandbox import run_python

    results, problem = run_code_tests(run_python, "def f(:\n", ["assert True"], 10.0)
    assert results == [False] and "SyntaxError" in problem
    results, problem = run_code_tests(run_python, "while True: pass", ["assert True", "assert 1"], 1.0)
    assert results == [False, False] and "timeout" in problem


def test_judge_mode_is_used_for_plain_text_answers(run_component) -> None:
    states = seeded(["capital of France?"], [["Paris", "Lyon"]])
    run_component({"type": "unit_test", "model": "m1", "num_tests": 2}, states, sandbox=lambda *a, **k: pytest.fail("must not execute text"))
    assert states[0].notes["n1"]["mode"] == "judge"
    assert len(run_component.client.requests) == 3


def test_code_task_forces_execution(run_component) -> None:
    calls = []

    def sandbox(code, *, stdin, timeout):
        calls.append(stdin)
        from archon.sandbox import run_python

        return run_python(code, stdin=stdin, timeout=timeout)

    states = seeded(["add"], [["def add(a, b):\n    return a + b"]])  # no code fence: the task says code
    run_component({"type": "unit_test", "model": "m1", "num_tests": 3}, states, Smart(tests_text=TESTS), sandbox=sandbox, task="code")
    assert len(calls) == 1
    assert states[0].candidates["n1"][0].annotations["tests"]["pass_rate"] == 1.0
