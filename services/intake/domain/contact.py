"""One inbound message of any channel in normal form, and the rules that put it on a contact.

`Inbound` is what every channel's payload becomes. `thread_decision` says whether it continues an existing
contact (threaded, possibly reopening it) or starts a new one; `fingerprint` gives messages without a natural
key (Message-ID, call id, chat message id) a content key, so a retried post is recognised, and `keyed` says for
how long such a key names the same message.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from services.intake.domain.identity import Identity
from services.intake.domain.mime import Attachment

Outcome = Literal["created", "threaded", "duplicate"]
KeyScope = Literal["message", "retry", "post"]
OPEN_STATUSES = frozenset(("received", "reopened"))
"""Intake's view: open until routing reports the work resolved or closed."""
CLOSED_STATUSES = frozenset(("resolved", "closed"))
IGNORED = "ignored"
"""A contact only machines wrote to (auto-replies, bounces): stored, never published or worked."""
EVENT_SUBJECT_CHARS = 998
"""Longest subject an event carries (RFC 5322's line limit); longer ones are cut like long texts."""


def carried(value: str, limit: int) -> tuple[str, bool]:
    """What of `value` an event carries: its first `limit` characters, and whether that cut anything. Events
    stay well inside the broker's message limit; the whole text stays in intake's database."""
    if len(value) <= limit:
        return value, False
    return value[:limit], True


@dataclass(frozen=True)
class Inbound:
    channel: str
    natural_key: str
    """Unique per channel: `<message-id>`, `call:<id>:<event or fingerprint>`, `chat:<session>:<message id>`…"""
    identities: tuple[Identity, ...]
    text: str
    """Clean text: quotes and signature removed."""
    original: str
    """Everything as received (the decoded body, quotes included)."""
    subject: str | None = None
    sender_name: str | None = None
    language: str | None = None
    attachments: tuple[Attachment, ...] = ()
    thread_keys: tuple[str, ...] = ()
    """Keys that identify the conversation (`email:<id>`, `chat:<session>`, `call:<id>`); the first is this
    message's own."""
    reply_to_keys: tuple[str, ...] = ()
    """Keys of earlier messages this one answers (In-Reply-To, References)."""
    sent_at: datetime | None = None
    ivr_selections: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    automatic: bool = False
    """Sent by a machine (auto-reply, bounce): stored and threaded, but never creates a customer's contact."""
    key_scope: KeyScope = "message"
    """How long `natural_key` names this message. `message`: for ever (the adapter's id, or the sender, content
    and send time). `retry`: a sender and content without an id or a send time, which name a retry but not the
    same words written again later (see `keyed`). `post`: content without a valid identity, which names
    nothing (two people may type the same words); only an Idempotency-Key recognises such a post's retry."""
    earlier_keys: tuple[str, ...] = ()
    """Set by `keyed` for a `retry` key: the keys an earlier post of the message may be stored under."""
    seen_since: datetime | None = None
    """Set by `keyed` for a `retry` key: an earlier post counts only if it was received at or after this."""


@dataclass(frozen=True)
class OpenContact:
    """A contact a message might continue."""

    contact_id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    status: str
    last_message_at: datetime
    ended_at: datetime | None
    """When it was resolved or closed (None while open)."""
    subject_key: str


@dataclass(frozen=True)
class ThreadPolicy:
    subject_window: timedelta
    """Email: same normalised subject and sender within this window continues the contact."""
    customer_windows: Mapping[str, timedelta]
    """Per channel: any open contact of the same customer on the channel within this window."""
    reopen_window: timedelta
    """A follow-up this soon after resolve/close reopens the contact; later ones start a new contact."""
    retry_window: timedelta
    """A message named only by its sender and content (no id, no send time) is a retry this long (`keyed`)."""


@dataclass(frozen=True)
class ThreadDecision:
    contact_id: uuid.UUID | None
    """None: a new contact."""
    reopen: bool = False
    why: str = "new conversation"


def thread_decision(
    *,
    by_key: OpenContact | None,
    by_subject: OpenContact | None,
    by_customer: OpenContact | None,
    channel: str,
    policy: ThreadPolicy,
    now: datetime,
) -> ThreadDecision:
    """The strongest link wins: a thread key (reply header, chat session, call id), then an email subject from
    the same sender, then the customer's open contact on the channel. A closed contact is reopened only within
    the reopen window; a subject or customer match must still be open and recent."""
    if by_key is not None and by_key.status == IGNORED:
        return ThreadDecision(None, why="the conversation was only machine mail; a person writing starts one")
    if by_key is not None:
        if by_key.status in OPEN_STATUSES:
            return ThreadDecision(by_key.contact_id, why="same conversation (thread key)")
        if by_key.ended_at is not None and now - by_key.ended_at <= policy.reopen_window:
            return ThreadDecision(by_key.contact_id, reopen=True, why="follow-up within the reopen window")
        return ThreadDecision(None, why="conversation closed longer ago than the reopen window")
    if by_subject is not None and channel == "email":
        if by_subject.status in OPEN_STATUSES and now - by_subject.last_message_at <= policy.subject_window:
            return ThreadDecision(by_subject.contact_id, why="same subject from the same sender")
        if (
            by_subject.status in CLOSED_STATUSES
            and by_subject.ended_at is not None
            and now - by_subject.ended_at <= policy.reopen_window
        ):
            return ThreadDecision(by_subject.contact_id, reopen=True, why="same subject within the reopen window")
    window = policy.customer_windows.get(channel)
    if (
        by_customer is not None
        and window
        and by_customer.status in OPEN_STATUSES
        and now - by_customer.last_message_at <= window
    ):
        return ThreadDecision(by_customer.contact_id, why=f"open {channel} contact of the same customer")
    return ThreadDecision(None)


