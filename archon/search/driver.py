"""The trial state machine of a search: Optuna ask-and-tell from one process, evaluations
dispatched as shards. :func:`archon.search.run.run_search` builds a :class:`Driver` and runs
:meth:`Driver.loop`; whatever runs the shards (Ray tasks or the in-process loop), the loop is:

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

The trial's number is in every shard's key and result, and results are counted once per key,
so a retried task never counts twice; interrupted trials are re-run on resume (see rundir).
What happens after the loop (selection, test, report) is in archon.search.final and .report.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optuna.trial import TrialState

from archon.components.cascade import escalation
from archon.errors import SpecError
from archon.search.budget import add_counts, per_query_violation, spend_of, stop_text, worst_case
from archon.search.evaluation import ShardResult
from archon.search.fidelity import promote_multi_objective
from archon.search.ledger import BudgetLedger, Spend
from archon.search.rundir import OWNER_KEY, STATUS_KEY, RunDir
from archon.search.scoring import ShardSettings, SplitScorer, spec_data
from archon.search.stats import wilson
from archon.space import PointOverBudget

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import Trial

    from archon.graph import Pipeline
    from archon.search.dispatch import Dispatcher
    from archon.space import Space
    from archon.spec.schema import Settings

__all__ = ["Driver", "DriverConfig", "MAX_CALL_FAILED_SHARE"]

#: A rung that lost more than this share of its queries to model calls that failed for good
#: (after retries) fails the trial instead of scoring it on what is left.
MAX_CALL_FAILED_SHARE = 0.10

#: ``emit(kind, trial number, data)``: a trial finished, was pruned, failed or was infeasible.
Listener = Callable[[str, int, Any], None]


@dataclass(frozen=True)
class DriverConfig:
    """Everything the trial loop needs to know, fixed before it starts."""

    settings: Settings  # the spec's sections besides the pipeline, paths resolved
    objectives: tuple[str, ...]  # "accuracy" (maximised) and/or "cost" (minimised)
    rungs: tuple[int, ...]  # cumulative dev queries of each fidelity rung
    factor: int  # successive-halving factor between rungs
    parallel: int  # trials in flight at once
    target: int  # trials to finish (this session's and earlier ones')
    qtokens: int  # prompt tokens per query, for the static cost model
    cost_unit: str  # "dollars" or "tokens": the cost objective's unit
    shards: ShardSettings

    @property
    def signs(self) -> list[int]:
        return [1 if o == "accuracy" else -1 for o in self.objectives]


@dataclass
class _Run:
    """A trial being evaluated: its shards in flight, the rows back so far, its rung."""

    trial: Trial
    pipeline: Pipeline
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


class Driver:
    """The ask-and-tell loop over ``study`` (see the module docstring).

    ``listeners`` are told every trial outcome; ``tickers`` are called once per loop turn (the
    live display refreshes there).
    """

    def __init__(self, config: DriverConfig, *, study: Study, space: Space, ledger: BudgetLedger, dispatcher: Dispatcher,
                 rundir: RunDir) -> None:
        self.config = config
        self.study = study
        self.space = space
        self.ledger = ledger
        self.dispatcher = dispatcher
        self.rundir = rundir
        self.listeners: list[Listener] = []
        self.tickers: list[Callable[[], None]] = []
        self.runs: dict[int, _Run] = {}
        self.by_key: dict[str, int] = {}
        self.seen_keys: set[str] = set()
        self.stop_reason: str | None = None
        self.stop_requested = False  # set by the Ctrl-C / SIGTERM handler; acted on between steps
        self.fatal: str | None = None  # an error no other trial can avoid (a replay table's gap)
        self.lost_queries = 0  # dev queries left out of a score: a model call failed for good
        self.asked = 0
        self.totals_spent: dict[str, float] = {}  # what reached a backend, search and final test
        self.durations: list[float] = []
        self.first_number = len(self.study.get_trials(deepcopy=False))

    def scorer(self) -> SplitScorer:
        """Scores pipelines outside any trial with this driver's dispatcher, ledger and tally."""
        c = self.config
        return SplitScorer(settings=c.settings, ledger=self.ledger, dispatcher=self.dispatcher, shards=c.shards,
                           qtokens=c.qtokens, tally=self.totals_spent)

    def emit(self, kind: str, number: int, data: Any) -> None:
        for listener in self.listeners:
            listener(kind, number, data)

    def tick(self) -> None:
        for ticker in self.tickers:
            ticker()

    # -------------------------------------------------------------- counting

    def finished_count(self) -> int:
        n = 0
        for t in self.study.get_trials(deepcopy=False):
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                n += 1
            elif t.state == TrialState.FAIL and t.user_attrs.get(STATUS_KEY) == "failed":
                n += 1
        return n

    # -------------------------------------------------------------- asking

    def ask_one(self) -> None:
        trial = self.study.ask()
        self.asked += 1
        # Optuna has no public setter for a system attribute of a live trial
        self.study._storage.set_trial_system_attr(trial._trial_id, OWNER_KEY, f"{socket.gethostname()}:{os.getpid()}")
        try:
            pipeline = self.space.suggest(trial)
        except PointOverBudget as exc:
            # the graph rules check budget.per_query.calls when the space resolves a point
            self._tell_infeasible(trial, "per_query_budget", 1.0, _messages(exc))
            return
        except SpecError as exc:
            self._tell_infeasible(trial, "valid", 1.0, "invalid architecture: " + _messages(exc))
            return
        static = pipeline.static_cost(query_tokens=self.config.qtokens)
        trial.set_user_attr("static_cost", {"calls": static.calls, "input_tokens": static.input_tokens,
                                            "output_tokens": static.output_tokens, "dollars": static.dollars})
        violation, reason = per_query_violation(static, self.config.settings.budget.per_query)
        if reason is not None:
            self._tell_infeasible(trial, "per_query_budget", violation, reason)
            return
        trial.set_constraint("per_query_budget", 0.0)
        if self.reuse_duplicate(trial):
            return
        data = spec_data(self.config.settings, pipeline.spec.pipeline.model_dump(mode="json"))
        run = _Run(trial=trial, pipeline=pipeline, spec_data=data, per_query=worst_case(static))
        trial.set_user_attr("pipeline", run.spec_data["pipeline"])
        self.runs[trial.number] = run
        self.dispatch_rung(run)

    def reuse_duplicate(self, trial: Trial) -> bool:
        """A trial whose choices equal a finished trial's gets that trial's outcome without being
        evaluated again (TPE proposes repeats in small spaces; the cache would answer every call,
        but the work of running the pipeline would still be done)."""
        params = trial.params
        for old in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            if old.number == trial.number or old.params != params or "dev_score" not in old.user_attrs:
                continue
            if old.user_attrs.get("status") not in ("complete", "pruned"):
                continue
            for key in ("dev_score", "ci", "n_queries", "cost_per_query", "pipeline", "rungs", "failed_queries", "escalation"):
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

    def _tell_infeasible(self, trial: Trial, name: str, violation: float, reason: str) -> None:
        trial.set_constraint(name, max(violation, 1e-9))
        trial.set_user_attr(STATUS_KEY, "infeasible")
        trial.set_user_attr("reason", reason)
        self.study.tell(trial, state=TrialState.PRUNED)
        self.emit("infeasible", trial.number, reason)

    # -------------------------------------------------------------- dispatching

    def rung_indices(self, rung: int) -> list[int]:
        rungs = self.config.rungs
        lo = rungs[rung - 1] if rung > 0 else 0
        return list(range(lo, rungs[rung]))

    def dispatch_rung(self, run: _Run) -> bool:
        """Reserve and submit the shards of ``run``'s current rung; False if it has to wait."""
        shard_settings = self.config.shards
        indices = self.rung_indices(run.rung)
        shards = shard_settings.chunks(indices) or [[]]
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
            job = shard_settings.job(key, trial=run.trial.number, rung=run.rung, shard=int(key.rsplit("-", 1)[1]), split="dev",
                                     indices=chunk, spec_data=run.spec_data, trace=True)
            run.pending[key] = tuple(chunk)
            self.by_key[key] = run.trial.number
            self.dispatcher.submit(job, shard_settings.task_options)
        return True

    # -------------------------------------------------------------- results

    def handle(self, res: ShardResult) -> None:
        if res.key in self.seen_keys:
            return  # a duplicate delivery (retried task): counted once already
        self.seen_keys.add(res.key)
        number = self.by_key.get(res.key, res.trial)
        self.ledger.settle(res.key, spend_of(res.spent))
        add_counts(self.totals_spent, res.spent)
        run = self.runs.get(number)
        if run is None or res.key not in run.pending:
            return
        del run.pending[res.key]
        add_counts(run.spent, res.spent)
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
            add_counts(logical, r.get("cost", {}))
        cost_pq = {k: v / n for k, v in logical.items()} if n else {}
        cost_value = self.cost_value(cost_pq)
        lo, hi = wilson(sum(r["score"] for r in scored), n)
        trial.set_user_attr("dev_score", acc)
        trial.set_user_attr("ci", [lo, hi])
        trial.set_user_attr("n_queries", n)
        trial.set_user_attr("cost_per_query", cost_pq)
        trial.set_user_attr("spent", run.spent)
        trial.set_user_attr("failed_queries", sum(1 for r in scored if r.get("status") != "ok"))
        stages = escalation(r.get("answered_by") for r in scored)
        if stages is not None:  # a cascade: how many queries went past its first stage
            trial.set_user_attr("escalation", stages)
        last = run.rung == len(self.config.rungs) - 1
        multi = len(self.config.objectives) > 1
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
            promote = promote_multi_objective(values, competitors, factor=self.config.factor, signs=self.config.signs)
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
        return float(cost_pq.get(self.config.cost_unit, 0.0))

    def fail_run(self, run: _Run, status: str, reason: str) -> None:
        self.dispatcher.cancel(list(run.pending))
        for key in list(run.pending):
            self.seen_keys.add(key)
        run.pending.clear()
        run.trial.set_user_attr(STATUS_KEY, status)
        run.trial.set_user_attr("reason", reason[:1000])
        self.study.tell(run.trial, state=TrialState.FAIL)
        self.runs.pop(run.trial.number, None)
        self.emit(status, run.trial.number, reason)

    def write_trace(self, number: int, res: ShardResult) -> None:
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
                and sum(1 for r in self.runs.values()) < self.config.parallel
                and self.finished_count() + len(self.runs) < self.config.target
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
        need = None
        if blocked is not None:
            queries = len(self.rung_indices(blocked.rung))
            need = (blocked.trial.number, queries, blocked.per_query.scaled(queries))
        return stop_text(self.ledger.totals().spent, self.ledger.limits, need)

    def interrupt(self, status: str, reason: str) -> None:
        for run in list(self.runs.values()):
            self.fail_run(run, status, reason)
        # a trial asked when the interrupt arrived (before it was registered above)
        me = f"{socket.gethostname()}:{os.getpid()}"
        storage = self.study._storage  # only the storage can end a trial we hold no Trial object for
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            owner = t.system_attrs.get(OWNER_KEY)
            if owner == me or (owner is None and t.number >= self.first_number):
                storage.set_trial_user_attr(t._trial_id, STATUS_KEY, status)
                storage.set_trial_state_values(t._trial_id, TrialState.FAIL)


def _messages(exc: SpecError) -> str:
    return "; ".join(d.message for d in exc.diagnostics)[:500]
