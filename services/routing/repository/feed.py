"""What leaves a transaction besides events: desktop messages, change notices to pool owners and the audit log.
The pool leases that fence a deposed instance are `leases`."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.db import Conn

CHANGE_CHANNEL = "routing_change"
DESKTOP_CHANNEL = "routing_desktop"

INSERT_DESKTOP = """
WITH staged AS (
    INSERT INTO desktop_message (agent_id, kind, body, created_at) VALUES ($1, $2, $3, $4)
    RETURNING desktop_message_id
)
SELECT desktop_message_id, pg_notify('routing_desktop', $1) FROM staged
"""


async def to_desktop(conn: Conn, *, agent_id: str, kind: str, body: dict[str, Any], now: datetime) -> int:
    """Queue a message for the agent's desktop; sockets are told after the commit (NOTIFY)."""
    row = await conn.fetchrow(INSERT_DESKTOP, agent_id, kind, body, now)
    assert row is not None
    message_id: int = row["desktop_message_id"]
    return message_id


INSERT_DESKTOPS = """
WITH staged AS (
    INSERT INTO desktop_message (agent_id, kind, body, created_at)
    SELECT u.agent_id, u.kind, u.body, $4 FROM unnest($1::text[], $2::text[], $3::jsonb[]) WITH ORDINALITY
        AS u(agent_id, kind, body, n)
    ORDER BY u.n
    RETURNING agent_id
)
SELECT count(pg_notify('routing_desktop', agent_id)) FROM (SELECT DISTINCT agent_id FROM staged) AS told
"""


async def to_desktops(conn: Conn, *, messages: Sequence[tuple[str, str, dict[str, Any]]], now: datetime) -> None:
    """Several messages (agent, kind, body) in one statement, in the given order; each agent told once."""
    await conn.execute(
        INSERT_DESKTOPS, [m[0] for m in messages], [m[1] for m in messages], [m[2] for m in messages], now
    )


SELECT_DESKTOP = """
SELECT desktop_message_id, kind, body, created_at FROM desktop_message
WHERE agent_id = $1 AND desktop_message_id > $2 AND desktop_message_id <> ALL($3::bigint[])
ORDER BY desktop_message_id LIMIT $4
"""


async def desktop_after(
    conn: Conn, *, agent_id: str, after: int, sent: Collection[int] = (), limit: int = 500
) -> list[dict[str, Any]]:
    """The agent's messages above `after` that are not among `sent`, in id order."""
    return [dict(r) for r in await conn.fetch(SELECT_DESKTOP, agent_id, after, list(sent), limit)]


SELECT_DESKTOPS = """
SELECT f.agent_id, m.desktop_message_id, m.kind, m.body, m.created_at
FROM unnest($1::text[], $2::bigint[], $3::text[]) AS f(agent_id, after, sent)
CROSS JOIN LATERAL (
    SELECT desktop_message_id, kind, body, created_at FROM desktop_message
    WHERE agent_id = f.agent_id AND desktop_message_id > f.after AND desktop_message_id <> ALL(f.sent::bigint[])
    ORDER BY desktop_message_id LIMIT $4
) AS m
ORDER BY f.agent_id, m.desktop_message_id
"""


async def desktops_after(
    conn: Conn, *, floors: Mapping[str, tuple[int, Collection[int]]], limit: int = 500
) -> dict[str, list[dict[str, Any]]]:
    """`desktop_after` for several agents in one query: for each agent (floor, ids sent), its messages above
    the floor not among those sent, in id order. (Each agent's own ids: one list of all agents' would be
    compared with every candidate row.)"""
    rows = await conn.fetch(
        SELECT_DESKTOPS,
        list(floors),
        [after for after, _ in floors.values()],
        ["{" + ",".join(map(str, sorted(sent))) + "}" for _, sent in floors.values()],
        limit,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        message = dict(row)
        out.setdefault(message.pop("agent_id"), []).append(message)
    return out


SELECT_RECENT_IDS = """
SELECT desktop_message_id FROM desktop_message WHERE agent_id = $1 AND desktop_message_id > $2
"""


async def desktop_ids_after(conn: Conn, *, agent_id: str, after: int) -> list[int]:
    return [int(r["desktop_message_id"]) for r in await conn.fetch(SELECT_RECENT_IDS, agent_id, after)]


SELECT_ID_BEFORE = """
SELECT coalesce(max(desktop_message_id), 0) FROM desktop_message WHERE agent_id = $1 AND created_at < $2
"""


async def last_desktop_id_before(conn: Conn, *, agent_id: str, before: datetime) -> int:
    return int(await conn.fetchval(SELECT_ID_BEFORE, agent_id, before))


SELECT_LAST_DESKTOP = "SELECT coalesce(max(desktop_message_id), 0) FROM desktop_message WHERE agent_id = $1"


async def last_desktop_id(conn: Conn, agent_id: str) -> int:
    return int(await conn.fetchval(SELECT_LAST_DESKTOP, agent_id))


PURGE_DESKTOP = "DELETE FROM desktop_message WHERE created_at < $1"


async def purge_desktop(conn: Conn, *, before: datetime) -> int:
    return int((await conn.execute(PURGE_DESKTOP, before)).rsplit(" ", 1)[-1])


NOTIFY_CHANGE = "SELECT pg_notify('routing_change', $1)"


def change_payload(*, origin: str, pool: str, kind: str, key: str) -> str:
    return f"{origin}|{pool}|{kind}|{key}"


async def notify_change(conn: Conn, *, origin: str, pool: str, kind: str, key: str) -> None:
    """Tell the pool's owner (after commit) that an agent, a work item or the policy changed."""
    await conn.execute(NOTIFY_CHANGE, change_payload(origin=origin, pool=pool, kind=kind, key=key))
