"""Outbound messages as signed webhooks: endpoints admins keep, one delivery per message and endpoint (written by
the consumer of `outbound.messages`, in its inbox transaction), and the sender's steps (`WebhookSender` runs
them): `take_due`, then for each delivery `post` outside any transaction and `record_answer`.

The database is the truth: a delivery is pending until a receiver answers 2xx, and every attempt carries the
same `webhook-id` (the message id), so a receiver dedupes what a retry or a sender's crash sends twice.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from services.intake.domain.destinations import (
    Address,
    DestinationPolicy,
    DestinationRefused,
    check_url,
    parse_address,
    pick_address,
)
from services.intake.domain.sealing import Sealer, SealError
from services.intake.domain.webhooks import (
    SECRET_BYTES,
    SNIPPET_CHARS,
    Due,
    Endpoint,
    Outcome,
    outcome,
    retry_delay_s,
    secret_from,
    signature_header,
    snippet,
)
from services.intake.handlers.common import Tx
from services.intake.repository import webhooks as repo
from shared.audit import record
from shared.db import Conn
from shared.events import OutboundMessageRequestedV1
from shared.kafka import Delivery

log = logging.getLogger(__name__)


class NameTaken(Exception):
    pass


class EndpointMissing(LookupError):
    pass


async def on_outbound_message(tx: Tx, event: OutboundMessageRequestedV1, delivery: Delivery) -> None:
    """One pending delivery per endpoint that takes the message (registered by the time it was requested); the
    body is the envelope as it was on the topic: a webhook receiver reads exactly what a Kafka consumer reads."""
    if delivery.record.value is None:
        return
    await repo.insert_deliveries(
        tx.conn,
        message_id=event.message_id,
        contact_id=event.contact_id,
        channel=event.channel,
        kind=event.kind,
        body=delivery.record.value,
        now=delivery.decoded.envelope.time,
    )


def _new_secret() -> str:
    return secret_from(secrets.token_bytes(SECRET_BYTES))


async def create_endpoint(
    tx: Tx,
    *,
    name: str,
    url: str,
    channels: Sequence[str],
    kinds: Sequence[str],
    by: str,
    sealer: Sealer,
) -> tuple[Endpoint, str]:
    """The endpoint and its signing secret, which is shown this once (and stored sealed)."""
    secret = _new_secret()
    endpoint = await repo.insert_endpoint(
        tx.conn,
        endpoint_id=uuid.uuid4(),
        name=name,
        url=url,
        channels=sorted(set(channels)),
        kinds=sorted(set(kinds)),
        secret=sealer.seal(secret),
        by=by,
        now=tx.now,
    )
    if endpoint is None:
        raise NameTaken(name)
    detail = {"name": name, "channels": list(endpoint.channels), "kinds": list(endpoint.kinds)}
    await record(tx.conn, actor=by, action="webhook.created", target=f"webhook:{endpoint.endpoint_id}",
                 detail=detail, at=tx.now)  # fmt: skip
    return endpoint, secret


async def rotate_secret(
    tx: Tx, *, endpoint_id: uuid.UUID, by: str, overlap: timedelta, sealer: Sealer
) -> tuple[Endpoint, str]:
    """A new secret, shown this once; the old one keeps signing beside it for `overlap`."""
    secret = _new_secret()
    endpoint = await repo.rotate_secret(
        tx.conn, endpoint_id=endpoint_id, secret=sealer.seal(secret), previous_until=tx.now + overlap, now=tx.now
    )
    if endpoint is None:
        raise EndpointMissing(endpoint_id)
    await record(tx.conn, actor=by, action="webhook.secret_rotated", target=f"webhook:{endpoint_id}",
                 detail={"old_signs_until": (tx.now + overlap).isoformat()}, at=tx.now)  # fmt: skip
    return endpoint, secret


async def set_enabled(tx: Tx, *, endpoint_id: uuid.UUID, enabled: bool, by: str) -> Endpoint:
    endpoint = await repo.set_enabled(
        tx.conn, endpoint_id=endpoint_id, enabled=enabled, reason=f"disabled by {by}", now=tx.now
    )
    if endpoint is None:
        raise EndpointMissing(endpoint_id)
    await record(tx.conn, actor=by, action="webhook.enabled" if enabled else "webhook.disabled",
                 target=f"webhook:{endpoint_id}", detail={}, at=tx.now)  # fmt: skip
    return endpoint


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str | None
    response: str | None
    duration_ms: int


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to, in the resolver's order (none if it does not resolve)."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    return list(dict.fromkeys(parse_address(str(info[4][0]).split("%")[0]) for info in found))


async def check_destination(url: str, policy: DestinationPolicy) -> Address | None:
    """`DestinationRefused` unless `url` may receive deliveries; the address to connect to when the policy
    checks addresses (None: connect by name)."""
    host, port = check_url(url, policy)
    if not policy.checks_addresses:
        return None
    return pick_address(await resolve(host, port), policy, host=host)


async def post(
    client: httpx.AsyncClient, due: Due, now: datetime, destinations: DestinationPolicy, sealer: Sealer
) -> Answer:
    """POST one taken delivery, signed for `now`; the receiver's answer, or why there was none. Where the policy
    checks addresses, the POST goes to the address just checked (with the URL's host as Host and TLS server
    name), so a name that resolves elsewhere a moment later cannot redirect it."""
    began = time.monotonic()
    try:
        keys = tuple(sealer.open(stored) for stored in due.secrets)
    except SealError:
        return Answer(None, "SecretUnavailable", None, 0)
    timestamp = int(now.timestamp())
    webhook_id = str(due.message_id)
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, webhook_id, timestamp, due.body),
    }
    try:
        address = await check_destination(due.url, destinations)
    except DestinationRefused:
        return Answer(None, "DestinationRefused", None, int((time.monotonic() - began) * 1000))
    url = httpx.URL(due.url)
    extensions: dict[str, str] = {}
    if address is not None:
        headers["host"] = url.netloc.decode("ascii")
        extensions["sni_hostname"] = url.host
        url = url.copy_with(host=str(address))
    try:
        async with client.stream(
            "POST", url, content=due.body, headers=headers, extensions=extensions
        ) as response:
            head = b""
            async for chunk in response.aiter_raw():  # only the start: a receiver's answer may be huge
                head += chunk
                if len(head) >= SNIPPET_CHARS * 4:
                    break
            text = head.decode("utf-8", "replace")
            return Answer(response.status_code, None, snippet(text), int((time.monotonic() - began) * 1000))
    except httpx.HTTPError as exc:  # timeouts, refused and broken connections, bad URLs: each worth a retry
        return Answer(None, type(exc).__name__, None, int((time.monotonic() - began) * 1000))


async def reseal(tx: Tx, sealer: Sealer) -> tuple[int, int]:
    """Seal again under the first key every stored secret that is not (stored in the clear before a key was set,
    or under an older key): (endpoints resealed, endpoints whose secret no configured key opens)."""
    resealed = unopened = 0
    for endpoint_id, secret, previous in await repo.stored_secrets(tx.conn):
        if not (sealer.stale(secret) or sealer.stale(previous)):
            continue
        try:
            fresh = sealer.seal(sealer.open(secret))
            fresh_previous = None if previous is None else sealer.seal(sealer.open(previous))
        except SealError:
            unopened += 1
            continue
        await repo.replace_secrets(tx.conn, endpoint_id=endpoint_id, secret=fresh, previous_secret=fresh_previous)
        resealed += 1
    return resealed, unopened


async def take_due(tx: Tx, *, limit: int, lease: timedelta) -> list[Due]:
    """Up to `limit` due deliveries, each this sender's for one attempt until `tx.now + lease`."""
    return await repo.claim_due(tx.conn, now=tx.now, lease_until=tx.now + lease, limit=limit)


