"""archon.testing.server: the loopback OpenAI-compatible server itself."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from archon.testing.server import Fault, ServerProcess, TestServer, main


def chat(url: str, content: str = "hello", **extra) -> httpx.Response:
    body = {"model": "x", "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(url + "/chat/completions", json=body, timeout=10)


def test_models_and_chat_answers_are_deterministic() -> None:
    with TestServer() as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        models = httpx.get(srv.url + "/models", timeout=10).json()
        assert models["data"][0]["id"] == "archon-test"
        a = chat(srv.url, seed=1).json()
        b = chat(srv.url, seed=1).json()
        c = chat(srv.url, seed=2, n=3).json()
        assert a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]
        assert len({ch["message"]["content"] for ch in c["choices"]}) == 3
        assert a["usage"]["prompt_tokens"] == 1 and a["usage"]["total_tokens"] > 1
        assert httpx.get(srv.url + "/nowhere", timeout=10).status_code == 404
        assert chat(srv.url, stream=True).status_code == 400
        bad = httpx.post(srv.url + "/chat/completions", content=b"{not json", timeout=10)
        assert bad.status_code == 400
        assert srv.stats()["chat_requests"] == 5


def test_fault_schedules() -> None:
    faults = [Fault("429", at=[1], retry_after=2), Fault("500", every=3), Fault("400", first=0)]
    with TestServer(faults=faults) as srv:
        r1 = chat(srv.url)
        assert r1.status_code == 429 and r1.headers["retry-after"] == "2"
        assert chat(srv.url).status_code == 200
        assert chat(srv.url).status_code == 500
        malformed = None
    with TestServer(faults=[Fault("malformed", rate=1.0)]) as srv:
        malformed = chat(srv.url)
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.text)


def test_rate_faults_are_seeded() -> None:
    def outcomes(seed: int) -> list[int]:
        with TestServer(faults=[Fault("500", rate=0.5)], seed=seed) as srv:
            return [chat(srv.url).status_code for _ in range(20)]

    assert outcomes(3) == outcomes(3)
    assert 0 < outcomes(3).count(500) < 20


def test_truncated_body_is_detected_by_clients() -> None:
    with TestServer(faults=[Fault("truncated", at=[1])]) as srv:
        with pytest.raises(httpx.HTTPError):
            chat(srv.url)
        assert chat(srv.url).status_code == 200


def test_concurrency_limit_rejects_with_retry_after() -> None:
    import concurrent.futures

    with TestServer(latency=0.3, max_concurrency=2, retry_after=4) as srv:
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            codes = list(pool.map(lambda _: chat(srv.url).status_code, range(5)))
        stats = srv.stats()
    assert codes.count(200) >= 2 and codes.count(429) >= 1
    assert stats["rejected_over_limit"] == codes.count(429) and stats["max_in_flight"] <= 2


def test_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError):
        TestServer(host="0.0.0.0")
    assert main(["--host", "0.0.0.0"]) == 2


def test_runs_as_a_separate_process_and_stops_by_pid() -> None:
    with ServerProcess(latency=0.0, faults=[Fault("500", at=[1])]) as srv:
        pid = srv.pid
        assert chat(srv.url).status_code == 500
        assert chat(srv.url).status_code == 200
        assert srv.stats()["chat_requests"] == 2
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)


def test_cli_help() -> None:
    out = subprocess.run([sys.executable, "-m", "archon.testing.server", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--max-concurrency" in out.stdout


def test_latency_jitter_option() -> None:
    with TestServer(latency=0.01, jitter=0.5) as srv:
        assert all(chat(srv.url, seed=i).status_code == 200 for i in range(5))
    assert main(["--jitter", "1.5"]) == 2
