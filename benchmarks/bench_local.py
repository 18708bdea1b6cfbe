"""Calls per second of the embedded model (local/smollm2) through archon's Client, by batch size.

    python benchmarks/bench_local.py                        # the archon on PYTHONPATH, 3 runs
    python benchmarks/bench_local.py --runs 5 --batches 1,8,16,32
    python benchmarks/bench_local.py --dump after.json      # also write every answer text
    python benchmarks/bench_local.py --compare before.json  # how many answers equal another run's

It uses only the public Client API, so the same script measures an older archon too: put that
tree first on PYTHONPATH (docs/backends.md shows how the before/after table was made).

What it times: for each node kind and batch size B, ``--calls`` calls (default 32) sent as
consecutive ``client.complete()`` batches of B (B = 1: one call at a time, as a node with one
query). The call cache is off, every call is distinct (no coalescing), the model is loaded and
warmed by one untimed call first. calls/s = calls / wall time; tok/s counts completion tokens;
CPU s per call is this process's CPU time (all threads) per call, which other jobs on a shared
machine disturb less than the wall time (but threads that spin while they wait inflate it).
Node kinds:

- ``generate``: "What is the capital of X?" over 32 countries, max_tokens 32, temperature 0.7,
  the seed of sample i is i (as archon sends them);
- ``generate-4shot``: the same with four example question/answer turns before the question,
  so the prompts share a long prefix (what the quickstart's few_shot=4 sends);
- ``rank``: the shipped rank prompt over three candidate answers, with the ranking JSON schema
  as response_format (structured output), temperature 0, max_tokens 48.

Each (kind, B) is run ``--runs`` times; the table gives the median and the range. The machine's
load average is printed: on a shared machine other jobs change the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

COUNTRIES = [
    "France", "Peru", "Japan", "Kenya", "Chile", "Norway", "Egypt", "Canada", "Nepal", "Ghana", "Spain", "Italy",
    "Brazil", "India", "Cuba", "Iraq", "Mexico", "Sweden", "Poland", "Greece", "Turkey", "Vietnam", "Morocco",
    "Portugal", "Austria", "Hungary", "Ireland", "Finland", "Denmark", "Belgium", "Thailand", "Argentina",
]
SHOTS = (("user", "What is the capital of Italy?"), ("assistant", "Rome"),
         ("user", "What is the capital of Germany?"), ("assistant", "Berlin"),
         ("user", "What is the capital of Australia?"), ("assistant", "Canberra"),
         ("user", "What is the capital of Argentina?"), ("assistant", "Buenos Aires"))


def engine_name() -> str:
    import archon.backends.local as local

    if hasattr(local, "engine_settings"):
        import xllamacpp

        s = local.engine_settings()
        return f"xllamacpp {xllamacpp.__version__} (threads {s['threads']}, slots {s['slots']})"
    import llama_cpp

    return f"llama-cpp-python {llama_cpp.__version__} (threads {local._n_threads()}, one call at a time)"  # noqa: SLF001


def requests(kind: str, n: int, run: int) -> list:
    from archon.backends import CallRequest

    out = []
    for i in range(n):
        country = COUNTRIES[i % len(COUNTRIES)]
        if kind in ("generate", "generate-4shot"):
            shots = SHOTS if kind == "generate-4shot" else ()
            out.append(CallRequest(model="local/smollm2", messages=shots + (("user", f"What is the capital of {country}?"),),
                                   temperature=0.7, max_tokens=32, sample_index=run * 1000 + i, tag=kind))
        elif kind == "rank":
            from archon.components.parsing import RANK_SCHEMA
            from archon.components.prompting import PromptBook

            book = PromptBook()
            answers = [f"The capital of {country} is {c}." for c in ("Paris", "Lima", country)]
            numbered = "\n\n".join(f"[{k}] {a}" for k, a in enumerate(answers, 1))
            fields = {"query": f"What is the capital of {country}? (run {run})", "n": 3, "candidates": numbered}
            messages = (("system", book.render("rank.system", fields)), ("user", book.render("rank.user", fields)))
            out.append(CallRequest(model="local/smollm2", messages=messages, temperature=0.0, max_tokens=48,
                                   response_format=RANK_SCHEMA, tag="rank"))
        else:
            raise SystemExit(f"unknown node kind {kind!r}")
    return out


def measure(client, kind: str, batch: int, calls: int, run: int) -> tuple[float, float, float, list[str]]:
    reqs = requests(kind, calls, run)
    texts: list[str] = []
    tokens = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, calls, batch):
        results = client.complete_sync(reqs[i : i + batch])
        for r in results:
            if not r.ok:
                raise SystemExit(f"a call failed: {r.error}")
            texts.append(r.text)
            tokens += r.usage.completion_tokens
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return calls / wall, tokens / wall, cpu / calls, texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--kinds", default="generate,generate-4shot,rank")
    ap.add_argument("--calls", type=int, default=32, help="calls per measurement (a multiple of every batch size)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dump", type=Path, help="write the answer texts of the first run to this JSON file")
    ap.add_argument("--compare", type=Path, help="count answers equal to those in a --dump file of another run")
    args = ap.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import archon
    from archon.backends import CallRequest, Client

    batches = [int(b) for b in args.batches.split(",")]
    kinds = args.kinds.split(",")
    client = Client({}, cache=None)
    t0 = time.perf_counter()
    (warm,) = client.complete_sync([CallRequest(model="local/smollm2", messages=(("user", "Hello"),), max_tokens=4)])
    if not warm.ok:
        raise SystemExit(f"the local model does not answer: {warm.error}")
    print(f"archon from {Path(archon.__file__).parent}")
    print(f"engine: {engine_name()}; load + first call {time.perf_counter() - t0:.1f} s; cores {os.cpu_count()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows, dumped = [], {}
    for kind in kinds:
        for batch in batches:
            rates, toks, cpus = [], [], []
            for run in range(args.runs):
                rate, tok, cpu, texts = measure(client, kind, batch, args.calls, run)
                rates.append(rate)
                toks.append(tok)
                cpus.append(cpu)
                if run == 0:
                    dumped[f"{kind}/{batch}"] = texts
            rows.append((kind, batch, rates, toks, cpus))
            print(f"  {kind:15s} batch {batch:3d}: " + ", ".join(f"{r:.2f}" for r in rates) + " calls/s", flush=True)
    client.close()
    import resource

    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    print()
    print("| node | batch | calls/s (median, range) | completion tok/s | CPU s per call |")
    print("|---|---|---|---|---|")
    for kind, batch, rates, toks, cpus in rows:
        print(f"| {kind} | {batch} | {statistics.median(rates):.2f} ({min(rates):.2f}-{max(rates):.2f}) "
              f"| {statistics.median(toks):.0f} | {statistics.median(cpus):.3f} |")
    if args.dump:
        args.dump.write_text(json.dumps(dumped, indent=1, ensure_ascii=False), encoding="utf-8")
    if args.compare:
        other = json.loads(args.compare.read_text(encoding="utf-8"))
        for key, texts in dumped.items():
            theirs = other.get(key)
            if theirs:
                same = sum(a == b for a, b in zip(texts, theirs))
                print(f"same answer as {args.compare.name}: {key}: {same}/{len(texts)}")
    # an answer must not depend on the batch it was sent in (run 0 sends the same calls at every size)
    for kind in kinds:
        runs = [dumped[f"{kind}/{b}"] for b in batches]
        agree = sum(len({r[i] for r in runs}) == 1 for i in range(len(runs[0])))
        print(f"same answer at every batch size: {kind}: {agree}/{len(runs[0])}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
