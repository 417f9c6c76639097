"""What the matrix runs against: the running apps, the ids of the objects its rows are about, and the
credentials of every kind of caller (`build.py` starts the apps and makes the objects)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from shared import audit
from shared.auth import Role, issue_token
from shared.clock import utcnow
from tests.integration.access.matrix import Actor
from tests.integration.routing.harness import Routing
from tests.support import TOKEN_SECRET

ADAPTER_CHANNELS = ("email", "sms", "web", "phone")
OTHER_CHANNELS = ("chat",)
SUBJECTS: dict[Actor, tuple[Role, str]] = {
    "agent_other": ("agent", "A-2"),
    "agent": ("agent", "A-1"),
    "supervisor": ("supervisor", "S-1"),
    "admin": ("admin", "AD-1"),
    "ops": ("ops", "OPS-1"),
}
NAME = "张三丰"
PHONE = "13912345678"
EMAIL = "zhang.sanfeng.matrix@example.com"
PII = (NAME, PHONE, "zhang.sanfeng")
"""What must not be in an answer masked for its reader, and what an audited read shows."""
AUDITED_READS = frozenset({"intake", "feedback"})
"""The services that keep reads of important personal data (in `shared/audit.py`'s one table)."""
PASSWORD = "access-matrix-password-1"
ARTICLE = {
    "title": "如何重置账户密码",
    "body": "## 步骤\n\n打开设置页面，点击忘记密码，按短信验证码重置密码。",
    "language": "zh-Hans",
    "summary": "通过短信验证码重置密码",
    "category": "account",
    "tags": ["密码"],
    "visibility": "internal",
}


@dataclass(frozen=True)
class Session:
    cookie: str
    csrf: str


@dataclass
class World:
    apps: dict[str, FastAPI]
    routing: Routing
    web_url: str
    keys: dict[Actor, str]
    ids: dict[str, str]
    sessions: dict[Actor, Session] = field(default_factory=dict)
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def client(self, service: str) -> httpx.AsyncClient:
        return self.clients[service]

    def bearer(self, actor: Actor) -> dict[str, str]:
        if actor == "none":
            return {}
        if actor in self.keys:
            return {"Authorization": f"Bearer {self.keys[actor]}"}
        role, subject = SUBJECTS[actor]
        token = issue_token(TOKEN_SECRET, role=role, subject=subject, ttl=timedelta(minutes=30), now=utcnow())
        return {"Authorization": f"Bearer {token}"}

    def fill(self, value: Any, extra: Mapping[str, str] = {}) -> Any:
        """`value` with every `{name}` replaced by the id of that name (`extra` first)."""
        if isinstance(value, str):
            return re.sub(r"\{([a-z_]+)(?::[a-z]+)?\}", lambda m: self._id(m.group(1), extra), value)
        if isinstance(value, dict):
            return {k: self.fill(v, extra) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v, extra) for v in value]
        return value

    def _id(self, name: str, extra: Mapping[str, str]) -> str:
        if name in extra:
            return str(self.fill(extra[name]))
        assert name in self.ids, f"the matrix names {{{name}}}, which the test does not make"
        return self.ids[name]

    async def audit_count(self, service: str) -> int:
        assert service in AUDITED_READS, service
        async with self.apps[service].state.pool.acquire() as conn:
            count: int = await conn.fetchval(f"SELECT count(*) FROM {audit.TABLE}")  # noqa: S608 — our constant
            return count

    # --- objects a row changes, made anew for it ----------------------------------------------------------------

    async def fresh_work(self, *, resolved: bool = False) -> str:
        """Manual work assigned to A-1 by a supervisor (resolved by A-1 when `resolved`)."""
        supervisor = self.bearer("supervisor")
        created = await self.routing.http.post(
            "/v1/work", json={"channel": "chat", "pool": "matrix", "language": "zh"}, headers=supervisor
        )
        assert created.status_code == 201, created.text
        work_id = str(created.json()["work"]["work_id"])
        assigned = await self.routing.http.post(
            f"/v1/work/{work_id}/assign", json={"agent_id": "A-1", "override_capacity": True}, headers=supervisor
        )
        assert assigned.status_code == 200, assigned.text
        if resolved:
            done = await self.routing.http.post(
                f"/v1/work/{work_id}/resolve",
                json={"resolution_code": "answered", "final_note": "done", "fcr": True,
                      "customer_notified": True, "send_end_notice": False},
                headers=self.bearer("agent"),
            )  # fmt: skip
            assert done.status_code == 200, done.text
        return work_id

    async def fresh_offer(self) -> str:
        supervisor = self.bearer("supervisor")
        created = await self.routing.http.post(
            "/v1/work", json={"channel": "chat", "pool": "matrix", "language": "zh"}, headers=supervisor
        )
        assert created.status_code == 201, created.text
        offered = await self.routing.http.post(
            f"/v1/work/{created.json()['work']['work_id']}/offer",
            json={"agent_id": "A-1", "override_capacity": True},
            headers=supervisor,
        )
        assert offered.status_code == 200, offered.text
        return str(offered.json()["offer_id"])

    async def fresh_article(self) -> str:
        created = await self.client("knowledge").post("/v1/articles", json=ARTICLE, headers=self.bearer("agent"))
        assert created.status_code == 201, created.text
        return str(created.json()["article_id"])

    async def sign_in(self, actor: Actor) -> Session:
        role, _ = SUBJECTS[actor]
        async with httpx.AsyncClient(base_url=self.web_url, headers={"Origin": self.web_url}) as browser:
            signed = await browser.post("/auth/signin", json={"username": actor, "password": PASSWORD})
            assert signed.status_code == 200, signed.text
            assert signed.json()["role"] == role
            me = await browser.get("/auth/me")
            return Session(cookie=browser.cookies["sb_session"], csrf=str(me.json()["csrf_token"]))