async def record_answer(tx: Tx, due: Due, answer: Answer, *, started_at: datetime, spread: float) -> str:
    """Record the answer to one taken delivery's POST (`post`, outside any transaction); the delivery's state
    after it: `succeeded`, `failed`, or `pending` again after the schedule's next wait (`spread` in [0, 1)
    places it within the jitter)."""
    return await _record(tx.conn, due, answer, started_at=started_at, now=tx.now, spread=spread)


async def _record(
    conn: Conn, due: Due, answer: Answer, *, started_at: datetime, now: datetime, spread: float
) -> str:
    result = outcome(answer.status)
    next_at: datetime | None = None
    state = "failed"
    if result is Outcome.SUCCEEDED:
        state = "succeeded"
    elif result is Outcome.RETRY:
        delay = retry_delay_s(due.failed_in_round, spread)
        if delay is not None:
            state, next_at = "pending", now + timedelta(seconds=delay)
    elif result is Outcome.GONE:
        await repo.set_enabled(conn, endpoint_id=due.endpoint_id, enabled=False, reason="410 Gone", now=now)
        log.warning("webhook endpoint %s answered 410 Gone: disabled", due.endpoint_id)
    await repo.record_attempt(
        conn, due=due, started_at=started_at, duration_ms=answer.duration_ms, status=answer.status,
        error=answer.error, response=answer.response, state=state, next_attempt_at=next_at, now=now,
    )  # fmt: skip
    if state == "failed":
        log.info("webhook delivery %s failed after attempt %d (%s)", due.delivery_id, due.attempt,
                 answer.status or answer.error)  # fmt: skip
    return state


async def replay(
    tx: Tx,
    *,
    by: str,
    delivery_id: uuid.UUID | None = None,
    state: str | None = None,
    endpoint_id: uuid.UUID | None = None,
    since: datetime | None = None,
    channels: Sequence[str] | None = None,
) -> int:
    count = await repo.replay(
        tx.conn, now=tx.now, delivery_id=delivery_id, state=state, endpoint_id=endpoint_id, since=since,
        channels=channels,
    )  # fmt: skip
    target = f"webhook-delivery:{delivery_id}" if delivery_id else f"webhook:{endpoint_id or 'all'}"
    detail = {"replayed": count, "state": state, "since": since.isoformat() if since else None}
    await record(tx.conn, actor=by, action="webhook.replayed", target=target, detail=detail, at=tx.now)
    return count
