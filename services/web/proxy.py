"""Forwarding `/api/<service>/v1/…` to the five services, and the agent desktop's WebSocket to routing.

The browser sends its session cookie; the service gets the session's bearer token instead (cookies, the CSRF
token and any Authorization header from the page stay here) and never sets cookies on this origin. Answers
stream back as they come. A desktop socket is two sockets joined: what routing sends goes to the page in order,
unchanged, and routing's close codes come through, so `?after=<last id>` resumes exactly as it does on routing.
A session's sockets close when it signs out or runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import httpx
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from services.web.api import current_session, deps_of, is_https, session_cookie
from services.web.config import UPSTREAMS
from services.web.domain import NotForwarded, request_headers, response_headers, same_origin, split_api_path
from services.web.handlers import NotSignedIn, bearer_of, session_of
from shared.errors import Problem
from shared.telemetry import current_trace_carrier

log = logging.getLogger(__name__)
router = APIRouter()
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
SIGNED_OUT = 4401
FORBIDDEN = 4403
UPSTREAM_GONE = 1013
"""Close codes the page sees: sign in again; not allowed; try again later (routing unreachable)."""


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Payload too large", f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Payload too large", f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.api_route("/api/{service}/{path:path}", methods=METHODS, include_in_schema=False)
async def forward(request: Request, service: str, path: str) -> Response:
    deps = deps_of(request)
    try:
        service, rest = split_api_path(request.scope.get("raw_path") or request.url.path.encode(), UPSTREAMS)
    except NotForwarded as exc:
        raise Problem(404, "Not found", str(exc), kind="not-forwarded") from exc
    session = await current_session(request)
    try:
        token = await bearer_of(deps, session)
    except NotSignedIn as exc:
        raise Problem(401, "Unauthorized", str(exc), kind="not-signed-in") from exc
    body = await _body(request, deps.settings.max_request_bytes)
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = f"{deps.settings.upstream(service)}{rest}" + (f"?{query}" if query else "")
    headers = [
        *request_headers(list(request.headers.items())),
        ("authorization", f"Bearer {token}"),
        *current_trace_carrier().items(),
    ]
    http: httpx.AsyncClient = request.app.state.upstream_http
    outgoing = http.build_request(request.method, httpx.URL(url), headers=headers, content=body or None)
    try:
        answer = await http.send(outgoing, stream=True)
    except httpx.TimeoutException as exc:
        raise Problem(504, "Gateway timeout", f"{service} did not answer in time", kind="upstream-slow") from exc
    except httpx.HTTPError as exc:
        raise Problem(502, "Bad gateway", f"{service} cannot be reached", kind="upstream-unreachable") from exc
    return StreamingResponse(
        answer.aiter_raw(),
        status_code=answer.status_code,
        headers=dict(response_headers(list(answer.headers.multi_items()))),
        background=BackgroundTask(answer.aclose),
    )


# --- the desktop socket ------------------------------------------------------------------------------------------


class Sockets:
    """The open desktop sockets of each session on this gateway, so a sign-out closes them."""

    def __init__(self) -> None:
        self.by_session: dict[bytes, set[asyncio.Event]] = defaultdict(set)

    def add(self, session_digest: bytes) -> asyncio.Event:
        ended = asyncio.Event()
        self.by_session[session_digest].add(ended)
        return ended

    def remove(self, session_digest: bytes, ended: asyncio.Event) -> None:
        events = self.by_session.get(session_digest)
        if events is not None:
            events.discard(ended)
            if not events:
                del self.by_session[session_digest]

    def end(self, session_digest: bytes) -> None:
        for ended in self.by_session.get(session_digest, set()):
            ended.set()


@router.websocket("/api/routing/v1/desktop/ws")
async def desktop(websocket: WebSocket) -> None:
    deps = deps_of(websocket)
    secure = is_https(websocket)
    host = websocket.headers.get("host", "")
    if not same_origin(websocket.headers.get("origin"), scheme="https" if secure else "http", host=host):
        await websocket.close(code=FORBIDDEN, reason="another site may not open this socket")
        return
    session = await session_of(deps, session_cookie(websocket))
    token: str | None = None
    if session is not None and session.role in ("agent", "supervisor"):
        with contextlib.suppress(NotSignedIn):
            token = await bearer_of(deps, session)
    if session is None or token is None:
        await websocket.accept()
        await websocket.close(code=SIGNED_OUT, reason="sign in again")
        return
    after = websocket.query_params.get("after", "")
    url = deps.settings.upstream("routing") or ""
    url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/v1/desktop/ws"
    url += f"?after={after}" if after.isdigit() else ""
    try:
        upstream = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}", **current_trace_carrier()},
            open_timeout=10,
            max_size=4 * 1024 * 1024,
            ping_interval=20,
            compression=None,
        )
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
        log.warning("desktop socket: routing refused or unreachable (%s %s)", type(exc).__name__, status or "")
        await websocket.accept()
        await websocket.close(code=UPSTREAM_GONE, reason="routing cannot be reached; try again")
        return
    await websocket.accept()
    sockets: Sockets = websocket.app.state.sockets
    ended = sockets.add(session.session_digest)
    remaining = (session.expires_at - deps.clock.now()).total_seconds()
    try:
        code, reason = await _join(websocket, upstream, ended, max(1.0, remaining))
    finally:
        sockets.remove(session.session_digest, ended)
        with contextlib.suppress(Exception):
            await upstream.close()
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=code, reason=reason)


async def _join(
    websocket: WebSocket, upstream: ClientConnection, ended: asyncio.Event, lifetime_s: float
) -> tuple[int, str]:
    """Carry messages both ways until either side closes, the session ends or its lifetime runs out; the close
    code and reason for the page."""

    async def down() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in upstream:
                if isinstance(message, str):
                    await websocket.send_text(message)
                else:
                    await websocket.send_bytes(message)

    async def up() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])

    session_end = asyncio.create_task(asyncio.wait_for(ended.wait(), lifetime_s))
    tasks = [asyncio.create_task(down()), asyncio.create_task(up()), session_end]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(
                asyncio.CancelledError, TimeoutError, ConnectionClosed, WebSocketDisconnect, RuntimeError
            ):
                await task
    if session_end.done() and not session_end.cancelled():
        return SIGNED_OUT, "signed out"
    closed = upstream.close_code
    if closed is None:
        return 1000, ""
    return (closed if closed in (1000, 1001) or 3000 <= closed < 5000 else 1011), upstream.close_reason or ""
