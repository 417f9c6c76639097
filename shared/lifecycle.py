"""Background tasks that fail loudly: a task that dies is logged with its error and makes the service unready.

Nothing here restarts a dead task behind anyone's back; the orchestrator (or an operator) restarts the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    name: str
    task: asyncio.Task[None]
    stop: Callable[[], None] | None
    error: str | None = None


@dataclass
class BackgroundTasks:
    entries: dict[str, _Entry] = field(default_factory=dict)

    def start(self, name: str, coro: Coroutine[Any, Any, None], *, stop: Callable[[], None] | None = None) -> None:
        if name in self.entries:
            raise ValueError(f"background task {name} started twice")
        task = asyncio.create_task(coro, name=name)
        entry = _Entry(name, task, stop)
        self.entries[name] = entry
        task.add_done_callback(lambda t: self._on_done(entry, t))

    @staticmethod
    def _on_done(entry: _Entry, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            entry.error = entry.error or "cancelled"
            return
        exc = task.exception()
        if exc is not None:
            entry.error = f"{type(exc).__name__}: {exc}"
            log.critical("background task %s died: %s", entry.name, entry.error, exc_info=exc)
        else:
            entry.error = entry.error or "stopped"

    def names(self) -> list[str]:
        return list(self.entries)

    def failures(self) -> dict[str, str]:
        """Tasks that are no longer running, with why. Empty while everything runs."""
        return {name: e.error or "stopped" for name, e in self.entries.items() if e.task.done()}

    async def stop_all(self, *, grace_s: float = 10.0) -> None:
        """Ask every task to finish its current work, wait up to `grace_s`, then cancel what is left."""
        for entry in self.entries.values():
            if entry.stop is not None and not entry.task.done():
                entry.error = "stopped"
                entry.stop()
        tasks = [e.task for e in self.entries.values()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
