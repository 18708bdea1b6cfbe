"""``run_search``: read a spec, assemble the search's pieces, run the loop, emit and report.

The pieces, in order: :class:`SearchPlan` (the spec read and checked, the benchmark split, the
fidelity rungs: everything known before anything is spent; a dry run stops there), the Optuna
study (sampler and pruner), the budget ledger, the backend that runs shards (Ray tasks or this
process), the :class:`~archon.search.driver.Driver` loop, then the selection stage and the test
split (archon.search.final) and the run directory's report (archon.search.report).
"""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import optuna
from optuna.study import Study
from rich.console import Console

from archon.backends import Client
from archon.benchmarks import Benchmark, Splits, load_benchmark
from archon.errors import InputError
from archon.graph import check_pipeline
from archon.search.budget import FINAL_HOLDBACK_CAP, final_queries, query_tokens
from archon.search.dispatch import Dispatcher, InProcessDispatcher, RayDispatcher, task_options
from archon.search.driver import Driver, DriverConfig, Listener
from archon.search.estimate import SearchEstimate, estimate_search
from archon.search.fidelity import make_pruner, rung_sizes
from archon.search.final import choose_emitted, final_test
from archon.search.ledger import BudgetLedger, Limits, Spend
from archon.search.live import LiveDisplay, printer
from archon.search.metrics import SearchMetrics
from archon.search.outcome import SearchResult
from archon.search.replay import open_table
from archon.search.report import collect, write_report
from archon.search.rundir import Direction, RunDir, open_storage, open_study, recover_interrupted, spec_fingerprint
from archon.search.samplers import make_sampler
from archon.search.scoring import DEFAULT_SHARD_SIZE, ShardSettings
from archon.search.selection import TOP_K, power_note
from archon.search.worker_code import runtime_env_for
from archon.space import Space, check_space
from archon.spec import load_settings, load_spec_file
from archon.spec.schema import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from archon.backends.fake import FakeBackend, ScriptedModel

__all__ = ["DEFAULT_SHARD_SIZE", "SearchOptions", "SearchPlan", "run_search", "run_search_with"]


@dataclass(frozen=True)
class SearchOptions:
    """How to run a search, beyond its spec: the keyword arguments of :func:`run_search`."""

    run_dir: str | os.PathLike[str] | None = None
    ray_address: str | None = None
    dry_run: bool = False
    resume: bool = True
    progress: bool = True
    trials: int | None = None  # overrides search.trials
    parallel: int | None = None  # overrides search.parallel
    use_ray: bool = True
    fake: FakeBackend | ScriptedModel | None = None  # serves every model in process (tests)
    preload: tuple[str, ...] = ()  # modules every worker imports first (and those in $ARCHON_PRELOAD)
    task_resources: dict[str, float] | None = None
    shard_size: int | None = None
    final_test: bool = True
    num_cpus: int | None = None
    replay: str | os.PathLike[str] | None = None
    console: Console | None = None
    on_event: Listener | None = None


