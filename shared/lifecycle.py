"""Background tasks that fail loudly and come back.

A task is a loop that runs until it is asked to stop. It rides out transient failures itself (`shared.faults`)
and says meanwhile what it is waiting for (`trouble`). A task that still dies is logged with its error,
counted, and started again after a backoff, from what the database holds, as a process restart would; while it
is down, and while any task reports trouble, `/health/ready` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from shared.faults import Backoff, pause
from shared.redact import describe

log = logging.getLogger(__name__)

Run = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class _Entry:
    name: str
    run: Run
    stop: Callable[[], None] | None
    trouble: Callable[[], str | None] | None
    task: asyncio.Task[None] | None = None
    error: str | None = None
    """Why it last died (or how it ended)."""
    restarts: int = 0
    restart_at: float | None = None
    """When it starts again (`time.monotonic()`), while it is down."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


class BackgroundTasks:
    def __init__(self, *, restart_initial_s: float = 0.5, restart_max_s: float = 30.0, healthy_s: float = 60.0):
        self.restart_initial_s = restart_initial_s
        self.restart_max_s = restart_max_s
        self.healthy_s = healthy_s
        """A task that ran this long before dying starts again after the shortest delay."""
        self.entries: dict[str, _Entry] = {}

    def start(
        self,
        name: str,
        run: Run,
        *,
        stop: Callable[[], None] | None = None,
        trouble: Callable[[], str | None] | None = None,
    ) -> None:
        """Run `run()` until `stop` is called, starting it again whenever it dies. `trouble()` says what the
        task is waiting for (None while all is well)."""
        if name in self.entries:
            raise ValueError(f"background task {name} started twice")
        entry = _Entry(name, run, stop, trouble)
        self.entries[name] = entry
        entry.task = asyncio.create_task(self._supervise(entry), name=name)

    async def _supervise(self, entry: _Entry) -> None:
        backoff = Backoff(self.restart_initial_s, self.restart_max_s)
        clock = time.monotonic
        while True:
            began = clock()
            try:
                await entry.run()
            except asyncio.CancelledError:
                entry.error = entry.error or "cancelled"
                raise
            except Exception as exc:  # the runner's one job: log, count and restart what died
                entry.error = describe(exc)
                log.critical("background task %s died: %s", entry.name, entry.error, exc_info=exc)
            else:
                if entry.stopping.is_set():
                    entry.error = "stopped"
                    return
                entry.error = "ended without being asked to stop"
                log.critical("background task %s %s", entry.name, entry.error)
            if entry.stopping.is_set():
                return
            if clock() - began >= self.healthy_s:
                backoff.reset()
            delay = backoff.next()
            entry.restart_at = clock() + delay
            if await pause(entry.stopping, delay):
                return
            entry.restart_at = None
            entry.restarts += 1
            log.warning("background task %s: restart %d (it died of %s)", entry.name, entry.restarts, entry.error)

    def names(self) -> list[str]:
        return list(self.entries)

    def failures(self) -> dict[str, str]:
        """Tasks that are not running, with why: down until their restart, or ended. Empty while all run."""
        now = time.monotonic()
        found: dict[str, str] = {}
        for name, entry in self.entries.items():
            if entry.task is not None and entry.task.done():
                found[name] = entry.error or "stopped"
            elif entry.restart_at is not None:
                due = max(entry.restart_at - now, 0.0)
                found[name] = f"{entry.error} (restart {entry.restarts + 1} in {due:.1f}s)"
        return found

    def troubles(self) -> dict[str, str]:
        """What running tasks are riding out (a database away, a broker down), by task."""
        found: dict[str, str] = {}
        for name, entry in self.entries.items():
            if entry.trouble is not None and entry.restart_at is None and not (entry.task and entry.task.done()):
                trouble = entry.trouble()
                if trouble:
                    found[name] = trouble
        return found

    def restarts(self) -> dict[str, int]:
        """How often each task was started again after it died."""
        return {name: entry.restarts for name, entry in self.entries.items()}

    def request_stop(self) -> None:
        """Ask every task to finish its current work (a task ending from now on is not restarted)."""
        for entry in self.entries.values():
            if not entry.stopping.is_set():
                entry.stopping.set()
                if entry.stop is not None and entry.task is not None and not entry.task.done():
                    entry.stop()

    async def stop_all(self, *, grace_s: float = 10.0) -> None:
        """Ask every task to finish its current work, wait up to `grace_s`, then cancel what is left."""
        self.request_stop()
        tasks = [e.task for e in self.entries.values() if e.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
