"""Simulated channel adapters: they post contacts to intake over HTTP exactly as real adapters do — raw MIME
email (UTF-8, GBK and Big5), call events, chat messages, web forms (JSON and urlencoded) — plus follow-ups that
must thread and retries that must come back as duplicates."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import httpx

from demo.content import NAMES, Message, compose, follow_up

CHANNEL_SHARES = (("phone", 0.30), ("chat", 0.30), ("email", 0.25), ("web", 0.15))


@dataclass(frozen=True)
class Customer:
    external_ref: str
    name: str
    grade: str
    phone: str
    email: str
    chat_id: str


def customers(rng: random.Random, count: int) -> list[Customer]:
    grades = ["strategic"] * 1 + ["key"] * 3 + ["basic"] * 6
    people = []
    for i in range(count):
        people.append(
            Customer(
                external_ref=f"demo-cust-{i}",
                name=rng.choice(NAMES),
                grade=rng.choice(grades),
                phone=f"+86139{rng.randrange(10**8):08d}",
                email=f"customer{i}@example.com",
                chat_id=f"web:{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
            )
        )
    return people


def customers_csv(people: list[Customer]) -> str:
    lines = ["external_ref,name,grade,phones,emails,chat_ids"]
    lines += [f"{c.external_ref},{c.name},{c.grade},{c.phone},{c.email},{c.chat_id}" for c in people]
    return "\n".join(lines) + "\n"


def pick_channel(rng: random.Random) -> str:
    roll = rng.random()
    for channel, share in CHANNEL_SHARES:
        if roll < share:
            return channel
        roll -= share
    return CHANNEL_SHARES[-1][0]


@dataclass
class Thread:
    """What a follow-up needs to continue a contact on its channel."""

    channel: str
    customer: Customer
    language: str
    contact_id: str
    message_id: str | None = None
    session_id: str | None = None
    call_id: str | None = None
    subject: str = ""
    first_post: dict[str, Any] = field(default_factory=dict)
    """The first post's arguments, for a retry of exactly the same request."""


@dataclass
class AdapterStats:
    posted: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    rejected: Counter[int] = field(default_factory=Counter)
    hang_ups: Counter[str] = field(default_factory=Counter)
    contact_ids: dict[str, list[str]] = field(default_factory=dict)
    """The contact id intake answered, per outcome (created, threaded, duplicate), in posting order."""