_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def scrub(value: Any) -> Any:
    """NUL and other control characters and lone surrogates removed: text PostgreSQL (and readers) can store."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("", value)
    if isinstance(value, Mapping):
        return {scrub(str(k)): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def storable(inbound: Inbound) -> Inbound:
    """The message with every text field scrubbed (mail from the wild carries NUL bytes and worse)."""
    return replace(
        inbound,
        natural_key=scrub(inbound.natural_key),
        identities=tuple(replace(i, value=scrub(i.value)) for i in inbound.identities),
        text=scrub(inbound.text),
        original=scrub(inbound.original),
        subject=scrub(inbound.subject),
        sender_name=scrub(inbound.sender_name),
        attachments=tuple(replace(a, name=scrub(a.name)) for a in inbound.attachments),
        thread_keys=tuple(scrub(k) for k in inbound.thread_keys),
        reply_to_keys=tuple(scrub(k) for k in inbound.reply_to_keys),
        metadata=scrub(inbound.metadata),
    )


def keyed(inbound: Inbound, *, now: datetime, window: timedelta) -> Inbound:
    """The message with the natural key it is stored under and the keys an earlier post of it may have.

    A `retry` key gets the number of the `window`-long period `now` falls in, and is looked up under this
    period's and the previous one's number, counting only a post received since `now - window`: a retry within
    the window is recognised on either side of a period boundary, the same words a window later are new. A
    `post` key gets a random suffix: no earlier post is the same message. Apply once, when the post arrives.
    """
    if inbound.key_scope == "message":
        return inbound
    if inbound.key_scope == "post":
        return replace(inbound, natural_key=f"{inbound.natural_key}:post:{uuid.uuid4().hex}")
    seconds = max(1, int(window.total_seconds()))
    period = int(now.timestamp()) // seconds
    return replace(
        inbound,
        natural_key=f"{inbound.natural_key}@{period}",
        earlier_keys=(f"{inbound.natural_key}@{period - 1}",),
        seen_since=now - window,
    )


def _key_names(inbound: Inbound) -> set[str]:
    names = {f"{i.kind}:{i.value}" for i in inbound.identities}
    names.add(f"message:{inbound.channel}:{inbound.natural_key}")
    names |= {f"message:{inbound.channel}:{key}" for key in inbound.earlier_keys}
    names |= {f"thread:{key}" for key in inbound.thread_keys}
    return names


def lock_keys(inbounds: Sequence[Inbound]) -> list[int]:
    """Advisory lock ids for what concurrent writers of these messages could collide on (their identities and
    natural keys), sorted: taking them in this order before writing means overlapping batches wait for each
    other instead of deadlocking."""
    names = set().union(*(_key_names(inbound) for inbound in inbounds))
    return sorted(
        int.from_bytes(hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()[:8], "big", signed=True)
        for name in names
    )


def rounds(items: Sequence[tuple[Inbound, str | None]]) -> list[list[int]]:
    """Messages accepted together (with their idempotency keys), split into rounds that can each be looked up
    and written at once: a message goes to the round after the last earlier one it shares an identity, a
    natural key, a thread or reply-to key or an idempotency key with, so it sees what that one stored. Indices,
    in order within each round."""
    last: dict[str, int] = {}
    out: list[list[int]] = []
    for n, (inbound, idempotency_key) in enumerate(items):
        names = _key_names(inbound) | {f"thread:{key}" for key in inbound.reply_to_keys}
        if idempotency_key is not None:
            names.add(f"idempotency:{idempotency_key}")
        at = max((last[name] + 1 for name in names if name in last), default=0)
        if at == len(out):
            out.append([])
        out[at].append(n)
        last.update(dict.fromkeys(names, at))
    return out


def fingerprint(*parts: object) -> str:
    """A content key for messages that carry no id of their own: the same content posted twice is one message."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode("utf-8", errors="surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()[:32]


def attachments_json(attachments: Sequence[Attachment]) -> list[dict[str, Any]]:
    return [
        {"name": a.name, "content_type": a.content_type, "size": a.size, "sha256": a.sha256} for a in attachments
    ]


@dataclass(frozen=True)
class ReachBack:
    """How to reach the customer after the contact: the strongest valid identity of each kind."""

    phone: str | None
    email: str | None
    chat_session: str | None


def reach_back(inbound: Inbound) -> ReachBack:
    """Only identities the channel itself presented count (never a number found in a signature)."""

    def strongest(kind: str) -> str | None:
        return next((i.value for i in inbound.identities if i.kind == kind and i.valid and i.strong), None)

    session = next((k.removeprefix("chat:") for k in inbound.thread_keys if k.startswith("chat:")), None)
    return ReachBack(phone=strongest("phone"), email=strongest("email"), chat_session=session)
