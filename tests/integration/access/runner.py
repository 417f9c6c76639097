"""Runs one matrix row: calls its route as every kind of caller and judges each answer against the row."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from services.web.domain import SAFE_METHODS
from tests.integration.access.matrix import RUN_ORDER, Actor, Outcome, Row
from tests.integration.access.world import AUDITED_READS, PII, SUBJECTS, Session, World


@dataclass(frozen=True)
class Cell:
    row: Row
    actor: Actor
    expected: Outcome
    got: str
    """What happened: the status (and where a redirect went), or the socket's close code."""
    wrong: str | None
    """Why the answer breaks the row; None when it keeps it."""

    def __str__(self) -> str:
        return f"{self.row.name} as {self.actor}: expected {self.expected}, got {self.got} — {self.wrong}"


@dataclass
class Tally:
    """What the run checked, for the summary line."""

    rows: int = 0
    cells: Counter[Outcome] = field(default_factory=Counter)
    seconds: float = 0.0


TALLY = Tally()


async def run_row(world: World, row: Row) -> list[Cell]:
    ids: dict[str, str] = dict(row.params)
    if row.fresh in ("work", "resolved_work"):
        ids["work_id"] = await world.fresh_work(resolved=row.fresh == "resolved_work")
    elif row.fresh == "offer":
        ids["offer_id"] = await world.fresh_offer()
    elif row.fresh == "article":
        ids["article_id"] = await world.fresh_article()
    cells = []
    for actor in RUN_ORDER:
        expected = row.expect[actor]
        async with asyncio.timeout(30):
            if row.method == "WS":
                got = await _socket(world, row, actor, ids)
                wrong = None if got == expected else "another close"
            else:
                got, wrong = await _http(world, row, actor, ids, expected)
        cells.append(Cell(row, actor, expected, got, wrong))
    return cells


def _headers(world: World, row: Row, actor: Actor, session: Session | None) -> dict[str, str]:
    if row.service != "web":
        return world.bearer(actor)
    headers = {"Origin": world.web_url}
    if session is None:
        return {**headers, **world.bearer(actor)}  # an adapter's key: nothing the gateway takes
    headers["Cookie"] = f"sb_session={session.cookie}"
    if row.method not in SAFE_METHODS:
        headers["X-CSRF-Token"] = session.csrf
    return headers


async def _session(world: World, row: Row, actor: Actor) -> Session | None:
    if row.service != "web" or actor not in SUBJECTS:
        return None
    return await world.sign_in(actor) if row.fresh == "session" else world.sessions[actor]


async def _http(
    world: World, row: Row, actor: Actor, ids: dict[str, str], expected: Outcome
) -> tuple[str, str | None]:
    client = world.client(row.service)
    client.cookies.clear()
    headers = _headers(world, row, actor, await _session(world, row, actor))
    audited = expected == "audited"
    if audited:
        assert row.service in AUDITED_READS, f"{row.name}: {row.service} keeps no audit of reads"
        before = await world.audit_count(row.service)
    response = await client.request(
        row.method,
        world.fill(row.path, ids),
        params=world.fill(dict(row.query), ids),
        json=world.fill(row.json, ids),
        headers=headers,
    )
    status = response.status_code
    location = response.headers.get("location", "")
    got = f"{status} {location}".strip()
    if status >= 500:
        return got, "a server error"
    answered = 200 <= status < 300
    text = response.text if expected in ("audited", "masked", "hidden") else ""
    shown = [marker for marker in PII if marker in text]
    named = row.about is None or world.fill(row.about, ids) in text
    match expected:
        case "public" | "allowed":
            return got, "refused" if status in (401, 403) else None
        case "audited":
            if not answered or not shown or not named:
                return got, f"the object's personal data is not in the answer: {text[:200]}"
            return got, None if await world.audit_count(row.service) > before else "the read is not audited"
        case "masked":
            if not answered or not named:
                return got, f"the object is not in the answer: {text[:200]}"
            return got, f"{shown} in the answer" if shown else None
        case "401" | "403":
            return got, None if str(status) == expected else "another status"
        case "hidden":
            if status in (403, 404) or (answered and row.about is not None and not named):
                return got, None
            return got, "not hidden"
        case "signin":
            return got, None if status in (302, 303) and location.startswith("/signin") else "no sign-in redirect"
        case "elsewhere":
            return got, None if status in (302, 303) and not location.startswith("/signin") else "not redirected"
    return got, f"{expected} is no outcome of HTTP routes"


async def _socket(world: World, row: Row, actor: Actor, ids: dict[str, str]) -> str:
    """`ws:open` once the socket says hello, `ws:<code>` when it is closed, `http:<status>` when the handshake
    is refused."""
    session = await _session(world, row, actor)
    base = world.web_url if row.service == "web" else world.routing.base_url
    url = base.replace("http://", "ws://", 1) + world.fill(row.path, ids)
    try:
        async with connect(
            url, additional_headers=_headers(world, row, actor, session), open_timeout=10
        ) as socket:
            first: Any = json.loads(await socket.recv())
            return "ws:open" if first.get("type") == "hello" else f"ws:first message {first.get('type')}"
    except ConnectionClosed as exc:
        return f"ws:{exc.rcvd.code}" if exc.rcvd is not None else "ws:closed without a code"
    except InvalidStatus as exc:
        return f"http:{exc.response.status_code}"
