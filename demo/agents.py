"""Simulated agents: each holds a real desktop WebSocket to routing, sets presence, accepts (sometimes declines)
offers, looks the contact up in the knowledge base, handles it for a sampled time and resolves it with a
resolution code through the same REST endpoints a desktop uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

log = logging.getLogger(__name__)

RESOLUTION_CODES = ("answered", "fixed", "refunded", "escalated_fixed", "explained")


@dataclass(frozen=True)
class AgentProfile:
    agent_id: str
    name: str
    tier: str
    team: str
    languages: tuple[str, ...]
    skills: dict[str, int]

    def as_admin_body(self) -> dict[str, Any]:
        return {
            "display_name": self.name,
            "tier": self.tier,
            "team": self.team,
            "languages": list(self.languages),
            "skills": self.skills,
        }


def roster(rng: random.Random, count: int) -> list[AgentProfile]:
    """A contact centre's mix: mostly front line, some senior and technical, an emergency desk, a supervisor."""
    plan = [
        ("front_line", {"general": 3, "complaints": 3}),
        ("front_line", {"general": 4, "complaints": 2}),
        ("senior", {"general": 4, "complaints": 4, "technical": 3, "data": 3}),
        ("tech_support", {"technical": 4, "data": 4, "general": 2}),
        ("front_line", {"general": 3, "complaints": 3}),
        ("emergency", {"security": 4, "privacy": 4, "emergency": 4, "technical": 3, "general": 2}),
        ("senior", {"general": 3, "complaints": 4, "technical": 2, "data": 2}),
        ("tech_support", {"technical": 5, "data": 3}),
        ("supervisor", {"general": 5, "complaints": 5, "technical": 3, "data": 3, "security": 3, "privacy": 3}),
    ]
    agents = []
    for i in range(count):
        tier, skills = plan[i % len(plan)]
        languages = ("zh-Hans", "zh-Hant", "en") if rng.random() < 0.6 else ("zh-Hans", "zh-Hant")
        agents.append(
            AgentProfile(
                agent_id=f"A{i + 1:03d}",
                name=f"Agent {i + 1}",
                tier=tier,
                team="care" if tier in ("front_line", "senior") else ("tech" if tier == "tech_support" else tier),
                languages=languages,
                skills=dict(skills),
            )
        )
    return agents


@dataclass
class AgentStats:
    offers: int = 0
    accepted: int = 0
    declined: int = 0
    resolved: int = 0
    lookups: int = 0
    suggestions_seen: int = 0
    suggestions_used: int = 0
    replies: int = 0
    callbacks: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


