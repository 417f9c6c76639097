"""The agent desktop socket (`/v1/desktop/ws`, one per agent) and its protocol; the hub (`services.routing.hub`)
pushes the agent's feed into it.

Without `?after=<last id>` a desktop gets a `hello` snapshot (live offers, its work) and then new messages; with
it, exactly what it missed. The desktop may send `accept`, `decline`, `presence`, `acknowledge` (an emergency
alert: the emergency team has it) and `ping`; each runs as one transaction over the handlers, and everything
else goes over REST. The messages' types are `services.routing.desktop_protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from services.routing.api.common import RoutingState
from services.routing.domain.lifecycle import Conflict, InvalidTransition, NotAllowed, NotFound
from services.routing.domain.model import SET_PRESENCES
from services.routing.handlers.common import Tx
from services.routing.handlers.offers import accept_offer, decline_offer
from services.routing.handlers.paging import acknowledge
from services.routing.handlers.presence import desktop_connected, desktop_disconnected, set_presence
from services.routing.hub import LATE_COMMIT_WINDOW_S, Session
from services.routing.repository import agents as agent_repo
from services.routing.state import Routing
from shared.auth import AuthError, Principal, authenticate_websocket, check_revoked, still_valid
from shared.faults import transient
from shared.tx import Actor

router = APIRouter(tags=["desktop"])
T = TypeVar("T")

UNKNOWN_AGENT = 4404
TRY_AGAIN_LATER = 1013
RETRY_AFTER_S = 5
"""What a desktop is told to wait before sending again while the database is unavailable."""


async def _tx_run(routing: Routing, action: Callable[[Tx], Awaitable[T]]) -> T:
    """`action` in a transaction of its own (the socket's counterpart of a route's `transaction`)."""
    async with routing.pool.acquire() as conn, conn.transaction():
        tx = Tx(
            conn=conn, now=routing.clock.now(), policy=await routing.policies.get(conn), origin=routing.instance
        )
        return await action(tx)


@router.websocket("/v1/desktop/ws")
async def desktop_socket(websocket: WebSocket, routing: RoutingState) -> None:
    principal = await authenticate_websocket(websocket, "agent", "supervisor")
    if principal is None:
        return
    hub = routing.hub
    agent_id = principal.subject
    actor = Actor(principal.role, agent_id)
    after_param = websocket.query_params.get("after")

    await websocket.accept()
    try:
        state = await _tx_run(routing, lambda tx: desktop_connected(tx, agent_id, window_s=LATE_COMMIT_WINDOW_S))
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
        session = Session(websocket, agent_id, floor=state.floor, sent=set(state.seen))
        session.marks.append((time.monotonic(), session.last_sent))
    async with session.lock:
        await hub.attach(session)
        if resume is None:
            await websocket.send_json({**state.hello, "last_id": state.last})
    await hub.push(agent_id)
    watch = asyncio.create_task(_watch_access(websocket, routing, principal))
    try:
        while True:
            message = await websocket.receive_json()
            reply = await _handle(routing, actor, message)
            async with session.lock:
                await websocket.send_json(reply)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        watch.cancel()
        if hub.detach(session):
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await _tx_run(routing, lambda tx: desktop_disconnected(tx, agent_id))


ACCESS_ENDED = 4401


async def _watch_access(websocket: WebSocket, routing: Routing, principal: Principal) -> None:
    """Close the socket once its token expires or its subject is revoked: a socket outlives any request, so its
    credentials are checked again every `desktop_access_recheck_s` (within a minute with the services' 30 s
    revocation cache)."""
    auth = websocket.app.state  # the shared key cache and token verifier, as every route's auth reads them
    while True:
        await asyncio.sleep(routing.settings.desktop_access_recheck_s)
        try:
            await check_revoked(auth, principal)
            why = still_valid(auth, principal, now=routing.clock.now())
        except AuthError as exc:
            why = str(exc)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            continue  # the database is away: the socket stays and is checked again next round
        if why is not None:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(code=ACCESS_ENDED, reason=why[:120])
            return


async def _handle(routing: Routing, actor: Actor, message: Any) -> dict[str, Any]:
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

            result: dict[str, Any] = await _tx_run(routing, act)
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

            changed: dict[str, Any] = await _tx_run(routing, change)
            return changed
        if kind == "acknowledge":
            contact_id = uuid.UUID(str(message.get("contact_id")))

            async def ack(tx: Tx) -> dict[str, Any]:
                page = await acknowledge(tx, contact_id, actor)
                return {"type": "acknowledged", "ref": ref, "contact_id": str(contact_id),
                        "paged": page.paged_at is not None}  # fmt: skip

            acked: dict[str, Any] = await _tx_run(routing, ack)
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
