"""Shards of one search, and scoring a whole pipeline on a split outside any trial.

:class:`ShardSettings` holds what every shard job of a search carries besides its work (the
Ray task options and the shard size), so jobs are built in one place; what every shard *uses*
(the benchmark, the call cache, preloaded modules) travels with the dispatcher
(archon.search.evaluation.ShardContext), never as a path in a job.
:class:`SplitScorer` runs one pipeline on records of a split through the search's dispatcher,
reserving each shard's worst case in the ledger first: the baselines on dev, the selection stage
and the final test use it (trials are dispatched rung by rung by the driver instead).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archon.errors import InputError, SearchError
from archon.graph import StaticCost, compile_pipeline
from archon.search.budget import add_counts, spend_of, worst_case
from archon.search.evaluation import ShardJob
from archon.search.ledger import BudgetLedger
from archon.spec.schema import Settings, Spec

if TYPE_CHECKING:
    from archon.search.dispatch import Dispatcher

__all__ = ["ShardSettings", "SplitScorer", "spec_data"]

#: Records per shard (one Ray task) unless the caller says otherwise. Small enough to spread a
#: rung over a cluster, large enough that a batch still keeps a vLLM engine busy.
DEFAULT_SHARD_SIZE = 16


def spec_data(settings: Settings, pipeline: Mapping[str, Any]) -> dict[str, Any]:
    """The plain data of the spec made of ``settings`` and ``pipeline`` (a PipelineSpec's data):
    what a shard, best.yaml and the selection stage take. ``settings`` has its paths resolved."""
    data = settings.model_dump(mode="json")
    data["pipeline"] = copy.deepcopy(dict(pipeline))
    return data


@dataclass(frozen=True)
class ShardSettings:
    """How the shard jobs of one search are cut and submitted (see :class:`ShardJob`)."""

    task_options: dict[str, Any] = field(default_factory=dict)  # Ray .options of every task
    size: int = DEFAULT_SHARD_SIZE  # records per shard

    def chunks(self, indices: Sequence[int]) -> list[list[int]]:
        return [list(indices[i : i + self.size]) for i in range(0, len(indices), self.size)]

    def job(self, key: str, *, trial: int, rung: int, shard: int, split: str, indices: Sequence[int],
            spec_data: dict[str, Any], trace: bool) -> ShardJob:
        return ShardJob(key=key, trial=trial, rung=rung, shard=shard, split=split, indices=tuple(indices), spec_data=spec_data,
                        trace=trace)


class SplitScorer:
    """Scores whole pipelines on records of a split outside any trial (see the module docstring).

    ``tally`` is the search's counter of what reached a backend; every shard result adds to it.
    """

    def __init__(self, *, settings: Settings, ledger: BudgetLedger, dispatcher: Dispatcher, shards: ShardSettings,
                 qtokens: int, tally: MutableMapping[str, float]) -> None:
        self.settings = settings
        self.ledger = ledger
        self.dispatcher = dispatcher
        self.shards = shards
        self.qtokens = qtokens
        self.tally = tally

    def spec_data(self, pipeline: Mapping[str, Any]) -> dict[str, Any]:
        return spec_data(self.settings, pipeline)

    def static_cost(self, data: dict[str, Any]) -> StaticCost:
        return compile_pipeline(Spec.model_validate(data)).static_cost(query_tokens=self.qtokens)

    def rows(self, label: str, data: dict[str, Any], split: str, indices: list[int]) -> list[dict[str, Any]] | None:
        """One row per record of ``indices`` of ``split`` (archon.search.evaluation), in order;
        None if the search budget cannot cover it (nothing is dispatched then)."""
        per_query = worst_case(self.static_cost(data))
        chunks = self.shards.chunks(indices)
        keys: list[str] = []
        for k, chunk in enumerate(chunks):
            key = f"{self.ledger.session}/{label}/{split}/{chunk[0]}-{chunk[-1]}/shard-{k}"
            if self.ledger.reserve(key, per_query.scaled(len(chunk))) is None:
                for done in keys:
                    self.ledger.release(done)
                return None
            keys.append(key)
        for key, chunk in zip(keys, chunks):
            job = self.shards.job(key, trial=-1, rung=0, shard=0, split=split, indices=chunk, spec_data=data, trace=False)
            self.dispatcher.submit(job, self.shards.task_options)
        pending = set(keys)
        rows: dict[str, list[dict[str, Any]]] = {}
        while pending:
            for res in self.dispatcher.wait(timeout=0.5):
                if res.key not in pending:
                    continue
                pending.discard(res.key)
                self.ledger.settle(res.key, spend_of(res.spent))
                add_counts(self.tally, res.spent)
                if res.error:
                    self.dispatcher.cancel(list(pending))
                    for key in pending:
                        self.ledger.charge_reserved(key)
                    if res.fatal:
                        raise InputError(f"{label} on {split}: {res.error}")
                    raise SearchError(f"{label} on {split}: {res.error}")
                rows[res.key] = res.rows
        return [r for key in keys for r in rows[key]]
