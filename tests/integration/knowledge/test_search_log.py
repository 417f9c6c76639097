"""Lookups are logged through a buffer: written in batches, visible to clicks and gaps at once, flushed at stop."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.knowledge.app import create_app
from services.knowledge.config import KnowledgeSettings
from services.knowledge.searchlog import SearchLogBuffer
from services.knowledge.state import Knowledge
from shared.app import running
from shared.db import connect
from shared.service import service_state
from tests.integration.knowledge.conftest import Publish, bearer
from tests.support import wait_until

pytestmark = pytest.mark.integration


def slow_flushing(settings: KnowledgeSettings) -> KnowledgeSettings:
    """The background writer waits a minute: only what the service does on demand (or at stop) writes."""
    return settings.model_copy(update={"search_log_flush_s": 60.0})


async def logged(database_url: str) -> list[tuple[str, int]]:
    conn = await connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT query, result_count FROM search_log WHERE source = 'lookup' ORDER BY query"
        )
        return [(r["query"], r["result_count"]) for r in rows]
    finally:
        await conn.close()


async def test_a_click_and_a_vote_right_after_a_lookup_find_it_while_it_waits_in_the_buffer(
    settings: KnowledgeSettings,
) -> None:
    async with (
        running(create_app(slow_flushing(settings))) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        created = await client.post(
            "/v1/articles",
            json={"title": "如何重置密码", "body": "按短信验证码重置密码。", "language": "zh-Hans"},
            headers=bearer("supervisor"),
        )
        article_id = created.json()["article_id"]
        await client.post(f"/v1/articles/{article_id}/submit", headers=bearer("supervisor"))
        await client.post(f"/v1/articles/{article_id}/publish", headers=bearer("supervisor"))
        found = (await client.get("/v1/search", params={"q": "重置密码"}, headers=bearer("agent"))).json()
        buffer: SearchLogBuffer = service_state(app, Knowledge).search_log
        assert buffer.holds(uuid.UUID(found["search_id"])) and len(buffer) == 1
        click = await client.post(
            f"/v1/search/{found['search_id']}/click", json={"article_id": article_id}, headers=bearer("agent")
        )
        vote = await client.post(
            f"/v1/search/{found['search_id']}/vote", json={"helpful": True}, headers=bearer("agent")
        )
        assert click.status_code == 204 and vote.status_code == 204
        assert len(buffer) == 0
        unknown = await client.post(
            "/v1/search/00000000-0000-4000-8000-000000000000/vote", json={"helpful": True}, headers=bearer("agent")
        )
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == "no search 00000000-0000-4000-8000-000000000000"
        elsewhere = await client.post(
            f"/v1/search/{found['search_id']}/click",
            json={"article_id": str(uuid.uuid4())},
            headers=bearer("agent"),
        )
        assert elsewhere.status_code == 422, elsewhere.text
        assert elsewhere.json()["detail"] == "article_id: not among this search's results"
        assert elsewhere.json()["type"].endswith("#validation")


async def test_every_lookup_is_written_at_stop_and_the_gaps_report_sees_lookups_still_buffered(
    settings: KnowledgeSettings,
) -> None:
    async with (
        running(create_app(slow_flushing(settings))) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        for q in ("发票抬头", "发票抬头", "退款进度"):
            response = await client.get("/v1/search", params={"q": q}, headers=bearer("agent"))
            assert response.status_code == 200
        gaps = (await client.get("/v1/knowledge/gaps", headers=bearer("supervisor"))).json()["gaps"]
        assert {g["query"]: g["zero_results"] for g in gaps} == {"发票抬头": 2, "退款进度": 1}
        for q in ("账单", "app crashes"):
            await client.get("/v1/search", params={"q": q}, headers=bearer("agent"))
        assert len(service_state(app, Knowledge).search_log) == 2
    assert [q for q, _ in await logged(settings.database_url)] == sorted(
        ["发票抬头", "发票抬头", "退款进度", "账单", "app crashes"]
    )


async def test_the_background_writer_logs_lookups_without_being_asked(
    client: httpx.AsyncClient, publish: Publish, settings: KnowledgeSettings
) -> None:
    await publish()
    for q in ("重置密码", "账户"):
        assert (await client.get("/v1/search", params={"q": q}, headers=bearer("agent"))).status_code == 200

    async def both_written() -> bool:
        return len(await logged(settings.database_url)) == 2

    await wait_until(both_written, timeout_s=10)
    assert dict(await logged(settings.database_url)) == {"重置密码": 1, "账户": 1}
