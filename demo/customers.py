"""Simulated customers on the far side of the channel adapters: they read `outbound.messages` as an adapter
would, report delivery, and answer a share of the surveys the way each channel allows — chat buttons and SMS
replies through the adapters' endpoint, e-mailed links on the survey page itself — some with low scores."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events import OUTBOUND_MESSAGES, OutboundMessageRequestedV1, decode

_OPTION = re.compile(r'name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)"')


@dataclass
class CustomerStats:
    messages: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    low_scores: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    receipts: Counter[int] = field(default_factory=Counter)
    """Status codes intake answered the receipts with."""
    reply_answers: Counter[str] = field(default_factory=Counter)
    """Intake's outcome for customers' e-mail answers to agents' replies (they should all be `threaded`)."""


def scores(rng: random.Random) -> dict[str, Any]:
    """Mostly content customers, a tail of unhappy ones (RULES.md: CSAT ≤ 2 or NPS ≤ 6 or not solved)."""
    csat = rng.choices((5, 4, 3, 2, 1), weights=(45, 30, 12, 8, 5))[0]
    nps = min(10, max(0, csat * 2 + rng.choice((-1, 0, 0, 1))))
    solved = csat >= 3 or rng.random() < 0.3
    return {"csat": csat, "nps": nps, "solved": solved}


class Customers:
    def __init__(
        self,
        *,
        bootstrap: str,
        feedback: httpx.AsyncClient,
        intake: httpx.AsyncClient,
        adapter_keys: dict[str, str],
        rng: random.Random,
        answer_share: float,
    ) -> None:
        self.bootstrap = bootstrap
        self.feedback = feedback
        self.intake = intake
        self.keys = adapter_keys
        self.rng = rng
        self.answer_share = answer_share
        self.stats = CustomerStats()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(OUTBOUND_MESSAGES.name, p) for p in range(OUTBOUND_MESSAGES.partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for messages in batch.values():
                    for message in messages:
                        event = decode(message.value).event
                        if isinstance(event, OutboundMessageRequestedV1):
                            task = asyncio.create_task(self._receive(event))
                            self._tasks.add(task)
                            task.add_done_callback(self._tasks.discard)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _auth(self, channel: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[channel]}"}

    async def _receive(self, message: OutboundMessageRequestedV1) -> None:
        self.stats.messages[message.kind or message.template] += 1
        try:
            # Every receipt goes to intake (the adapter contract's one place), whichever service asked.
            failed = message.kind == "reply" and self.rng.random() < 0.03
            for attempt in range(10):  # a message requested a moment ago may not be known to intake yet
                receipt = await self.intake.post(
                    "/v1/outbound/receipts",
                    json={
                        "message_id": str(message.message_id),
                        "status": "failed" if failed else "delivered",
                        "at": datetime.now(UTC).isoformat(),
                        **({"reason": "recipient unreachable"} if failed else {}),
                    },
                    headers=self._auth(message.channel),
                )
                if receipt.status_code != 404:
                    break
                await asyncio.sleep(0.2 * (attempt + 1))
            self.stats.receipts[receipt.status_code] += 1
            if message.kind == "reply" and message.channel == "email" and not failed and self.rng.random() < 0.2:
                await asyncio.sleep(self.rng.uniform(1, 4))
                await self._answer_reply(message)
                return
            if not message.template.startswith("survey.invitation") or self.rng.random() >= self.answer_share:
                return
            await asyncio.sleep(self.rng.uniform(1, 6))  # reading it, thinking
            answer = scores(self.rng)
            self.stats.low_scores += int(answer["csat"] <= 2 or not answer["solved"])
            if message.channel == "email" and "link" in message.variables:
                await self._answer_on_page(message.variables["link"], answer)
            elif message.channel == "sms":
                reply = f"{answer['csat']}" + (" 等太久了" if answer["csat"] <= 2 else "")
                await self._respond(message, {"channel": "sms", "sender": message.recipient, "reply": reply})
            else:
                body = {"invitation_id": message.variables.get("invitation_id"), "answers": answer}
                await self._respond(message, body)
            self.stats.answered[message.channel] += 1
        except httpx.HTTPError as exc:
            self.stats.errors[type(exc).__name__] += 1

    async def _answer_reply(self, message: OutboundMessageRequestedV1) -> None:
        """The customer answers an agent's e-mail from their mail client: it must thread into the contact."""
        own = message.headers.get("Message-ID", "")
        mime = "\r\n".join(
            [
                f"From: <{message.recipient}>",
                "To: support@example.com",
                f"Subject: Re: {(message.subject or '').removeprefix('Re: ')}",
                f"Message-ID: <answer-{message.message_id}@example.com>",
                f"In-Reply-To: {own}",
                f"References: {message.headers.get('References', '')} {own}".strip(),
                "MIME-Version: 1.0",
                'Content-Type: text/plain; charset="utf-8"',
                "",
                "收到，谢谢！",
            ]
        )
        response = await self.intake.post(
            "/v1/channels/email",
            content=mime.encode(),
            headers={**self._auth("email"), "Content-Type": "message/rfc822"},
        )
        if response.status_code == 202:
            self.stats.reply_answers[response.json().get("outcome", "?")] += 1

    async def _respond(self, message: OutboundMessageRequestedV1, body: dict[str, Any]) -> None:
        response = await self.feedback.post(
            "/v1/surveys/responses", json=body, headers=self._auth(message.channel)
        )
        if response.status_code >= 400:
            self.stats.errors[f"responses {response.status_code}"] += 1

    async def _answer_on_page(self, link: str, answer: dict[str, Any]) -> None:
        async with httpx.AsyncClient(timeout=15, follow_redirects=True) as browser:
            page = await browser.get(link)
            if page.status_code != 200:
                self.stats.errors[f"page {page.status_code}"] += 1
                return
            options: dict[str, list[str]] = {}
            for match in _OPTION.finditer(page.text):
                options.setdefault(match["name"], []).append(match["value"])
            form: dict[str, str] = {}
            if "lang" in options:
                form["lang"] = options["lang"][0]
            for key in ("csat", "nps"):
                if str(answer[key]) in options.get(key, []):
                    form[key] = str(answer[key])
            solved = options.get("solved", [])
            if solved:
                form["solved"] = solved[0] if answer["solved"] else solved[-1]
            if answer["csat"] <= 2:
                form["comment"] = "处理太慢了"
            sent = await browser.post(link, data=form)
            if sent.status_code >= 400:
                self.stats.errors[f"page post {sent.status_code}"] += 1


def describe(stats: CustomerStats) -> str:
    return json.dumps({"messages": dict(stats.messages), "answered": dict(stats.answered)}, ensure_ascii=False)