@dataclass(frozen=True)
class SearchPlan:
    """A spec read and checked, and what a search derives from it before anything is spent."""

    spec_path: Path
    text: str  # the spec as written (its fingerprint tells a changed spec on resume)
    settings: Settings  # benchmark path resolved against the spec's folder
    space: Space
    benchmark: Benchmark  # what every shard needs of the data (sent to Ray's object store once)
    splits: Splits
    qtokens: int
    rungs: tuple[int, ...]
    trials: int
    parallel: int
    objectives: tuple[str, ...]
    rundir: RunDir
    resume_command: str

    @classmethod
    def load(cls, spec_path: Path, options: SearchOptions) -> SearchPlan:
        text = spec_path.read_text(encoding="utf-8") if spec_path.exists() else ""
        doc = load_spec_file(spec_path)
        # What `archon validate` rejects, a search rejects before anything runs (with the same
        # file:line:col diagnostics), instead of running trials that can only fail.
        if doc.is_space:
            check_space(doc)
        else:
            check_pipeline(doc)
        settings = load_settings(doc).resolve_paths(spec_path.resolve().parent)
        if settings.benchmark is None:
            raise InputError(f"{spec_path}:1:1: error: a search needs a 'benchmark:' section (which data defines a good answer)")
        space = Space.from_document(doc)
        search = settings.search
        rundir = RunDir.for_spec(spec_path, options.run_dir or search.run_dir)
        benchmark = load_benchmark(settings.benchmark)
        splits = benchmark.splits()
        fid = search.fidelity
        rungs = rung_sizes(len(splits.dev), min_queries=fid.min_queries, factor=fid.factor, enabled=fid.enabled)
        resume = "archon search " + shlex.quote(str(spec_path)) + (f" --run-dir {shlex.quote(str(rundir.path))}" if options.run_dir else "")
        return cls(spec_path=spec_path, text=text, settings=settings, space=space, benchmark=benchmark, splits=splits,
                   qtokens=query_tokens([benchmark.prompt(r) for r in splits.dev]), rungs=tuple(rungs),
                   trials=options.trials or search.trials, parallel=options.parallel or search.parallel,
                   objectives=tuple(search.objectives), rundir=rundir, resume_command=resume)

    @property
    def directions(self) -> list[Direction]:
        return ["maximize" if o == "accuracy" else "minimize" for o in self.objectives]


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
    fake: FakeBackend | ScriptedModel | None = None,
    preload: tuple[str, ...] | list[str] = (),
    task_resources: dict[str, float] | None = None,
    shard_size: int | None = None,
    final_test: bool = True,
    num_cpus: int | None = None,
    replay: str | os.PathLike[str] | None = None,
    console: Console | None = None,
    on_event: Listener | None = None,
) -> SearchResult:
    """Search the space in ``spec_path``; see the module docstring and docs/search.md.

    ``trials``/``parallel`` override the spec's ``search`` settings; ``resume=False`` starts a
    fresh study (the call cache is kept). ``use_ray=False`` evaluates in this process (one event
    loop, one client; ``fake`` then serves every model, for tests). ``preload`` names modules
    every worker imports first (e.g. one that registers fake-model scripts). ``replay`` names a
    replay table (archon.search.replay) that answers every model call instead of the backends.
    """
    options = SearchOptions(
        run_dir=run_dir, ray_address=ray_address, dry_run=dry_run, resume=resume, progress=progress, trials=trials,
        parallel=parallel, use_ray=use_ray, fake=fake, preload=tuple(preload), task_resources=task_resources,
        shard_size=shard_size, final_test=final_test, num_cpus=num_cpus, replay=replay, console=console, on_event=on_event,
    )
    return run_search_with(Path(spec_path), options)


