"""The desktop hub: the push machinery that drains each agent's feed into the agent's socket on this instance.

Everything for a desktop is first written to the agent's feed (`desktop_message`, in the transaction that
caused it); the hub of whichever instance holds the agent's socket is woken by NOTIFY and sends what the
socket has not seen, in order, each message with its feed id. A desktop that reconnects with `?after=<last
id>` gets exactly what it missed: nothing lost, nothing twice. The socket and its protocol are `api/desktop.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from fastapi import WebSocket, WebSocketDisconnect

from services.routing.handlers.views import jsonable
from services.routing.repository import feed
from shared.clock import Clock
from shared.db import Listener, create_pool
from shared.faults import Backoff
from shared.redact import describe

log = logging.getLogger(__name__)

REPLACED = 4000
"""Close code of a socket another desktop of the same agent replaced."""

LATE_COMMIT_WINDOW_S = 60.0
"""How long a feed message may commit after a later one and still reach the desktop (feed ids are taken at
insert, so a long transaction's message can appear below ids already sent). Longer than any routing
transaction may stay open."""


@dataclass(eq=False)
class Session:
    """One desktop socket. It is sent every feed message above `floor` it has not been sent yet (`sent`); the
    floor trails the newest id sent by `LATE_COMMIT_WINDOW_S`, so a message that commits late is still sent."""

    websocket: WebSocket
    agent_id: str
    floor: int
    sent: set[int] = field(default_factory=set)
    marks: deque[tuple[float, int]] = field(default_factory=deque)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    @property
    def last_sent(self) -> int:
        return max(self.sent, default=self.floor)

    def delivered(self, message_id: int, at: float) -> None:
        self.sent.add(message_id)
        self.marks.append((at, self.last_sent))

    def settle(self, now: float) -> None:
        """Raise the floor to what was sent before the window; forget the ids below it."""
        while self.marks and self.marks[0][0] < now - LATE_COMMIT_WINDOW_S:
            self.floor = max(self.floor, self.marks.popleft()[1])
        self.sent = {i for i in self.sent if i > self.floor}


class DesktopHub:
    """The sockets of this instance, and the pusher that drains each agent's feed into its socket.

    NOTIFY is how the hub learns of new messages, so `listen` keeps its LISTEN connection open: once it is open
    again after a loss (a database restart), every open desktop is sent what it missed meanwhile."""

    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        dsn: str,
        listen_dsn: str | None = None,
        clock: Clock,
        origin: str,
        backoff: Backoff | None = None,
        statement_cache_size: int = 100,
    ) -> None:
        self.db = db
        self._own_pool = False
        self.dsn = dsn
        self.statement_cache_size = statement_cache_size
        self.clock = clock
        self.origin = origin
        self.sessions: dict[str, Session] = {}
        self.sent = 0
        self.backoff = backoff or Backoff()
        self._listener = Listener(
            listen_dsn or dsn,
            feed.DESKTOP_CHANNEL,
            self._on_notify,
            what="desktop hub",
            backoff=Backoff(self.backoff.initial_s, self.backoff.max_s),
        )
        self._stop = asyncio.Event()
        self._due: set[str] = set()
        self._pusher: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # Connections of its own for pushes: a desktop never waits behind the consumer's partition batches.
        self.db = await create_pool(
            self.dsn, min_size=1, max_size=3, statement_cache_size=self.statement_cache_size
        )
        self._own_pool = True
        if not await self._listener.ensure():
            log.warning("desktop hub: no LISTEN connection yet; desktops get messages once there is one")

    async def listen(self) -> None:
        """Keep the LISTEN connection open (checked every `keepalive_s`, reopened with backoff when lost) until
        the hub closes; each time it opens, push every open desktop what it has not been sent."""
        try:
            while not self._stop.is_set():
                if await self._listener.ensure():
                    self._push_later(set(self.sessions))
                wait = self._listener.retry_in()
                await self._until_lost_or_stopped(self._listener.keepalive_s if wait is None else wait)
        finally:
            await self._listener.close()

    async def _until_lost_or_stopped(self, seconds: float) -> None:
        waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._listener.lost.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def stop(self) -> None:
        self._stop.set()

    def trouble(self) -> str | None:
        return self._listener.trouble

    async def close(self) -> None:
        self._stop.set()
        for session in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await session.websocket.close(code=1001)
        await self._listener.close()
        if self._pusher is not None:
            self._pusher.cancel()
        for task in list(self._deliveries):
            task.cancel()
        if self._own_pool:
            try:
                await asyncio.wait_for(self.db.close(), 5)
            except Exception:  # noqa: BLE001 — a connection still busy must not hold up the shutdown
                self.db.terminate()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, agent_id: object) -> None:
        assert isinstance(agent_id, str)
        if agent_id in self.sessions:
            self._push_later({agent_id})

    def _push_later(self, agent_ids: set[str]) -> None:
        if not agent_ids:
            return
        self._due |= agent_ids
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.create_task(self._push_due())

    async def _push_due(self) -> None:
        """Read the feed of every agent told since the last round with one query, then hand each socket its
        messages in a task of its own: a slow desktop never holds up the others or the next round."""
        while self._due and not self._stop.is_set():
            due, self._due = self._due, set()
            try:
                found = await self._fetch(due)
            except Exception as exc:  # noqa: BLE001 — the pusher must outlive any one round's failure
                # Nothing is lost: the messages stay above the sockets' floors; this round is tried again.
                self._due |= due
                delay = self.backoff.next()
                log.warning(
                    "desktop hub: reading the feed of %d desktops failed (%s); again in %.1fs",
                    len(due),
                    describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            self.backoff.reset()
            for session, messages in found:
                if messages:
                    task = asyncio.create_task(self._deliver(session, messages))
                    self._deliveries.add(task)
                    task.add_done_callback(self._deliveries.discard)

    async def push(self, agent_id: str) -> None:
        """Send the agent's socket what it has not been sent yet, now (a connect, a resume)."""
        for session, messages in await self._fetch([agent_id]):
            await self._deliver(session, messages)

    async def _fetch(self, agent_ids: Iterable[str]) -> list[tuple[Session, list[dict[str, Any]]]]:
        """Each open session's feed messages above its floor that it has not been sent, in one query."""
        sessions = [s for a in set(agent_ids) if (s := self.sessions.get(a)) is not None and not s.closed]
        if not sessions:
            return []
        now = time.monotonic()
        for session in sessions:
            session.settle(now)
        async with self.db.acquire() as conn:
            found = await feed.desktops_after(conn, floors={s.agent_id: (s.floor, set(s.sent)) for s in sessions})
        return [(s, found.get(s.agent_id, [])) for s in sessions]

    async def _deliver(self, session: Session, messages: list[dict[str, Any]]) -> None:
        """Send `messages` in order, under the session's lock, skipping any another push sent meanwhile."""
        async with session.lock:
            for m in messages:
                message_id = m["desktop_message_id"]
                if session.closed:
                    return
                if message_id in session.sent or message_id <= session.floor:
                    continue
                try:
                    body = {"id": message_id, "type": m["kind"], "at": m["created_at"], **m["body"]}
                    await session.websocket.send_json(jsonable(body))
                except (WebSocketDisconnect, RuntimeError, OSError):
                    session.closed = True
                    return
                session.delivered(message_id, time.monotonic())
                self.sent += 1

    async def attach(self, session: Session) -> None:
        old = self.sessions.get(session.agent_id)
        self.sessions[session.agent_id] = session
        if old is not None and not old.closed:
            old.closed = True
            with contextlib.suppress(Exception):
                await old.websocket.close(code=REPLACED, reason="another desktop connected for this agent")

    def detach(self, session: Session) -> bool:
        """True when this was the agent's current socket (so the agent is now disconnected)."""
        session.closed = True
        if self.sessions.get(session.agent_id) is session:
            del self.sessions[session.agent_id]
            return True
        return False
