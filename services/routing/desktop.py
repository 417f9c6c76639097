"""The agent desktop stream: one WebSocket per agent (`/v1/desktop/ws`).

Everything for a desktop is first written to the agent's feed (`desktop_message`, in the transaction that
caused it); the hub of whichever instance holds the agent's socket is woken by NOTIFY and sends what the
socket has not seen, in order, each message with its feed id. A desktop that reconnects with `?after=<last
id>` gets exactly what it missed: nothing lost, nothing twice. Without `after` it gets a `hello` snapshot
(live offers, its work) and then new messages. The desktop may send `accept`, `decline`, `presence`,
`acknowledge` (an emergency alert: the emergency team has it) and `ping`; everything else goes over REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from services.routing.domain.lifecycle import Conflict, InvalidTransition, NotAllowed, NotFound
from services.routing.domain.model import SET_PRESENCES
from services.routing.handlers.common import Actor, Tx, agent_changed
from services.routing.handlers.offers import accept_offer, decline_offer
from services.routing.handlers.paging import acknowledge
from services.routing.handlers.presence import set_presence
from services.routing.handlers.views import jsonable, work_view
from services.routing.repository import agents as agent_repo
from services.routing.repository import feed
from services.routing.repository import offers as offer_repo
from services.routing.repository import work as work_repo
from shared.auth import AuthError, Principal, authenticate_websocket, check_revoked, still_valid
from shared.clock import Clock
from shared.db import Listener, create_pool
from shared.faults import Backoff, describe, transient

log = logging.getLogger(__name__)
router = APIRouter(tags=["desktop"])

REPLACED = 4000
UNKNOWN_AGENT = 4404
TRY_AGAIN_LATER = 1013
RETRY_AFTER_S = 5
"""What a desktop is told to wait before sending again while the database is unavailable."""


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
        self, *, db: asyncpg.Pool, dsn: str, clock: Clock, origin: str, backoff: Backoff | None = None
    ) -> None:
        self.db = db
        self._own_pool = False
        self.dsn = dsn
        self.clock = clock
        self.origin = origin
        self.sessions: dict[str, Session] = {}
        self.sent = 0
        self.backoff = backoff or Backoff()
        self._listener = Listener(
            dsn,
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
        self.db = await create_pool(self.dsn, min_size=1, max_size=3)
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


async def _tx_run(websocket: WebSocket, action: Any) -> Any:
    runtime = websocket.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        tx = Tx(
            conn=conn,
            now=runtime.clock.now(),
            policy=await runtime.extras["policies"].get(conn),
            origin=runtime.extras["instance"],
        )
        return await action(tx)


@router.websocket("/v1/desktop/ws")
async def desktop_socket(websocket: WebSocket) -> None:
    principal = await authenticate_websocket(websocket, "agent", "supervisor")
    if principal is None:
        return
    hub: DesktopHub = websocket.app.state.runtime.extras["hub"]
    agent_id = principal.subject
    actor = Actor(principal.role, agent_id)
    after_param = websocket.query_params.get("after")

    async def connect(tx: Tx) -> dict[str, Any] | None:
        agent = await agent_repo.get_agent(tx.conn, agent_id, for_update=True)
        if agent is None:
            return None
        await agent_repo.set_disconnected(tx.conn, agent_id=agent_id, at=None, now=tx.now)
        await agent_changed(tx, agent)
        offers = await offer_repo.live_offers_for_agent(tx.conn, agent_id)
        works = await work_repo.works_of_agent(tx.conn, agent_id)
        # What the hello snapshot already reflects: the messages committed so far within the window.
        floor = await feed.last_desktop_id_before(
            tx.conn, agent_id=agent_id, before=tx.now - timedelta(seconds=LATE_COMMIT_WINDOW_S)
        )
        return {
            "last": await feed.last_desktop_id(tx.conn, agent_id),
            "floor": floor,
            "seen": await feed.desktop_ids_after(tx.conn, agent_id=agent_id, after=floor),
            "hello": jsonable(
                {
                    "type": "hello",
                    "agent_id": agent_id,
                    "presence": agent.presence,
                    "offers": [
                        {"offer_id": o.offer_id, "work_id": o.work_id, "expires_at": o.expires_at} for o in offers
                    ],
                    "work": [work_view(tx, w) for w in works],
                }
            ),
        }

    await websocket.accept()
    try:
        state = await _tx_run(websocket, connect)
    except Exception as exc:
        if not transient(exc):
            raise
        await websocket.close(code=TRY_AGAIN_LATER, reason="the database is unavailable; connect again shortly")
        return
    if state is None:
        await websocket.close(code=UNKNOWN_AGENT, reason=f"no agent {agent_id}; an admin creates agents first")
        return
    resume = int(after_param) if after_param and after_param.isdigit() else None
    if resume is not None:  # the desktop says what it has seen; everything above is sent
        session = Session(websocket, agent_id, floor=resume)
    else:
        session = Session(websocket, agent_id, floor=state["floor"], sent=set(state["seen"]))
        session.marks.append((time.monotonic(), session.last_sent))
    async with session.lock:
        await hub.attach(session)
        if resume is None:
            await websocket.send_json({**state["hello"], "last_id": state["last"]})
    await hub.push(agent_id)
    watch = asyncio.create_task(_watch_access(websocket, principal))
    try:
        while True:
            message = await websocket.receive_json()
            reply = await _handle(websocket, actor, message)
            async with session.lock:
                await websocket.send_json(reply)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        watch.cancel()
        if hub.detach(session):

            async def disconnect(tx: Tx) -> None:
                agent = await agent_repo.get_agent(tx.conn, agent_id, for_update=True)
                if agent is not None:
                    await agent_repo.set_disconnected(tx.conn, agent_id=agent_id, at=tx.now, now=tx.now)
                    await agent_changed(tx, agent)

            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await _tx_run(websocket, disconnect)


ACCESS_ENDED = 4401


async def _watch_access(websocket: WebSocket, principal: Principal) -> None:
    """Close the socket once its token expires or its subject is revoked: a socket outlives any request, so its
    credentials are checked again every `desktop_access_recheck_s` (within a minute with the services' 30 s
    revocation cache)."""
    state = websocket.app.state
    every = float(getattr(state.settings, "desktop_access_recheck_s", 30.0))
    while True:
        await asyncio.sleep(every)
        try:
            await check_revoked(state, principal)
            why = still_valid(state, principal, now=state.runtime.clock.now())
        except AuthError as exc:
            why = str(exc)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            continue  # the database is away: the socket stays and is checked again next round
        if why is not None:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(code=ACCESS_ENDED, reason=why[:120])
            return


async def _handle(websocket: WebSocket, actor: Actor, message: Any) -> dict[str, Any]:
    kind = message.get("type") if isinstance(message, dict) else None
    ref = message.get("ref") if isinstance(message, dict) else None

    def error(detail: str) -> dict[str, Any]:
        return {"type": "error", "ref": ref, "detail": detail}

    try:
        if kind == "ping":
            return {"type": "pong", "ref": ref}
        if kind in ("accept", "decline"):
            offer_id = uuid.UUID(str(message.get("offer_id")))

            async def act(tx: Tx) -> dict[str, Any]:
                if kind == "accept":
                    work = await accept_offer(tx, offer_id=offer_id, actor=actor)
                    return {
                        "type": "accepted",
                        "ref": ref,
                        "offer_id": str(offer_id),
                        "work_id": str(work.work_id),
                    }
                await decline_offer(tx, offer_id=offer_id, reason=message.get("reason"), actor=actor)
                return {"type": "declined", "ref": ref, "offer_id": str(offer_id)}

            result: dict[str, Any] = await _tx_run(websocket, act)
            return result
        if kind == "presence":
            presence = message.get("presence")
            if presence not in SET_PRESENCES:
                return error(f"presence must be one of {list(SET_PRESENCES)}")

            async def change(tx: Tx) -> dict[str, Any]:
                agent = await agent_repo.get_agent(tx.conn, actor.subject, for_update=True)
                if agent is None:
                    raise NotFound(f"no agent {actor.subject}")
                await set_presence(tx, agent, presence=presence, reason=message.get("reason"), actor=actor)
                return {"type": "presence_set", "ref": ref, "presence": presence}

            changed: dict[str, Any] = await _tx_run(websocket, change)
            return changed
        if kind == "acknowledge":
            contact_id = uuid.UUID(str(message.get("contact_id")))

            async def ack(tx: Tx) -> dict[str, Any]:
                page = await acknowledge(tx, contact_id, actor)
                return {"type": "acknowledged", "ref": ref, "contact_id": str(contact_id),
                        "paged": page.paged_at is not None}  # fmt: skip

            acked: dict[str, Any] = await _tx_run(websocket, ack)
            return acked
    except (NotFound, NotAllowed, Conflict, InvalidTransition, ValueError) as exc:
        return error(str(exc))
    except Exception as exc:
        if not transient(exc):
            raise
        # Nothing was done (the transaction did not commit): the desktop sends it again, as an adapter would.
        busy = error("the database is unavailable or busy; send it again shortly")
        return {**busy, "retry_after": RETRY_AFTER_S}
    return error(f"unknown message type {kind!r}; use accept, decline, presence, acknowledge or ping")
