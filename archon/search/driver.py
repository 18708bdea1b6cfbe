"""The search driver: Optuna ask-and-tell from one process, evaluations dispatched as shards.

One loop, whatever runs the shards (Ray tasks or the in-process loop):

1. While fewer than ``search.parallel`` trials are in flight and the trial target is not met,
   ``study.ask()`` a trial and let the space suggest a pipeline from it (define-by-run).
2. Per-query budget: if the pipeline's static cost exceeds ``budget.per_query``, the trial is
   never evaluated. It is told PRUNED with a constraint value > 0 (``Trial.set_constraint``)
   and the reason as a user attribute: TPE puts infeasible trials in its "bad" group by their
   violation, so it learns to avoid them; no accuracy is invented for it.
3. Otherwise its first rung of dev records is split into shards; each shard reserves its static
   worst case in the ledger before it is dispatched (a shard that does not fit waits for running
   ones to settle; when nothing is running and it still does not fit, the search stops).
4. When a rung's shards are back: report the rung's accuracy (single objective: Optuna's
   successive-halving pruner decides; several objectives: our own rung rule), then either
   dispatch the next rung or tell the trial COMPLETE / PRUNED.
5. At the end, the top trials by dev and the one-greedy-call baseline are raced on the selection
   split, which no trial saw (archon.search.selection): what is emitted must beat the baseline
   there with significance, or the baseline is emitted. Then the emitted pipeline (and the best
   by dev, and the Pareto set) and the baseline are scored on the test split, and the run
   directory's report is written.

The trial's number is in every shard's key and result, and results are counted once per key,
so a retried task never counts twice; interrupted trials are re-run on resume (see rundir).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import random
import shlex
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from archon.errors import InputError, SpecError
from archon.search.fidelity import promote_multi_objective, rung_sizes
from archon.search.ledger import BudgetLedger, Limits, Spend
from archon.search.rundir import OWNER_KEY, STATUS_KEY, RunDir, open_storage, open_study, recover_interrupted, spec_fingerprint
from archon.search.stats import wilson

__all__ = ["SearchResult", "TrialSummary", "run_search", "DEFAULT_SHARD_SIZE"]

#: Dev records per shard (one Ray task). Small enough to spread a rung over a cluster, large
#: enough that a batch still keeps a vLLM engine busy.
DEFAULT_SHARD_SIZE = 16

#: A rung that lost more than this share of its queries to model calls that failed for good
#: (after retries) fails the trial instead of scoring it on what is left.
MAX_CALL_FAILED_SHARE = 0.10


@dataclass
class TrialSummary:
    number: int
    status: str
    params: dict[str, Any]
    score: float | None = None
    ci: tuple[float, float] | None = None
    n: int = 0
    cost: dict[str, Any] = field(default_factory=dict)  # per query, cache-independent
    spent: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    spec_data: dict[str, Any] | None = None
    values: list[float] | None = None
    call_failed: int = 0  # queries left out of the score: a model call failed for good


@dataclass
class SearchResult:
    run_dir: Path
    storage: str
    study_name: str
    objectives: list[str]
    trials: list[TrialSummary] = field(default_factory=list)
    best: TrialSummary | None = None
    pareto: list[TrialSummary] = field(default_factory=list)
    stopped: str | None = None
    ledger: dict[str, Any] = field(default_factory=dict)
    calls_made: int = 0  # backend calls, search and final test
    calls_cached: int = 0
    search_calls: dict[str, Any] = field(default_factory=dict)  # spend of the search proper (no test)
    wall_time: float = 0.0
    test: dict[str, Any] | None = None
    #: what best.yaml holds: label, trial (None for the baseline), spec_data, reason, verified
    emitted: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None  # the selection stage's record (Decision.to_dict)
    power: str | None = None  # what the selection split can detect, in words
    no_result: str | None = None  # why nothing could be emitted
    estimate: Any = None
    dashboard: str | None = None
    resume_command: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------- helpers


def _settings_spec(doc: Any) -> Any:
    """The typed non-pipeline sections (models, benchmark, budget, search) of a space or pipeline."""
    from archon.spec.validate import schema_diagnostics

    placeholder = dataclasses.replace(doc, data={**doc.data, "pipeline": [[{"type": "vote"}]]}, is_space=False)
    spec, diagnostics = schema_diagnostics(placeholder)
    diagnostics = [d for d in diagnostics if not (d.message and "pipeline" in d.message and "layer" in d.message)]
    if spec is None:
        raise SpecError(diagnostics)
    return spec


def _absolute_benchmark(spec_data: dict[str, Any], base: Path) -> dict[str, Any]:
    bench = spec_data.get("benchmark")
    if isinstance(bench, dict) and bench.get("path") and not os.path.isabs(bench["path"]):
        candidate = (base / bench["path"]).resolve()
        if candidate.exists():
            spec_data = copy.deepcopy(spec_data)
            spec_data["benchmark"]["path"] = str(candidate)
    return spec_data


def _spec_data(spec: Any, base: Path) -> dict[str, Any]:
    return _absolute_benchmark(spec.model_dump(mode="json"), base)


def query_tokens(prompts: list[str]) -> int:
    """A generous per-query prompt size estimate (about 3 characters a token, the longest query)."""
    return max((len(p) // 3 + 1 for p in prompts), default=32)


def per_query_violation(static: Any, budget: Any) -> tuple[float, str | None]:
    """(constraint value, reason): the largest relative excess over a per-query limit."""
    worst, reason = 0.0, None
    checks = [
        ("calls", static.calls, budget.calls, "calls"),
        ("input_tokens", static.input_tokens, budget.input_tokens, "input tokens"),
        ("output_tokens", static.output_tokens, budget.output_tokens, "output tokens"),
        ("dollars", static.dollars, budget.dollars, "dollars"),
    ]
    for _, need, limit, label in checks:
        if limit is None or need is None:
            continue
        if need > limit:
            excess = (need - limit) / limit if limit else float(need)
            if excess > worst:
                worst = excess
                shown = f"{need:.6f}" if label == "dollars" else str(need)
                reason = f"needs {shown} {label} per query, over the per-query limit of {limit}"
    return worst, reason


def worst_case(static: Any) -> Spend:
    return Spend(dollars=float(static.dollars or 0.0), tokens=int(static.input_tokens + static.output_tokens), calls=int(static.calls))


def _first_value(dist: Any) -> Any:
    from archon.search.samplers import _first

    return _first(dist)


def _wrap_first_point(sampler: Any) -> Any:
    """Wrap ``sampler`` so the study's trial 0 takes every choice at its first value.

    Spaces list their simplest setting first (the quickstart: the single-call greedy baseline),
    so the search always evaluates it and the winner is never worse than it on dev.
    """
    import optuna

    class FirstPointSampler(optuna.samplers.BaseSampler):
        def __init__(self, base: Any) -> None:
            self.base = base

        def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
            return self.base.infer_relative_search_space(study, trial)

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
            if trial.number == 0:
                return {}
            return self.base.sample_relative(study, trial, search_space)

        def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
            if trial.number == 0:
                return _first_value(dist)
            return self.base.sample_independent(study, trial, name, dist)

        def before_trial(self, study: Any, trial: Any) -> None:
            self.base.before_trial(study, trial)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            self.base.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.base.reseed_rng()

    return FirstPointSampler(sampler)


# ---------------------------------------------------------------------------- trial state


@dataclass
class _Run:
    trial: Any
    pipeline: Any
    spec_data: dict[str, Any]
    per_query: Spend
    rung: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[str, tuple[int, ...]] = field(default_factory=dict)  # shard key -> indices
    waiting: bool = False
    next_shard: int = 0
    spent: dict[str, Any] = field(default_factory=dict)
    logical: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    rung_values: dict[int, list[float]] = field(default_factory=dict)


def _add(into: dict[str, Any], more: dict[str, Any]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0) + v


class _Driver:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)
        self.runs: dict[int, _Run] = {}
        self.by_key: dict[str, int] = {}
        self.seen_keys: set[str] = set()
        self.stop_reason: str | None = None
        self.stop_requested = False  # set by the Ctrl-C / SIGTERM handler; acted on between steps
        self.fatal: str | None = None  # an error no other trial can avoid (a replay table's gap)
        self.lost_queries = 0  # dev queries left out of a score: a model call failed for good
        self.asked = 0
        self.totals_spent: dict[str, Any] = {}
        self.durations: list[float] = []
        self.first_number = len(self.study.get_trials(deepcopy=False))

    # -------------------------------------------------------------- counting

    def finished_count(self) -> int:
        from optuna.trial import TrialState

        n = 0
        for t in self.study.get_trials(deepcopy=False):
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                n += 1
            elif t.state == TrialState.FAIL and t.user_attrs.get(STATUS_KEY) == "failed":
                n += 1
        return n

    # -------------------------------------------------------------- asking

    def ask_one(self) -> None:
        from optuna.trial import TrialState

        trial = self.study.ask()
        self.asked += 1
        self.study._storage.set_trial_system_attr(trial._trial_id, OWNER_KEY, f"{socket.gethostname()}:{os.getpid()}")
        try:
            pipeline = self.space.suggest(trial)
        except SpecError as exc:
            messages = "; ".join(d.message for d in exc.diagnostics)[:500]
            if "per_query" in messages or "per-query" in messages:
                # the space checks the per-query budget itself when it resolves a point
                self._tell_infeasible(trial, "per_query_budget", 1.0, messages)
            else:
                self._tell_infeasible(trial, "valid", 1.0, "invalid architecture: " + messages)
            return
        spec = pipeline.spec
        static = pipeline.static_cost(query_tokens=self.qtokens)
        trial.set_user_attr("static_cost", {"calls": static.calls, "input_tokens": static.input_tokens,
                                            "output_tokens": static.output_tokens, "dollars": static.dollars})
        violation, reason = per_query_violation(static, self.settings.budget.per_query)
        if reason is not None:
            self._tell_infeasible(trial, "per_query_budget", violation, reason)
            return
        trial.set_constraint("per_query_budget", 0.0)
        if self.reuse_duplicate(trial):
            return
        run = _Run(trial=trial, pipeline=pipeline, spec_data=_spec_data(spec, self.spec_dir), per_query=worst_case(static))
        trial.set_user_attr("pipeline", run.spec_data["pipeline"])
        self.runs[trial.number] = run
        self.dispatch_rung(run)
        del TrialState

    def reuse_duplicate(self, trial: Any) -> bool:
        """A trial whose choices equal a finished trial's gets that trial's outcome without being
        evaluated again (TPE proposes repeats in small spaces; the cache would answer every call,
        but the work of running the pipeline would still be done)."""
        from optuna.trial import TrialState

        params = trial.params
        for old in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            if old.number == trial.number or old.params != params or "dev_score" not in old.user_attrs:
                continue
            if old.user_attrs.get("status") not in ("complete", "pruned"):
                continue
            for key in ("dev_score", "ci", "n_queries", "cost_per_query", "pipeline", "rungs", "failed_queries"):
                if key in old.user_attrs:
                    trial.set_user_attr(key, old.user_attrs[key])
            trial.set_user_attr("spent", {"calls": 0})
            trial.set_user_attr("reason", f"same choices as trial {old.number}: its result, not evaluated again")
            trial.set_user_attr("duplicate_of", old.number)
            status = old.user_attrs["status"]
            trial.set_user_attr(STATUS_KEY, status)
            if old.state == TrialState.COMPLETE:
                self.study.tell(trial, list(old.values) if len(old.values) > 1 else old.values[0])
            else:
                for step, value in old.intermediate_values.items():
                    trial.report(value, step)
                self.study.tell(trial, state=TrialState.PRUNED)
            self.emit(status, trial.number, list(old.values) if old.values else None)
            return True
        return False

    def _tell_infeasible(self, trial: Any, name: str, violation: float, reason: str) -> None:
        from optuna.trial import TrialState

        trial.set_constraint(name, max(violation, 1e-9))
        trial.set_user_attr(STATUS_KEY, "infeasible")
        trial.set_user_attr("reason", reason)
        self.study.tell(trial, state=TrialState.PRUNED)
        self.emit("infeasible", trial.number, reason)

    # -------------------------------------------------------------- dispatching

    def rung_indices(self, rung: int) -> list[int]:
        lo = self.rungs[rung - 1] if rung > 0 else 0
        return list(range(lo, self.rungs[rung]))

    def dispatch_rung(self, run: _Run) -> bool:
        """Reserve and submit the shards of ``run``'s current rung; False if it has to wait."""
        from archon.search.evaluation import ShardJob

        indices = self.rung_indices(run.rung)
        shards = [indices[i : i + self.shard_size] for i in range(0, len(indices), self.shard_size)] or [[]]
        reserved: list[tuple[str, list[int]]] = []
        for chunk in shards:
            key = f"trial-{run.trial.number}/shard-{run.next_shard + len(reserved)}"
            if self.ledger.reserve(key, run.per_query.scaled(len(chunk))) is None:
                for k, _ in reserved:
                    self.ledger.release(k)
                run.waiting = True
                return False
            reserved.append((key, chunk))
        run.waiting = False
        run.next_shard += len(reserved)
        for key, chunk in reserved:
            job = ShardJob(
                key=key, trial=run.trial.number, rung=run.rung, shard=int(key.rsplit("-", 1)[1]), split="dev",
                indices=tuple(chunk), spec_data=run.spec_data, cache_path=self.cache_path,
                preload=self.preload, sys_path=self.sys_path, trace=True, replay=self.replay,
            )
            run.pending[key] = tuple(chunk)
            self.by_key[key] = run.trial.number
            self.dispatcher.submit(job, self.task_opts)
        return True

    # -------------------------------------------------------------- results

    def handle(self, res: Any) -> None:
        from optuna.trial import TrialState

        if res.key in self.seen_keys:
            return  # a duplicate delivery (retried task): counted once already
        self.seen_keys.add(res.key)
        number = self.by_key.get(res.key, res.trial)
        self.ledger.settle(res.key, Spend(float(res.spent.get("dollars", 0.0)), int(res.spent.get("tokens", 0)), int(res.spent.get("calls", 0))))
        _add(self.totals_spent, res.spent)
        run = self.runs.get(number)
        if run is None or res.key not in run.pending:
            return
        del run.pending[res.key]
        _add(run.spent, res.spent)
        if res.error:
            self.fail_run(run, "failed", res.error)
            if res.fatal:
                self.fatal = res.error
                self.stop_requested = True
            return
        run.rows.extend(res.rows)
        self.write_trace(run.trial.number, res)
        if run.pending:
            return
        self.finish_rung(run)

    def finish_rung(self, run: _Run) -> None:
        from optuna.trial import TrialState

        trial = run.trial
        scored = [r for r in run.rows if r.get("score") is not None]
        lost = len(run.rows) - len(scored)
        trial.set_user_attr("call_failed_queries", lost)
        self.lost_queries += lost
        if lost > MAX_CALL_FAILED_SHARE * len(run.rows):
            # Outages decide nothing: a trial that lost this many queries to failed calls has
            # no score worth comparing (its queries are retried by a resumed search).
            first = next((r.get("error") for r in run.rows if r.get("score") is None), "")
            self.fail_run(run, "failed", f"{lost} of {len(run.rows)} queries lost to model calls that failed for good; first: {first}")
            return
        n = len(scored)
        acc = sum(r["score"] for r in scored) / n if n else 0.0
        logical: dict[str, Any] = {}
        for r in scored:
            _add(logical, r.get("cost", {}))
        cost_pq = {k: v / n for k, v in logical.items()} if n else {}
        cost_value = self.cost_value(cost_pq)
        lo, hi = wilson(sum(r["score"] for r in scored), n)
        trial.set_user_attr("dev_score", acc)
        trial.set_user_attr("ci", [lo, hi])
        trial.set_user_attr("n_queries", n)
        trial.set_user_attr("cost_per_query", cost_pq)
        trial.set_user_attr("spent", run.spent)
        trial.set_user_attr("failed_queries", sum(1 for r in scored if r.get("status") != "ok"))
        last = run.rung == len(self.rungs) - 1
        multi = len(self.objectives) > 1
        values = [acc, cost_value] if multi else [acc]
        run.rung_values[n] = values
        trial.set_user_attr("rungs", {str(k): v for k, v in run.rung_values.items()})
        if last:
            trial.set_user_attr(STATUS_KEY, "complete")
            self.study.tell(trial, values if multi else acc)
            self.runs.pop(trial.number, None)
            self.durations.append(time.monotonic() - run.started)
            self.emit("complete", trial.number, values)
            return
        if multi:
            competitors = []
            for t in self.study.get_trials(deepcopy=False):
                if t.number == trial.number:
                    continue
                v = (t.user_attrs.get("rungs") or {}).get(str(n))
                if v is not None:
                    competitors.append(v)
            promote = promote_multi_objective(values, competitors, factor=self.factor, signs=self.signs)
        else:
            trial.report(acc, step=n)
            promote = not trial.should_prune()
        # Trial 0 is the space's first point (the simplest setting: in the quickstart, the
        # single-call greedy baseline). It always runs on the full dev set, so "the winner is
        # never worse than the baseline on dev" compares like with like.
        promote = promote or trial.number == 0
        if not promote:
            trial.set_user_attr(STATUS_KEY, "pruned")
            self.study.tell(trial, state=TrialState.PRUNED)
            self.runs.pop(trial.number, None)
            self.durations.append(time.monotonic() - run.started)
            self.emit("pruned", trial.number, values)
            return
        run.rung += 1
        self.dispatch_rung(run)

    def cost_value(self, cost_pq: dict[str, Any]) -> float:
        return float(cost_pq.get(self.cost_unit, 0.0))

    def fail_run(self, run: _Run, status: str, reason: str) -> None:
        from optuna.trial import TrialState

        self.dispatcher.cancel(list(run.pending))
        for key in list(run.pending):
            self.seen_keys.add(key)
        run.pending.clear()
        run.trial.set_user_attr(STATUS_KEY, status)
        run.trial.set_user_attr("reason", reason[:1000])
        self.study.tell(run.trial, state=TrialState.FAIL)
        self.runs.pop(run.trial.number, None)
        self.emit(status, run.trial.number, reason)

    def write_trace(self, number: int, res: Any) -> None:
        import json

        path = self.rundir.traces / f"trial-{number}.jsonl"
        with path.open("a", encoding="utf-8") as fh:
            for row in res.rows:
                fh.write(json.dumps({"trial": number, "shard": res.key, "node": res.node, **row}, default=str) + "\n")

    # -------------------------------------------------------------- the loop

    def loop(self) -> None:
        while True:
            # A signal only sets a flag; the loop stops here, between storage writes, so an
            # interrupt never lands inside an Optuna commit.
            if self.stop_requested:
                raise KeyboardInterrupt
            reason = self.ledger.exhausted()
            if reason and self.stop_reason is None:
                self.stop_reason = reason
                for run in list(self.runs.values()):
                    self.fail_run(run, "wall_time", reason)
            # runs waiting for budget go first
            for run in [r for r in self.runs.values() if r.waiting]:
                if self.stop_reason is None:
                    self.dispatch_rung(run)
            while (
                self.stop_reason is None
                and sum(1 for r in self.runs.values()) < self.parallel
                and self.finished_count() + len(self.runs) < self.target
                and not any(r.waiting for r in self.runs.values())
            ):
                self.ask_one()
            if self.dispatcher.in_flight() == 0:
                waiting = [r for r in self.runs.values() if r.waiting]
                if waiting:
                    # nothing runs, so nothing will free budget: stop here
                    self.stop_reason = self.stop_reason or "search budget reached: " + self._budget_text(waiting[0])
                    for run in waiting:
                        self.fail_run(run, "budget", self.stop_reason)
                if not self.runs:
                    break
            for res in self.dispatcher.wait(timeout=0.5):
                self.handle(res)
            self.tick()

    def _budget_text(self, blocked: _Run | None = None) -> str:
        lim = self.ledger.limits
        spent = self.ledger.totals().spent

        def amounts(spend: Spend, limits: bool) -> list[str]:
            """``spend`` in each unit that has a limit (with the limit when ``limits``)."""
            out = []
            for unit, limit, text in (("dollars", lim.dollars, f"${spend.dollars:.4f}"),
                                      ("tokens", lim.tokens, f"{spend.tokens:.0f} tokens"),
                                      ("calls", lim.calls, f"{spend.calls:.0f} calls")):
                if limit is not None:
                    out.append(f"{text} of {'$' if unit == 'dollars' else ''}{limit}" if limits else text)
            return out

        text = ", ".join(amounts(spent, True)) or "no room for the next evaluation"
        wants = amounts(blocked.per_query.scaled(len(self.rung_indices(blocked.rung))), False) if blocked else []
        if wants:
            # say why a search can stop well below its limit: budgets are held at worst case
            text += (f"; the next evaluation (trial {blocked.trial.number}, {len(self.rung_indices(blocked.rung))} queries) "
                     f"needs up to {', '.join(wants)} at its worst case, more than is left, so the search stops here "
                     "(the worst case is reserved so that parallel trials can never overspend)")
        return text

    def interrupt(self, status: str, reason: str) -> None:
        from optuna.trial import TrialState

        for run in list(self.runs.values()):
            self.fail_run(run, status, reason)
        # a trial asked when the interrupt arrived (before it was registered above)
        me = f"{socket.gethostname()}:{os.getpid()}"
        storage = self.study._storage
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            owner = t.system_attrs.get(OWNER_KEY)
            if owner == me or (owner is None and t.number >= self.first_number):
                storage.set_trial_user_attr(t._trial_id, STATUS_KEY, status)
                storage.set_trial_state_values(t._trial_id, TrialState.FAIL)


