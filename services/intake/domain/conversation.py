"""Replies, notes and the timeline: the rules, without I/O.

A reply goes out on the contact's own channel, channel-native: an e-mail answers the customer's last message
(`Re: <subject>`, `In-Reply-To` and `References` of that message, a Message-ID of ours that is also a thread key,
so the customer's answer threads back), a chat answers in its session, an SMS or social message goes to the
sender. A phone contact is answered by SMS or e-mail when the customer has a number or address, else the reply
is refused with the reason. Who may reply: the agent who owns the work, a supervisor or an admin; nobody on a
closed contact (it is reopened first).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

REPLY_CHANNELS = ("email", "chat", "sms", "social")
"""Channels a reply can go out on (RULES.md: outbound notices go by sms, email, phone or chat; social answers
on the account it came from)."""
MAX_TEXT_CHARS = {"email": 100_000, "chat": 10_000, "sms": 1_000, "social": 2_000}
MAX_ATTACHMENTS = 10
MAX_REPLY_BYTES = 700_000
"""Text and HTML of one reply together, in UTF-8: what an `outbound.message.requested` carries stays within the
event size limit (SWITCHBOARD_MAX_EVENT_BYTES, 1 MiB by default)."""
RECEIPT_STATUSES = ("accepted", "sent", "delivered", "read", "failed", "bounced")
FAILED = frozenset({"failed", "bounced"})
_RANK = {"requested": 0, "accepted": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5, "bounced": 5}


class ReplyRefused(ValueError):
    """The reply cannot go out as asked; `field` names what to change."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Attachment:
    """By reference: Switchboard stores no content, the adapter fetches `url`."""

    name: str
    content_type: str
    size: int
    sha256: str
    url: str


@dataclass(frozen=True)
class Reachable:
    """What intake knows of where the customer can be answered on this contact."""

    contact_channel: str
    email: str | None = None
    phone: str | None = None
    chat_session: str | None = None
    social: str | None = None
    subject: str | None = None
    """The contact's subject (the customer's first e-mail's)."""
    last_email_id: str | None = None
    """Message-ID of the customer's latest e-mail on the contact."""
    email_thread: tuple[str, ...] = ()
    """Every Message-ID of the conversation, oldest first (theirs and ours)."""


@dataclass(frozen=True)
class Route:
    channel: str
    recipient: str
    subject: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def default_channel(contact_channel: str, reachable: Reachable) -> str:
    """Where a reply goes when the agent does not say: the contact's channel; a call or walk-in by SMS, else
    e-mail; a web form by e-mail."""
    if contact_channel in REPLY_CHANNELS:
        return contact_channel
    if contact_channel in ("phone", "onsite"):
        return "sms" if reachable.phone else "email"
    return "email"


def route_reply(reachable: Reachable, *, channel: str | None, reply_id: uuid.UUID, domain: str) -> Route:
    """The recipient and headers of a reply, or `ReplyRefused` naming why it cannot go."""
    chosen = channel or default_channel(reachable.contact_channel, reachable)
    if chosen not in REPLY_CHANNELS:
        raise ReplyRefused(f"replies go by {', '.join(REPLY_CHANNELS)}; not {chosen!r}", field="channel")
    if chosen == "email":
        if not reachable.email:
            raise ReplyRefused(_unreachable(reachable, "e-mail address"), field="channel")
        own = f"<{reply_id}@{domain}>"
        headers = {"Message-ID": own}
        if reachable.last_email_id:
            headers["In-Reply-To"] = reachable.last_email_id
            thread = [m for m in reachable.email_thread if m != own][-20:]  # RFC 5322 allows trimming the middle
            headers["References"] = " ".join(thread or [reachable.last_email_id])
        return Route("email", reachable.email, reply_subject(reachable.subject), headers)
    if chosen == "chat":
        if not reachable.chat_session:
            raise ReplyRefused(_unreachable(reachable, "chat session"), field="channel")
        return Route("chat", reachable.chat_session)
    if chosen == "sms":
        if not reachable.phone:
            raise ReplyRefused(_unreachable(reachable, "mobile number"), field="channel")
        return Route("sms", reachable.phone)
    if not reachable.social:
        raise ReplyRefused(_unreachable(reachable, "social account"), field="channel")
    return Route("social", reachable.social)


def _unreachable(reachable: Reachable, what: str) -> str:
    known = [
        name
        for name, value in (
            ("email", reachable.email),
            ("sms", reachable.phone),
            ("chat", reachable.chat_session),
            ("social", reachable.social),
        )
        if value
    ]
    tail = f"; it can go by {', '.join(known)}" if known else "; the customer left no address to answer on"
    return f"this {reachable.contact_channel} contact has no {what} to reply to{tail}"


_RE = re.compile(r"^\s*(re|aw|sv|回复|回覆|答复)\s*[:：]", re.IGNORECASE)


def reply_subject(subject: str | None) -> str:
    """`Re: <subject>` once, however many replies deep."""
    text = (subject or "").strip()
    if not text:
        return "Re: (no subject)"
    return text if _RE.match(text) else f"Re: {text}"


def check_text(channel: str, text: str, attachments: Sequence[Attachment], html: str | None = None) -> None:
    if not text.strip():
        raise ReplyRefused("the reply has no text", field="text")
    size = len(text.encode("utf-8", "surrogatepass")) + len((html or "").encode("utf-8", "surrogatepass"))
    if size > MAX_REPLY_BYTES:
        raise ReplyRefused(
            f"text and html together are {size:,} bytes; a reply carries at most {MAX_REPLY_BYTES:,}",
            field="html" if html else "text",
        )
    limit = MAX_TEXT_CHARS[channel]
    if len(text) > limit:
        raise ReplyRefused(
            f"a {channel} reply holds at most {limit} characters; this one has {len(text)}", field="text"
        )
    if len(attachments) > MAX_ATTACHMENTS:
        raise ReplyRefused(f"at most {MAX_ATTACHMENTS} attachments per reply", field="attachments")
    if attachments and channel == "sms":
        raise ReplyRefused("an SMS carries no attachments; send a link in the text", field="attachments")


Who = Literal["owner", "supervisor", "other"]


def may_write(*, role: str, subject: str, owner_id: str | None) -> bool:
    """Replies and notes: the owning agent, supervisors and admins."""
    return role in ("supervisor", "admin") or (role == "agent" and owner_id is not None and owner_id == subject)


def next_status(current: str, reported: str) -> str:
    """A receipt moves delivery forward only (a late `sent` after `delivered` changes nothing); a failure after
    success counts (a bounce can follow `sent`), success after a failure too (the adapter's retry got through)."""
    if reported in FAILED or current in FAILED:
        return reported
    return reported if _RANK[reported] > _RANK[current] else current


def render(template: str, variables: Mapping[str, str]) -> str:
    """`{customer_name}`-style variables filled in; unknown ones are left visible for the agent to edit."""

    def value(match: re.Match[str]) -> str:
        return variables.get(match.group(1), match.group(0))

    return re.sub(r"\{([a-z_]+)\}", value, template)


# --- the timeline's cursor ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """A position in a time-ordered list: after this instant, and after this key at the same instant."""

    at: datetime
    key: str

    def encode(self) -> str:
        raw = json.dumps({"at": self.at.isoformat(), "key": self.key}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw: Any = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            at = datetime.fromisoformat(raw["at"])
            key = str(raw["key"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ValueError("not a cursor this API gave out") from exc
        if at.tzinfo is None:
            raise ValueError("not a cursor this API gave out")
        return cls(at, key)
