"""Outbound messages as webhooks (the Standard Webhooks scheme): secrets, signatures, the retry schedule and
what each answer of a receiver means. Pure: the caller brings the time and the randomness."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

SECRET_PREFIX = "whsec_"  # noqa: S105 — the format's prefix, no secret
SECRET_BYTES = 32

RETRY_SCHEDULE_S: tuple[int, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
"""Waits after each failed attempt, the schedule Standard Webhooks suggests: the first attempt at once, then
after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h — eight attempts over about 27 hours, then `failed`."""
JITTER = 0.1
"""Each wait is spread by up to ±10 %, so receivers that come back together are not hit together."""
SNIPPET_CHARS = 200

_DIGITS = re.compile(r"\d{4,}")
_EMAIL = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+")


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"
    GONE = "gone"
    """410 Gone: the receiver says the endpoint is no more; it is disabled."""


def secret_from(random_bytes: bytes) -> str:
    """A signing secret as Standard Webhooks writes it: `whsec_` + base64 of the key bytes."""
    if len(random_bytes) < 24:
        raise ValueError("a signing secret needs at least 24 random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the secret's decoded bytes."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Iterable[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    """One signature per secret, space-separated: while a secret is rotated, the old and the new both sign, so
    a receiver that still holds the old one (or already the new one) verifies."""
    return " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets)


def verify(secret: str, webhook_id: str, timestamp: int, body: bytes, header: str) -> bool:
    expected = sign(secret, webhook_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in header.split())


def outcome(status: int | None) -> Outcome:
    """What a receiver's answer means. None (a timeout, a refused or broken connection), 408, 429 and 5xx are
    worth another try; 2xx is done; 410 disables the endpoint; any other answer (a 3xx: we follow no
    redirects; a 4xx: the receiver refuses this message) fails the delivery until someone replays it."""
    if status is None or status in (408, 429) or status >= 500:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.SUCCEEDED
    if status == 410:
        return Outcome.GONE
    return Outcome.FAILED


def retry_delay_s(failed_attempts: int, spread: float) -> float | None:
    """The wait after the `failed_attempts`-th failure in a row (1 = the first), or None when the schedule is
    spent. `spread` is a random number in [0, 1) that places the wait within ±`JITTER`."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts counts from 1")
    if failed_attempts > len(RETRY_SCHEDULE_S):
        return None
    base = RETRY_SCHEDULE_S[failed_attempts - 1]
    return base * (1 - JITTER + 2 * JITTER * spread)


def snippet(text: str) -> str:
    """The start of a receiver's answer, kept for people reading a delivery: addresses and runs of four or more
    digits (phones, ids a receiver echoes back) are masked."""
    cut = text[:SNIPPET_CHARS]
    return _DIGITS.sub("#", _EMAIL.sub("***@***", cut))


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: uuid.UUID
    name: str
    url: str
    channels: tuple[str, ...]
    kinds: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    rotating_until: datetime | None
    """While a rotated-out secret still signs too."""
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Attempt:
    attempt: int
    started_at: datetime
    duration_ms: int
    status: int | None
    error: str | None
    response: str | None


@dataclass(frozen=True)
class Delivery:
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    message_id: uuid.UUID
    contact_id: uuid.UUID | None
    channel: str
    kind: str | None
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    history: tuple[Attempt, ...] = ()


@dataclass(frozen=True)
class Due:
    """A delivery a sender has taken for one attempt (its number: `attempt`)."""

    delivery_id: uuid.UUID
    message_id: uuid.UUID
    endpoint_id: uuid.UUID
    body: bytes
    attempt: int
    failed_in_round: int
    """Attempts since it was made or last replayed, this one included."""
    url: str
    secrets: tuple[str, ...]


def signing_secrets(
    secret: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> tuple[str, ...]:
    if previous is not None and previous_until is not None and now < previous_until:
        return (secret, previous)
    return (secret,)