# ---------------------------------------------------------------------------- entry point


def run_search(
    spec_path: str | os.PathLike[str],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    ray_address: str | None = None,
    dry_run: bool = False,
    resume: bool = True,
    progress: bool = True,
    trials: int | None = None,
    parallel: int | None = None,
    use_ray: bool = True,
    fake: Any = None,
    preload: tuple[str, ...] | list[str] = (),
    task_resources: dict[str, float] | None = None,
    shard_size: int | None = None,
    final_test: bool = True,
    num_cpus: int | None = None,
    replay: str | os.PathLike[str] | None = None,
    console: Any = None,
    on_event: Callable[[str, int, Any], None] | None = None,
) -> SearchResult:
    """Search the space in ``spec_path``; see the module docstring and docs/search.md.

    ``trials``/``parallel`` override the spec's ``search`` settings; ``resume=False`` starts a
    fresh study (the call cache is kept). ``use_ray=False`` evaluates in this process (one event
    loop, one client; ``fake`` then serves every model, for tests). ``preload`` names modules
    every worker imports first (e.g. one that registers fake-model scripts). ``replay`` names a
    replay table (archon.search.replay) that answers every model call instead of the backends.
    """
    import optuna

    from archon.spec import load_spec_file

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.monotonic()
    spec_path = Path(spec_path)
    text = spec_path.read_text(encoding="utf-8") if spec_path.exists() else ""
    doc = load_spec_file(spec_path)
    # What `archon validate` rejects, a search rejects before anything runs (with the same
    # file:line:col diagnostics), instead of running trials that can only fail.
    from archon.spec import check_pipeline, check_space

    if doc.is_space:
        check_space(doc)
    else:
        check_pipeline(doc)
    settings = _settings_spec(doc)
    if settings.benchmark is None:
        raise InputError(f"{spec_path}:1:1: error: a search needs a 'benchmark:' section (which data defines a good answer)")
    from archon.space import Space

    space = Space.from_document(doc)
    search = settings.search
    n_trials = trials or search.trials
    n_parallel = parallel or search.parallel
    objectives = list(search.objectives)
    directions = ["maximize" if o == "accuracy" else "minimize" for o in objectives]
    rundir = RunDir.for_spec(spec_path, run_dir or search.run_dir)
    env_preload = tuple(m for m in os.environ.get("ARCHON_PRELOAD", "").split(",") if m)
    preload = tuple(preload) + env_preload

    from archon.benchmarks import load_benchmark

    spec_dir = spec_path.resolve().parent
    bench_spec = settings.benchmark
    if bench_spec.path and not os.path.isabs(bench_spec.path) and (spec_dir / bench_spec.path).exists():
        bench_spec = bench_spec.model_copy(update={"path": str((spec_dir / bench_spec.path).resolve())})
    benchmark = load_benchmark(bench_spec)
    splits = benchmark.splits()
    dev_prompts = [benchmark.prompt(r) for r in splits.dev]
    qtokens = query_tokens(dev_prompts)
    fid = search.fidelity
    rungs = rung_sizes(len(splits.dev), min_queries=fid.min_queries, factor=fid.factor, enabled=fid.enabled)
    resume_cmd = "archon search " + shlex.quote(str(spec_path)) + (f" --run-dir {shlex.quote(str(rundir.path))}" if run_dir else "")

    if dry_run:
        from archon.search.estimate import estimate_search

        from archon.search.selection import power_note

        est = estimate_search(space, settings, n_trials=n_trials, rungs=rungs, factor=fid.factor,
                              qtokens=qtokens, test_size=len(splits.test), seed=search.seed)
        est.notes.append(power_note(len(splits.selection), len(splits.dev), None))
        return SearchResult(run_dir=rundir.path, storage="", study_name="", objectives=objectives, estimate=est,
                            resume_command=resume_cmd)

    if not resume:
        rundir.clear()
    storage_url = search.storage or rundir.default_storage()
    storage = open_storage(storage_url, rundir)
    from archon.search.fidelity import make_pruner
    from archon.search.samplers import make_sampler

    sampler = make_sampler(search.sampler, seed=search.seed, n_objectives=len(objectives), parallel=n_parallel)
    if search.sampler not in ("greedy", "grid"):
        sampler = _wrap_first_point(sampler)
    pruner = make_pruner(min_queries=rungs[0], factor=fid.factor) if len(objectives) == 1 and len(rungs) > 1 else optuna.pruners.NopPruner()
    study_name = (settings.name or spec_path.stem)
    study = open_study(storage=storage, study_name=study_name, directions=directions, sampler=sampler, pruner=pruner)
    fingerprint = spec_fingerprint(text)
    old = study.user_attrs.get("spec_fingerprint")
    if old is None:
        study.set_user_attr("spec_fingerprint", fingerprint)
        study.set_user_attr("objectives", objectives)
        study.set_user_attr("rungs", rungs)
    elif old != fingerprint:
        _say(console, progress, f"[yellow]note:[/] the spec changed since this study began; its trials are kept (use --fresh to start over)")
    rerun = recover_interrupted(study)
    if rerun:
        _say(console, progress, f"resuming: {len(rerun)} interrupted trial(s) enqueued again: {rerun}")
    rundir.write_meta(str(spec_path), fingerprint, storage_url)

    ledger = BudgetLedger(rundir.ledger, Limits.from_spec(settings.budget.search))
    cache_path = str(rundir.cache) if settings.cache is True else None
    replay_meta = None
    if replay is not None:
        from archon.search.replay import open_table

        table, replay_meta = open_table(replay)
        cache_path = str(table)
        _say(console, progress, f"replay: every answer comes from {replay} ({replay_meta.get('architectures')} architectures "
                                f"of {replay_meta.get('space')} on {replay_meta.get('records')} records); no backend is called")
    if use_ray:
        from archon.search.dispatch import RayDispatcher

        dispatcher: Any = RayDispatcher(address=ray_address, run_dir=rundir.path, num_cpus=num_cpus)
        if dispatcher.dashboard_url:
            _say(console, progress, f"Ray dashboard: {dispatcher.dashboard_url}")
    else:
        from archon.backends import Client
        from archon.search.dispatch import InProcessDispatcher

        if replay_meta is not None:
            client = Client.from_spec(settings, cache=cache_path, replay=True, structured=replay_meta.get("structured_output"))
        else:
            client = Client.from_spec(settings, cache_path=cache_path, fake=fake)
        dispatcher = InProcessDispatcher(client)
    from archon.search.dispatch import task_options

    task_opts = task_options(settings, task_resources=task_resources) if use_ray else {}
    cost_unit = "dollars" if any(m.price is not None for m in settings.models.values()) else "tokens"
    study.set_user_attr("cost_unit", cost_unit)

    live = None
    driver = _Driver(
        study=study, space=space, settings=settings, ledger=ledger, dispatcher=dispatcher, rundir=rundir,
        rungs=rungs, factor=fid.factor, objectives=objectives, signs=[1 if d == "maximize" else -1 for d in directions],
        parallel=n_parallel, target=n_trials, shard_size=shard_size or DEFAULT_SHARD_SIZE, qtokens=qtokens,
        cache_path=cache_path, preload=preload, sys_path=tuple(p for p in sys.path if p), task_opts=task_opts,
        spec_dir=spec_dir, cost_unit=cost_unit, emit=lambda *a: None, tick=lambda: None,
        replay=None if replay_meta is None else replay_meta.get("structured_output") or {},
    )
    if progress:
        from archon.search.live import LiveDisplay

        live = LiveDisplay(driver, console=console, title=f"archon search {spec_path.name}")
        driver.emit = live.event
        driver.tick = live.refresh
    if on_event is not None:
        base_emit = driver.emit

        def emit(kind: str, number: int, data: Any) -> None:
            base_emit(kind, number, data)
            on_event(kind, number, data)

        driver.emit = emit

    result = SearchResult(run_dir=rundir.path, storage=storage_url, study_name=study_name, objectives=objectives,
                          dashboard=getattr(dispatcher, "dashboard_url", None), resume_command=resume_cmd)
    interrupted = False
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    in_loop = [True]

    def _stop(signum: int, frame: Any) -> None:
        # First signal during the search loop: ask the loop to stop at its next safe point.
        # A second one (or one outside the loop) interrupts at once.
        if in_loop[0] and not driver.stop_requested:
            driver.stop_requested = True
            return
        raise KeyboardInterrupt

    if threading_main():
        for sig in previous:
            signal.signal(sig, _stop)
    from archon.search.selection import power_note

    _say(console, progress, power_note(len(splits.selection), len(splits.dev), None))
    try:
        if live is not None:
            live.start()
        try:
            driver.loop()
            in_loop[0] = False
        except KeyboardInterrupt:
            in_loop[0] = False
            interrupted = True
            if driver.fatal:
                driver.stop_reason = "stopped: " + driver.fatal[:300]
                driver.interrupt("interrupted", driver.fatal[:1000])
            else:
                driver.stop_reason = "interrupted"
                driver.interrupt("interrupted", "stopped by the user (Ctrl-C)")
        finally:
            if live is not None:
                live.stop()
        result.stopped = driver.stop_reason
        result.search_calls = dict(driver.totals_spent)
        if not interrupted:
            from archon.search.final import final_test as run_final

            try:
                baseline, baselines_dev = _choose_emitted(driver, result, splits, lambda m: _say(console, progress, m))
                if final_test:
                    result.test = run_final(driver, splits=splits, emitted=result.emitted, baseline=baseline,
                                            baselines_dev=baselines_dev, console=console, progress=progress)
            except KeyboardInterrupt:
                interrupted = True
                result.stopped = "interrupted"
    finally:
        if threading_main():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        dispatcher.close()
        result.ledger = ledger.totals().to_dict()
        ledger.close()
    if driver.fatal:
        raise InputError(f"{spec_path}: error: the search stopped: {driver.fatal}")
    from archon.search.report import collect, write_report

    collect(result, study)
    result.calls_made = int(driver.totals_spent.get("calls", 0))
    result.calls_cached = int(driver.totals_spent.get("cached_calls", 0))
    result.wall_time = time.monotonic() - started
    # with the benchmark as it was loaded, so the exports can find it from their own folder
    result.outputs = write_report(result, study, rundir, settings.model_copy(update={"benchmark": bench_spec}))
    if interrupted:
        _say(console, progress, f"interrupted. Resume with: {resume_cmd}")
    return result