def run_search_with(spec_path: Path, options: SearchOptions) -> SearchResult:
    """:func:`run_search` with its options gathered: assembles the pieces and runs them."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.monotonic()
    say = printer(options.console, options.progress)
    plan = SearchPlan.load(spec_path, options)
    if options.dry_run:
        return _dry_run(plan)
    if not options.resume:
        plan.rundir.clear()
    storage_url, study = _open_study(plan, say)
    settings = plan.settings
    ledger = BudgetLedger(plan.rundir.ledger, Limits.from_spec(settings.budget.search))
    dispatcher, shards = _open_backend(plan, options, say)
    cost_unit = "dollars" if any(m.price is not None for m in settings.models.values()) else "tokens"
    study.set_user_attr("cost_unit", cost_unit)
    config = DriverConfig(settings=settings, objectives=plan.objectives, rungs=plan.rungs, factor=settings.search.fidelity.factor,
                          parallel=plan.parallel, target=plan.trials, qtokens=plan.qtokens, cost_unit=cost_unit, shards=shards)
    driver = Driver(config, study=study, space=plan.space, ledger=ledger, dispatcher=dispatcher, rundir=plan.rundir)
    live = None
    if options.progress:
        live = LiveDisplay(driver, console=options.console, title=f"archon search {spec_path.name}")
        driver.listeners.append(live.event)
        driver.tickers.append(live.refresh)
    if options.on_event is not None:
        driver.listeners.append(options.on_event)
    if options.use_ray:  # the search on the Ray dashboard's metrics view
        metrics = SearchMetrics(driver, name=study.study_name)
        driver.listeners.append(metrics.event)
        driver.tickers.append(metrics.refresh)

    result = SearchResult(run_dir=plan.rundir.path, storage=storage_url, study_name=study.study_name, objectives=list(plan.objectives),
                          dashboard=getattr(dispatcher, "dashboard_url", None), resume_command=plan.resume_command)
    interrupted = False
    stop = _SignalStop(driver)
    stop.install()
    splits = plan.splits
    say(power_note(len(splits.selection), len(splits.dev), None))
    held = _hold_back_for_final(plan, ledger, say, with_test=options.final_test)
    try:
        interrupted = not _loop(driver, live, stop)
        if held is not None:
            ledger.release(held.key)  # the stages after the trials spend it
            if driver.stop_reason and driver.stop_reason.startswith("search budget reached"):
                driver.stop_reason += f"; {held.text} of the budget were held back for choosing the winner and the test comparison"
        result.stopped = driver.stop_reason
        result.search_calls = dict(driver.totals_spent)
        if not interrupted:
            try:
                _emit_and_test(driver, plan, options, result, say)
            except KeyboardInterrupt:
                interrupted = True
                result.stopped = "interrupted"
    finally:
        stop.restore()
        dispatcher.close()
        if held is not None:
            ledger.release(held.key)  # again, for an interrupted or failed loop (a no-op after the release above)
        result.ledger = ledger.totals().to_dict()
        ledger.close()
    if driver.fatal:
        raise InputError(f"{spec_path}: error: the search stopped: {driver.fatal}")
    collect(result, study)
    result.calls_made = int(driver.totals_spent.get("calls", 0))
    result.calls_cached = int(driver.totals_spent.get("cached_calls", 0))
    result.wall_time = time.monotonic() - started
    result.outputs = write_report(result, study, plan.rundir, settings)
    if interrupted:
        say(f"interrupted. Resume with: {plan.resume_command}")
    return result


# ---------------------------------------------------------------------------- the pieces


def _estimate(plan: SearchPlan, *, with_test: bool) -> SearchEstimate:
    search, splits = plan.settings.search, plan.splits
    after = final_queries(selection=len(splits.selection), test=len(splits.test) if with_test else 0, dev=len(splits.dev),
                          candidates=TOP_K, models=max(1, len(plan.settings.models)))
    return estimate_search(plan.space, plan.settings, n_trials=plan.trials, rungs=list(plan.rungs), factor=search.fidelity.factor,
                           qtokens=plan.qtokens, test_size=len(splits.test), seed=search.seed, final_queries=after)


@dataclass(frozen=True)
class _Held:
    key: str
    text: str  # the amount, in the units that have a limit


def _holdback_text(amount: Spend) -> str:
    parts = [f"${amount.dollars:.4f}" if amount.dollars else "", f"{amount.tokens:,} tokens" if amount.tokens else "",
             f"{amount.calls:,} calls" if amount.calls else ""]
    return ", ".join(p for p in parts if p)


def _hold_back_for_final(plan: SearchPlan, ledger: BudgetLedger, say: Callable[[str], None], *, with_test: bool) -> _Held | None:
    """Reserve, for the whole trial loop, what the selection stage and the test comparison are
    estimated to need (archon.search.budget.final_holdback); None when no spend limit is set."""
    limits = Limits.from_spec(plan.settings.budget.search)
    if limits.dollars is None and limits.tokens is None and limits.calls is None:
        return None  # nothing to hold (and no estimate to sample)
    amount = _estimate(plan, with_test=with_test).held_back
    if not amount:
        return None
    key = ledger.hold_back("final-stages", amount)
    if key is None:
        return None  # earlier sessions of a resumed search left less than that: the trials get what is left
    text = _holdback_text(amount)
    say(f"budget: {text} held back from the trials for choosing the winner on the selection split and the test comparison")
    return _Held(key, text)


def _dry_run(plan: SearchPlan) -> SearchResult:
    est = _estimate(plan, with_test=True)
    est.notes.append(power_note(len(plan.splits.selection), len(plan.splits.dev), None))
    held = est.held_back
    if held:
        est.notes.append(f"budget: {_holdback_text(held)} of the search budget is held back from the trials for choosing the "
                         "winner on the selection split and the test comparison (estimated at the sampled points' worst case, "
                         f"at most {FINAL_HOLDBACK_CAP:.0%} of each limit)")
    return SearchResult(run_dir=plan.rundir.path, storage="", study_name="", objectives=list(plan.objectives), estimate=est,
                        resume_command=plan.resume_command)


def _open_study(plan: SearchPlan, say: Callable[[str], None]) -> tuple[str, Study]:
    """The study in the run directory (created, or loaded to resume), with its sampler and pruner."""
    settings = plan.settings
    search = settings.search
    rundir = plan.rundir
    storage_url = search.storage or rundir.default_storage()
    storage = open_storage(storage_url, rundir)
    sampler = make_sampler(search.sampler, seed=search.seed, n_objectives=len(plan.objectives), parallel=plan.parallel)
    single = len(plan.objectives) == 1 and len(plan.rungs) > 1
    pruner = make_pruner(min_queries=plan.rungs[0], factor=search.fidelity.factor) if single else optuna.pruners.NopPruner()
    study = open_study(storage=storage, study_name=settings.name or plan.spec_path.stem, directions=plan.directions,
                       sampler=sampler, pruner=pruner)
    fingerprint = spec_fingerprint(plan.text)
    old = study.user_attrs.get("spec_fingerprint")
    if old is None:
        study.set_user_attr("spec_fingerprint", fingerprint)
        study.set_user_attr("objectives", list(plan.objectives))
        study.set_user_attr("rungs", list(plan.rungs))
    elif old != fingerprint:
        say("[yellow]note:[/] the spec changed since this study began; its trials are kept (use --fresh to start over)")
    rerun = recover_interrupted(study)
    if rerun:
        say(f"resuming: {len(rerun)} interrupted trial(s) enqueued again: {rerun}")
    rundir.write_meta(str(plan.spec_path), fingerprint, storage_url)
    return storage_url, study


def _open_backend(plan: SearchPlan, options: SearchOptions, say: Callable[[str], None]) -> tuple[Dispatcher, ShardSettings]:
    """What runs the shards (Ray tasks, or one client in this process) and how they are cut."""
    settings = plan.settings
    # the driver decides which file: workers use exactly that one (through the cluster's cache
    # service under Ray), never a path of their own
    cache_path = str(plan.rundir.cache) if settings.cache is True else (settings.cache or None)
    replay_meta: dict[str, Any] | None = None
    if options.replay is not None:
        table, replay_meta = open_table(options.replay)
        cache_path = str(table)
        say(f"replay: every answer comes from {options.replay} ({replay_meta.get('architectures')} architectures "
            f"of {replay_meta.get('space')} on {replay_meta.get('records')} records); no backend is called")
    preload = options.preload + tuple(m for m in os.environ.get("ARCHON_PRELOAD", "").split(",") if m)
    dispatcher: Dispatcher
    if options.use_ray:
        ray_dispatcher = RayDispatcher(
            address=options.ray_address, run_dir=plan.rundir.path, num_cpus=options.num_cpus, benchmark=plan.benchmark,
            cache_path=cache_path, replay=None if replay_meta is None else replay_meta.get("structured_output") or {},
            preload=preload, runtime_env=runtime_env_for(settings, preload))
        if ray_dispatcher.dashboard_url:
            say(f"Ray dashboard: {ray_dispatcher.dashboard_url}")
        dispatcher = ray_dispatcher
    else:
        if replay_meta is not None:
            client = Client.from_spec(settings, cache=cache_path, replay=True, structured=replay_meta.get("structured_output"))
        else:
            client = Client.from_spec(settings, cache_path=cache_path, fake=options.fake)
        dispatcher = InProcessDispatcher(client, plan.benchmark, preload=preload)
    shards = ShardSettings(
        task_options=task_options(settings, task_resources=options.task_resources) if options.use_ray else {},
        size=options.shard_size or DEFAULT_SHARD_SIZE,
    )
    return dispatcher, shards


class _SignalStop:
    """Ctrl-C / SIGTERM while the loop runs asks it to stop at its next safe point; a second
    signal, or one after the loop, interrupts at once (KeyboardInterrupt)."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.in_loop = True
        self.previous: dict[signal.Signals, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():  # only the main thread may
            self.previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            for sig in self.previous:
                signal.signal(sig, self._stop)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if self.in_loop and not self.driver.stop_requested:
            self.driver.stop_requested = True
            return
        raise KeyboardInterrupt


def _loop(driver: Driver, live: LiveDisplay | None, stop: _SignalStop) -> bool:
    """Run the trial loop; False when it was interrupted (Ctrl-C, or an error every trial would meet)."""
    if live is not None:
        live.start()
    try:
        driver.loop()
        stop.in_loop = False
        return True
    except KeyboardInterrupt:
        stop.in_loop = False
        if driver.fatal:
            driver.stop_reason = "stopped: " + driver.fatal[:300]
            driver.interrupt("interrupted", driver.fatal[:1000])
        else:
            driver.stop_reason = "interrupted"
            driver.interrupt("interrupted", "stopped by the user (Ctrl-C)")
        return False
    finally:
        if live is not None:
            live.stop()


def _emit_and_test(driver: Driver, plan: SearchPlan, options: SearchOptions, result: SearchResult, say: Callable[[str], None]) -> None:
    """Choose what best.yaml holds on the selection split, then score it against the baseline on test."""
    scorer = driver.scorer()
    objectives = list(plan.objectives)
    emission = choose_emitted(driver.study, scorer, objectives=objectives, splits=plan.splits, stop_reason=driver.stop_reason, say=say)
    result.emitted, result.selection = emission.emitted, emission.selection
    result.power, result.no_result = emission.power, emission.no_result
    if options.final_test:
        result.test = final_test(driver.study, scorer, objectives=objectives, splits=plan.splits, emitted=emission.emitted,
                                 baseline=emission.baseline, baselines_dev=emission.baselines_dev, say=say)