class Adapters:
    def __init__(self, client: httpx.AsyncClient, rng: random.Random, people: list[Customer]) -> None:
        self.client = client
        self.rng = rng
        self.people = people
        self.stats = AdapterStats()

    def _customer(self) -> Customer:
        if self.rng.random() < 0.8 and self.people:
            return self.rng.choice(self.people)
        # Somebody the directory does not know yet: intake creates them as `basic`.
        i = self.rng.randrange(10**6)
        return Customer(
            f"new-{i}", self.rng.choice(NAMES), "basic", f"+86137{i:08d}", f"new{i}@example.net", f"web:n{i}"
        )

    async def _post(self, channel: str, *, key: str | None = None, **kwargs: Any) -> dict[str, Any] | None:
        headers = dict(kwargs.pop("headers", {}))
        if key:
            headers["Idempotency-Key"] = key
        response = await self.client.post(f"/v1/channels/{channel}", headers=headers, **kwargs)
        self.stats.posted[channel] += 1
        if response.status_code != 202:
            self.stats.rejected[response.status_code] += 1
            return None
        body: dict[str, Any] = response.json()
        self.stats.outcomes[body["outcome"]] += 1
        self.stats.contact_ids.setdefault(body["outcome"], []).append(body["contact_id"])
        return body

    async def new_contact(self) -> tuple[Thread, str] | None:
        """Post a first message on a channel picked by the shares; return the thread and its idempotency key."""
        channel = pick_channel(self.rng)
        customer = self._customer()
        message = compose(self.rng)
        key = uuid.uuid4().hex
        thread = Thread(channel, customer, message.language, contact_id="", subject=message.subject)
        if channel == "email":
            thread.message_id = make_msgid(domain="example.com")
            mime = self._mime(thread, message.subject, message.text, message.language)
            thread.first_post = {"content": mime, "headers": {"Content-Type": "message/rfc822"}}
        elif channel == "phone":
            thread.call_id = f"call-{uuid.uuid4().hex[:12]}"
            thread.first_post = {"json": self._call(thread, message)}
        elif channel == "chat":
            thread.session_id = f"s-{uuid.uuid4().hex[:12]}"
            thread.first_post = {"json": self._chat(thread, message.text)}
        else:
            thread.first_post = self._form(customer, message)
        body = await self._post(channel, key=key, **thread.first_post)
        if body is None:
            return None
        thread.contact_id = body["contact_id"]
        return thread, key

    async def hang_up(self, thread: Thread, *, callback: bool) -> None:
        """The caller hangs up before an answer (maybe asking for a callback); routing ignores it once answered."""
        body = {"reason": "hung_up", "callback": "keep_place" if callback else "none"}
        response = await self.client.post(f"/v1/contacts/{thread.contact_id}/abandoned", json=body)
        self.stats.hang_ups["callback" if callback else "abandoned"] += 1
        if response.status_code != 202:
            self.stats.rejected[response.status_code] += 1

    async def retry(self, thread: Thread, key: str) -> None:
        """An adapter that timed out and posts the same thing again: intake must answer `duplicate`."""
        await self._post(thread.channel, key=key, **thread.first_post)

    async def follow(self, thread: Thread) -> None:
        text = follow_up(self.rng, thread.language)
        if thread.channel == "email":
            reply_id = make_msgid(domain="example.com")
            mime = self._mime(thread, f"Re: {thread.subject}", text, thread.language, reply_id=reply_id)
            await self._post("email", content=mime, headers={"Content-Type": "message/rfc822"})
        elif thread.channel == "chat":
            await self._post("chat", json=self._chat(thread, text))
        elif thread.channel == "phone":
            payload = {
                "call_id": thread.call_id,
                "event": "transcribed",
                "ani": thread.customer.phone,
                "transcript": text,
            }
            await self._post("phone", json=payload)
        else:
            await self._post(
                "web",
                **self._form(
                    thread.customer, Message("enquiry", "routine", thread.language, thread.subject, text)
                ),
            )

    # --- payloads -------------------------------------------------------------------------------------------

    def _mime(
        self, thread: Thread, subject: str, text: str, language: str, *, reply_id: str | None = None
    ) -> bytes:
        mail = EmailMessage()
        mail["From"] = f"{thread.customer.name} <{thread.customer.email}>"
        mail["To"] = "service@switchboard.example"
        mail["Subject"] = subject
        mail["Date"] = format_datetime(datetime.now(UTC))
        if reply_id is None:
            mail["Message-ID"] = thread.message_id or make_msgid()
        else:
            mail["Message-ID"] = reply_id
            mail["In-Reply-To"] = thread.message_id or ""
            mail["References"] = thread.message_id or ""
        # Real Chinese mail: GBK from mainland clients, Big5 from Traditional ones, UTF-8 from the rest.
        charset = {"zh-Hans": self.rng.choice(("gbk", "utf-8")), "zh-Hant": "big5"}.get(language, "utf-8")
        try:
            text.encode(charset)
        except UnicodeEncodeError:
            charset = "utf-8"
        mail.set_content(text + "\n\n--\n" + thread.customer.name, charset=charset)
        return mail.as_bytes()

    def _call(self, thread: Thread, message: Message) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        return {
            "call_id": thread.call_id,
            "event": "answered",
            "ani": thread.customer.phone,
            "dnis": "+864008001234",
            "direction": "inbound",
            "ivr_path": ["main", "service"],
            "language": message.language,
            "started_at": now,
            "answered_at": now,
            "transcript": message.text,
        }

    def _chat(self, thread: Thread, text: str) -> dict[str, Any]:
        platform, _, visitor_id = thread.customer.chat_id.partition(":")
        return {
            "session_id": thread.session_id,
            "message_id": uuid.uuid4().hex,
            "platform": platform,
            "visitor": {"id": visitor_id, "name": thread.customer.name},
            "text": text,
            "sent_at": datetime.now(UTC).isoformat(),
        }

    def _form(self, customer: Customer, message: Message) -> dict[str, Any]:
        fields = {
            "form_id": "contact-us",
            "submission_id": uuid.uuid4().hex,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "subject": message.subject,
            "message": message.text,
        }
        if self.rng.random() < 0.5:
            return {"data": fields}  # application/x-www-form-urlencoded, as a browser posts it
        return {"json": fields}