def _choose_emitted(driver: _Driver, result: SearchResult, splits: Any, say: Callable[[str], None]) -> tuple[Any, list[dict[str, Any]]]:
    """Decide what best.yaml holds (archon.search.selection); returns the baseline and the
    baselines' dev scores for the test comparison."""
    from optuna.trial import TrialState

    from archon.search.final import choose_baseline
    from archon.search.selection import power_note, select_winner
    from archon.search.stats import preference

    complete = [t for t in driver.study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE and "pipeline" in t.user_attrs]
    if not complete:
        failed = [t for t in driver.study.get_trials(deepcopy=False) if t.user_attrs.get("reason")]
        why = f"; first reason: {failed[0].user_attrs['reason'][:300]}" if failed else ""
        result.no_result = f"no trial completed ({driver.stop_reason or 'every trial failed, was pruned or was infeasible'}){why}"
        return None, []
    if len(driver.objectives) == 1:
        best = max(complete, key=lambda t: preference(t.values[0], t.user_attrs.get("cost_per_query"), t.number))
    else:
        front = sorted((t for t in driver.study.best_trials if "pipeline" in t.user_attrs), key=lambda t: (-t.values[0], t.number))
        best = front[0] if front else max(complete, key=lambda t: (t.values[0], -t.number))
    data = _spec_data(driver.settings, driver.spec_dir)
    data["pipeline"] = best.user_attrs["pipeline"]
    by_dev = {"label": f"trial-{best.number}", "trial": best.number, "spec_data": data, "verified": False,
              "beats_baseline": None}
    picked = choose_baseline(driver, splits=splits)
    if picked is None:
        result.emitted = {**by_dev, "reason": "chosen by dev score alone: the search budget cannot cover scoring the baselines"}
        return None, []
    baseline, baselines_dev = picked
    if baseline.dev_score is None:
        key = json.dumps(baseline.spec_data["pipeline"], sort_keys=True)
        same = [t for t in complete if json.dumps(t.user_attrs["pipeline"], sort_keys=True) == key]
        first = same[0] if same else min(complete, key=lambda t: t.number)
        baseline.dev_score = first.user_attrs.get("dev_score")
    result.power = power_note(len(splits.selection), len(splits.dev), baseline.dev_score)
    decision = select_winner(driver, splits=splits, baseline=baseline, say=say)
    if decision is None:
        why = ("the selection split is empty (benchmark.selection: 0)" if not splits.selection
               else "the search budget cannot cover the selection stage")
        result.emitted = {**by_dev, "reason": f"chosen by dev score alone, not checked on held-out data: {why}"}
        return baseline, baselines_dev
    result.selection = decision.to_dict()
    result.emitted = {"label": decision.emitted.label, "trial": decision.emitted.trial, "spec_data": decision.emitted.spec_data,
                      "reason": decision.reason, "verified": decision.n > 0, "beats_baseline": decision.beats_baseline}
    say(f"emitted: {decision.reason}")
    return baseline, baselines_dev


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _say(console: Any, progress: bool, message: str) -> None:
    if not progress:
        return
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    console.print(message)
