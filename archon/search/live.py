"""What a running search shows on the console (rich): progress messages, and the live display
of trials done, best so far, spend against the budget, cache savings and an ETA. The display is
refreshed from the driver's loop (no thread of its own)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from archon.search.driver import Driver

__all__ = ["LiveDisplay", "printer"]


def printer(console: Console | None, enabled: bool) -> Callable[[str], None]:
    """A function printing a progress message on ``console`` (stderr when None), or nothing
    when not ``enabled`` (``--quiet``, tests)."""
    if not enabled:
        return lambda message: None
    out = console if console is not None else Console(stderr=True)
    return out.print


class LiveDisplay:
    def __init__(self, driver: Driver, *, console: Console | None = None, title: str = "archon search") -> None:
        self.driver = driver
        self.console = console or Console(stderr=True)
        self.title = title
        self._live: Any = None
        self._last = 0.0
        self._events: list[str] = []
        self._best: float | None = None
        self._best_trial: int | None = None
        self._started = time.monotonic()
        self._done_at_start: int | None = None

    def start(self) -> None:
        self._done_at_start = self.driver.finished_count()
        self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None
            if not self.console.is_terminal:
                # piped or logged, rich leaves the cursor after the table's last border: the next
                # message would start on that line
                self.console.line()

    def event(self, kind: str, number: int, data: Any) -> None:
        if kind == "complete" and isinstance(data, list) and data:
            if self._best is None or data[0] > self._best:
                self._best, self._best_trial = data[0], number
        text = f"trial {number}: {kind}"
        if isinstance(data, list):
            text += " " + " / ".join(f"{v:.3g}" for v in data)
        elif data:
            text += f" ({str(data)[:90]})"
        self._events = (self._events + [text])[-5:]
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._live is None or (not force and now - self._last < 0.25):
            return
        self._last = now
        self._live.update(self._render())

    def _render(self) -> Any:
        d = self.driver
        done = d.finished_count()
        t = d.ledger.totals()
        lim = d.ledger.limits
        table = Table(title=self.title, show_header=False, expand=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("trials", f"{done} / {d.config.target} done, {len(d.runs)} running")
        if self._best is not None:
            table.add_row("best so far", f"{self._best:.3f} (trial {self._best_trial})")
        spend = [f"{t.spent.calls} calls" + (f" / {lim.calls}" if lim.calls else ""),
                 f"{t.spent.tokens} tokens" + (f" / {lim.tokens}" if lim.tokens else ""),
                 f"${t.spent.dollars:.4f}" + (f" / ${lim.dollars}" if lim.dollars is not None else "")]
        table.add_row("spent", ", ".join(spend))
        table.add_row("reserved (in flight)", f"{t.reserved.calls} calls, {t.reserved.tokens} tokens")
        if t.held:
            table.add_row("held back (selection, test)", f"{t.held.calls} calls, {t.held.tokens} tokens, ${t.held.dollars:.4f}")
        cached = d.totals_spent.get("cached_calls", 0)
        made = d.totals_spent.get("calls", 0)
        saved = d.totals_spent.get("saved_tokens", 0)
        table.add_row("cache", f"{cached} calls answered by the cache ({saved} tokens saved), {made} made")
        if d.lost_queries:
            table.add_row("[red]lost queries[/]", f"{d.lost_queries} left out of scores: a model call failed for good")
        elapsed = t.elapsed
        wall = f"{elapsed:.0f}s" + (f" / {lim.wall_time:.0f}s" if lim.wall_time else "")
        new_done = done - (self._done_at_start or 0)
        if new_done > 0 and done < d.config.target:
            rate = (time.monotonic() - self._started) / new_done
            wall += f", ETA ~{rate * (d.config.target - done):.0f}s"
        table.add_row("wall time", wall)
        for line in self._events:
            table.add_row("", line)
        return table
