"""The budget ledger: reserve-before-spend holds the limit with many threads in flight."""

from __future__ import annotations

import random
import threading

import pytest

from archon.search.ledger import BudgetLedger, Limits, Spend


def test_reserve_refuses_what_would_not_fit(tmp_path) -> None:
    with BudgetLedger(tmp_path / "l.db", Limits(calls=10)) as ledger:
        assert ledger.reserve("a", Spend(calls=6)) is not None
        assert ledger.reserve("b", Spend(calls=5)) is None  # 6 reserved + 5 > 10
        ledger.settle("a", Spend(calls=2))  # the unused part is freed
        assert ledger.reserve("b", Spend(calls=5)) is not None
        assert ledger.totals().spent.calls == 2


def test_settle_is_idempotent_and_keys_are_single_use(tmp_path) -> None:
    with BudgetLedger(tmp_path / "l.db", Limits(dollars=1.0)) as ledger:
        ledger.reserve("k", Spend(dollars=0.5))
        assert ledger.settle("k", Spend(dollars=0.25)) is True
        assert ledger.settle("k", Spend(dollars=0.25)) is False  # a duplicate delivery
        assert ledger.totals().spent.dollars == pytest.approx(0.25)
        with pytest.raises(ValueError):
            ledger.reserve("k", Spend(dollars=0.1))


def test_cancelled_work_is_charged_its_whole_reservation_once(tmp_path) -> None:
    with BudgetLedger(tmp_path / "l.db", Limits(calls=10)) as ledger:
        ledger.reserve("k", Spend(calls=4, tokens=7))
        assert ledger.charge_reserved("k") is True
        assert ledger.charge_reserved("k") is False  # settled already: nothing more is charged
        assert ledger.settle("k", Spend(calls=1)) is False
        totals = ledger.totals()
        assert (totals.spent.calls, totals.spent.tokens, totals.in_flight) == (4, 7, 0)


def test_many_threads_never_exceed_the_limit(tmp_path) -> None:
    limit = 200
    ledger = BudgetLedger(tmp_path / "l.db", Limits(calls=limit, tokens=5000))
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        rng = random.Random(i)
        try:
            for j in range(30):
                want = Spend(calls=rng.randint(1, 9), tokens=rng.randint(10, 90))
                key = f"w{i}/{j}"
                if ledger.reserve(key, want) is not None:
                    # actual spend is at most the worst case
                    ledger.settle(key, Spend(calls=rng.randint(0, want.calls), tokens=rng.randint(0, want.tokens)))
                t = ledger.totals()
                assert t.spent.calls + t.reserved.calls <= limit
                assert t.spent.tokens + t.reserved.tokens <= 5000
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    totals = ledger.totals()
    assert totals.spent.calls <= limit
    assert totals.spent.calls > limit // 2  # the budget was actually used, not refused wholesale
    ledger.close()


def test_a_second_process_sees_the_spend_and_open_reservations_are_charged(tmp_path) -> None:
    path = tmp_path / "l.db"
    first = BudgetLedger(path, Limits(calls=10))
    first.reserve("x", Spend(calls=4))
    first.close()  # closed with an open reservation: charged in full (its spend is unknown)
    second = BudgetLedger(path, Limits(calls=10))
    assert second.totals().spent.calls == 4
    assert second.reserve("y", Spend(calls=7)) is None
    second.close()


def test_wall_time_limit(tmp_path) -> None:
    with BudgetLedger(tmp_path / "l.db", Limits(wall_time=1e-9)) as ledger:
        assert ledger.exhausted() is not None
    with BudgetLedger(tmp_path / "m.db", Limits()) as ledger:
        assert ledger.exhausted() is None


def test_a_session_killed_with_sigkill_still_counts_its_wall_time(tmp_path) -> None:
    import subprocess
    import sys

    path = tmp_path / "l.db"
    code = (
        "import os, signal, time\n"
        "from archon.search.ledger import BudgetLedger, Limits, Spend\n"
        f"ledger = BudgetLedger({str(path)!r}, Limits())\n"
        "time.sleep(1.0)\n"
        "ledger.settle('k', Spend(calls=1))\n"
        "os.kill(os.getpid(), signal.SIGKILL)  # close() never runs\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == -9
    with BudgetLedger(path, Limits(wall_time=3600)) as resumed:
        assert resumed.elapsed() >= 1.0  # the killed session's second is on the clock
        assert resumed.totals().spent.calls == 1


def test_a_hold_left_open_by_a_dead_search_is_dropped_not_charged(tmp_path) -> None:
    from archon.search.ledger import BudgetLedger, Limits, Spend

    dead = BudgetLedger(tmp_path / "ledger.db", Limits(calls=100))
    assert dead.hold_back("final-stages", Spend(calls=40)) is not None
    assert dead.reserve("trial-0/shard-0", Spend(calls=10)) is not None
    assert dead.reserve("trial-1/shard-0", Spend(calls=51)) is None  # the hold counts against the limit
    totals = dead.totals()  # shown apart from the work in flight
    assert (totals.held.calls, totals.reserved.calls, totals.in_flight) == (40, 10, 1)
    dead._db.execute("UPDATE sessions SET pid = ? WHERE session = ?", (2**22 + 12345, dead.session))  # its process is gone
    dead._db.commit()
    alive = BudgetLedger(tmp_path / "ledger.db", Limits(calls=100))  # recovers the dead session's reservations
    # the trial's shard may have spent all it reserved; the hold never spent anything
    assert alive.totals().spent.calls == 10 and alive.totals().reserved.calls == 0
    key = alive.hold_back("final-stages", Spend(calls=50))
    alive.close()  # a hold still open at close is dropped, not charged
    again = BudgetLedger(tmp_path / "ledger.db", Limits(calls=100))
    assert key is not None and again.totals().spent.calls == 10
    again.close()
