"""Overdue articles are announced to their owners on knowledge.events, once per review-by date, across restarts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.knowledge.overdue import OverdueWatch
from shared.clock import ManualClock, utcnow
from shared.events import KNOWLEDGE_EVENTS
from shared.outbox import backlog
from tests.integration.knowledge.conftest import Publish, bearer
from tests.support import read_topic, wait_until

pytestmark = pytest.mark.integration


async def announcements(app: FastAPI, article_id: str) -> list[dict[str, Any]]:
    async def drained() -> bool:
        async with app.state.pool.acquire() as conn:
            return await backlog(conn) == 0

    await wait_until(drained, timeout_s=20)
    records = await read_topic(app.state.settings.kafka_bootstrap, KNOWLEDGE_EVENTS.name)
    envelopes = [json.loads(value) for _, value in records]
    return [
        e["data"]
        for e in envelopes
        if e["type"] == "switchboard.knowledge.article_overdue.v1" and e["subject"] == f"article:{article_id}"
    ]


async def test_an_overdue_article_is_announced_to_its_owner_once_per_review_by_date(
    app: FastAPI, client: httpx.AsyncClient, publish: Publish
) -> None:
    published = await publish(owner="agent-17", title="如何开具电子发票")
    article_id = published["article_id"]
    now = utcnow()
    watch = OverdueWatch(app.state.pool, ManualClock(now), interval_s=3600)
    assert await watch.check() == 0, "published today: due in 180 days"

    watch.clock = ManualClock(now + timedelta(days=181))
    assert await watch.check() == 1
    assert await watch.check() == 0, "the same date is announced once"
    assert watch.announced == 1, "what this instance announced, for its /metrics"
    restarted = OverdueWatch(app.state.pool, ManualClock(now + timedelta(days=182)), interval_s=3600)
    assert await restarted.check() == 0, "a restart (or another instance) remembers it"
    assert restarted.announced == 0
    [first] = await announcements(app, article_id)
    assert first["owner"] == "agent-17" and first["title"] == "如何开具电子发票" and first["version"] == 1
    assert first["review_by"] == published["review_by"].replace("+00:00", "Z")

    review_by = now + timedelta(days=1)
    url = f"/v1/articles/{article_id}/review"
    reviewed = await client.put(url, json={"review_by": review_by.isoformat()}, headers=bearer("supervisor"))
    assert reviewed.status_code == 200, reviewed.text
    restarted.clock = ManualClock(now + timedelta(days=2))
    assert await restarted.check() == 1, "marked reviewed: its new date is announced when it passes"
    assert [a["review_by"] for a in await announcements(app, article_id)][1].startswith(
        review_by.strftime("%Y-%m-%dT%H:%M")
    )


async def test_an_archived_article_is_never_announced(
    app: FastAPI, client: httpx.AsyncClient, publish: Publish
) -> None:
    published = await publish()
    archived = await client.post(f"/v1/articles/{published['article_id']}/archive", headers=bearer("supervisor"))
    assert archived.status_code == 200
    watch = OverdueWatch(app.state.pool, ManualClock(utcnow() + timedelta(days=400)), interval_s=3600)
    assert await watch.check() == 0