class SimAgent:
    def __init__(
        self,
        profile: AgentProfile,
        *,
        token: str,
        routing_url: str,
        knowledge_url: str,
        intake_url: str,
        phone_adapter: httpx.AsyncClient,
        rng: random.Random,
        stats: AgentStats,
        handle_seconds: float,
        decline_share: float = 0.05,
    ) -> None:
        self.profile = profile
        self.token = token
        self.routing = httpx.AsyncClient(base_url=routing_url, headers=self._auth(), timeout=15)
        self.knowledge = httpx.AsyncClient(base_url=knowledge_url, headers=self._auth(), timeout=15)
        self.intake = httpx.AsyncClient(base_url=intake_url, headers=self._auth(), timeout=15)
        self.phone_adapter = phone_adapter
        """The phone adapter's client (its API key): it dials callbacks and reports each attempt."""
        self.ws_url = routing_url.replace("http://", "ws://") + "/v1/desktop/ws"
        self.rng = rng
        self.stats = stats
        self.handle_seconds = handle_seconds
        self.decline_share = decline_share
        self._work: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        after: int | None = None
        while not self._stop.is_set():
            url = self.ws_url + (f"?after={after}" if after is not None else "")
            try:
                async with connect(url, additional_headers=self._auth(), open_timeout=15) as ws:
                    await ws.send(json.dumps({"type": "presence", "presence": "available", "ref": "start"}))
                    after = await self._listen(ws, after)
            except (OSError, WebSocketException, TimeoutError) as exc:
                self.stats.errors[type(exc).__name__] += 1
                await asyncio.sleep(1)
        for task in list(self._work):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.routing.aclose()
            await self.knowledge.aclose()
            await self.intake.aclose()

    async def _listen(self, ws: ClientConnection, after: int | None) -> int | None:
        while not self._stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
            except TimeoutError:
                continue
            message = json.loads(raw)
            if isinstance(message.get("id"), int):
                after = message["id"]
            kind = message.get("type")
            if kind == "offer":
                await self._on_offer(ws, message)
            elif kind == "assigned":
                task = asyncio.create_task(self._handle(message))
                self._work.add(task)
                task.add_done_callback(self._work.discard)
        with contextlib.suppress(Exception):
            await ws.send(json.dumps({"type": "presence", "presence": "offline", "ref": "end"}))
        return after

    async def _on_offer(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        self.stats.offers += 1
        offer_id = message.get("offer_id")
        if self.rng.random() < self.decline_share:
            self.stats.declined += 1
            await ws.send(json.dumps({"type": "decline", "offer_id": offer_id, "reason": "on a break"}))
            return
        await asyncio.sleep(self.rng.uniform(0.2, 1.5))  # reading the offer
        await ws.send(json.dumps({"type": "accept", "offer_id": offer_id, "ref": offer_id}))
        self.stats.accepted += 1

    async def _handle(self, message: dict[str, Any]) -> None:
        work = message.get("work") or {}
        contact = message.get("contact") or {}
        work_id = work.get("work_id")
        if work_id is None:
            return
        contact_id = work.get("contact_id")
        try:
            if work.get("callback") and not await self._call_back(str(contact_id), work["callback"]):
                return  # nobody answered: routing schedules the next try (or closes it as unreachable)
            await self._step(f"/v1/work/{work_id}/start", {})
            suggestions = contact.get("suggestions") or []
            self.stats.suggestions_seen += len(suggestions)
            await self._reply(str(contact_id), contact, solution=False)
            await self._look_up(contact, suggestions)
            await asyncio.sleep(self.rng.lognormvariate(0, 0.5) * self.handle_seconds)
            await self._reply(str(contact_id), contact, solution=True)
            await self._step(f"/v1/work/{work_id}/solution", {"note": "Explained the cause and the fix."})
            await self._step(
                f"/v1/work/{work_id}/resolve",
                {
                    "resolution_code": self.rng.choice(RESOLUTION_CODES),
                    "final_note": "Resolved with the customer; result fed back.",
                    "fcr": self.rng.random() < 0.8,
                    "send_end_notice": True,
                },
            )
            self.stats.resolved += 1
            await self._step(f"/v1/work/{work_id}/close", {"reason": "three clears done"})
        except httpx.HTTPError as exc:
            self.stats.errors[type(exc).__name__] += 1

    async def _reply(self, contact_id: str, contact: dict[str, Any], *, solution: bool) -> None:
        """Answer the customer on their channel: a first acknowledgement, later the solution."""
        english = (contact.get("language") or "zh").startswith("en")
        if solution:
            text = "We have fixed the problem; details below." if english else "问题已经处理好了，具体说明如下。"
        else:
            text = "Thank you, we are looking into it now." if english else "您好，已收到，正在为您处理。"
        response = await self.intake.post(
            f"/v1/contacts/{contact_id}/replies", json={"text": text, "solution": solution}
        )
        if response.status_code == 201:
            self.stats.replies += 1
        else:
            self.stats.errors[f"reply {response.status_code}"] += 1

    async def _call_back(self, contact_id: str, callback: dict[str, Any]) -> bool:
        """Dial the caller back (the phone adapter does, and reports the attempt): True when they answer."""
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        outcome = "answered" if self.rng.random() < 0.75 else "no_answer"
        self.stats.callbacks[outcome] += 1
        await self.phone_adapter.post(f"/v1/contacts/{contact_id}/callback-attempts", json={"outcome": outcome})
        return outcome == "answered"

    async def _step(self, path: str, body: dict[str, Any]) -> None:
        response = await self.routing.post(path, json=body)
        if response.status_code >= 400:
            self.stats.errors[f"{path.rsplit('/', 1)[-1]} {response.status_code}"] += 1

    async def _look_up(self, contact: dict[str, Any], suggestions: list[dict[str, Any]]) -> None:
        """Most agents open a pushed suggestion when there is one; otherwise they search themselves."""
        if suggestions and self.rng.random() < 0.6:
            self.stats.suggestions_used += 1
            return
        query = contact.get("subject") or contact.get("text") or ""
        if not query:
            return
        response = await self.knowledge.get("/v1/search", params={"q": str(query)[:200], "limit": 5})
        self.stats.lookups += 1
        if response.status_code == 200:
            body = response.json()
            results = body.get("results") or []
            if results and body.get("search_id"):
                await self.knowledge.post(
                    f"/v1/search/{body['search_id']}/click", json={"article_id": results[0].get("article_id")}
                )
