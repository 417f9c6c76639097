"""Workflow, visibility, versions, overdue, import and gaps over HTTP against the real database."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import generate_api_key, insert_api_key
from tests.integration.knowledge.conftest import Publish, article, bearer
from tests.support import wait_until

pytestmark = pytest.mark.integration


async def hits(client: httpx.AsyncClient, q: str, **headers: str) -> list[str]:
    response = await client.get("/v1/search", params={"q": q}, headers=headers or bearer("agent"))
    assert response.status_code == 200, response.text
    return [r["article_id"] for r in response.json()["results"]]


async def test_drafts_are_not_searchable_and_agents_cannot_publish(client: httpx.AsyncClient) -> None:
    created = (await client.post("/v1/articles", json=article(), headers=bearer("agent"))).json()
    article_id = created["article_id"]
    assert await hits(client, "重置密码") == []
    await client.post(f"/v1/articles/{article_id}/submit", headers=bearer("agent"))
    refused = await client.post(f"/v1/articles/{article_id}/publish", headers=bearer("agent"))
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    early = await client.post(f"/v1/articles/{article_id}/archive", headers=bearer("agent"))
    assert early.status_code == 403
    assert await hits(client, "重置密码") == []


async def test_an_edit_makes_a_new_version_while_the_published_one_stays_searchable(
    client: httpx.AsyncClient, publish: Publish
) -> None:
    published = await publish()
    article_id = published["article_id"]
    edited = await client.patch(
        f"/v1/articles/{article_id}",
        json={"base_version": 1, "title": "如何找回账户密码", "note": "wording"},
        headers=bearer("agent"),
    )
    assert edited.status_code == 200 and edited.json()["version"] == 2 and edited.json()["published_version"] == 1
    stale = await client.patch(
        f"/v1/articles/{article_id}", json={"base_version": 1, "summary": "x"}, headers=bearer("agent")
    )
    assert stale.status_code == 409
    assert await hits(client, "重置") == [article_id]
    assert await hits(client, "找回") == []
    await client.post(f"/v1/articles/{article_id}/submit", headers=bearer("agent"))
    await client.post(f"/v1/articles/{article_id}/publish", headers=bearer("admin"))
    assert await hits(client, "找回") == [article_id]
    versions = (await client.get(f"/v1/articles/{article_id}/versions", headers=bearer("agent"))).json()
    assert [v["version"] for v in versions["versions"]] == [2, 1] and versions["published_version"] == 2
    assert {h["action"] for h in versions["history"]} >= {"article.create", "article.edit", "article.publish"}
    diff = (
        await client.get(f"/v1/articles/{article_id}/diff", params={"from": 1}, headers=bearer("agent"))
    ).json()
    assert [c["field"] for c in diff["changes"]] == ["title"]
    assert "+如何找回账户密码" in diff["changes"][0]["diff"]


async def test_archiving_removes_an_article_from_search_at_once(
    client: httpx.AsyncClient, publish: Publish
) -> None:
    published = await publish()
    archived = await client.post(f"/v1/articles/{published['article_id']}/archive", headers=bearer("supervisor"))
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert await hits(client, "重置密码") == []


async def test_adapter_keys_find_public_articles_only(
    app: FastAPI, client: httpx.AsyncClient, publish: Publish
) -> None:
    internal = await publish()
    public = await publish(visibility="public", title="重置密码（自助）")
    key = generate_api_key()
    async with app.state.pool.acquire() as conn:
        await insert_api_key(conn, key=key, name="web-widget", channels=["web"], now=datetime.now(UTC))
    as_adapter = await hits(client, "重置密码", Authorization=f"Bearer {key.key}")
    as_agent = await hits(client, "重置密码")
    assert as_adapter == [public["article_id"]]
    assert set(as_agent) == {internal["article_id"], public["article_id"]}


async def test_overdue_articles_are_listed_once_their_review_date_passes(
    client: httpx.AsyncClient, publish: Publish
) -> None:
    published = await publish()
    assert datetime.fromisoformat(published["review_by"]) - datetime.fromisoformat(
        published["published_at"]
    ) == timedelta(days=180)
    none_yet = (await client.get("/v1/articles/overdue", headers=bearer("supervisor"))).json()
    assert none_yet["items"] == []
    changed = await client.put("/v1/knowledge/settings/review_days", json={"value": 1}, headers=bearer("admin"))
    assert changed.status_code == 200
    republished = await publish(title="另一篇")
    reviewed = await client.put(
        f"/v1/articles/{republished['article_id']}/review",
        json={"review_by": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()},
        headers=bearer("supervisor"),
    )
    assert reviewed.status_code == 200
    assert datetime.fromisoformat(republished["review_by"]) - datetime.fromisoformat(
        republished["published_at"]
    ) == timedelta(days=1)

    async def overdue() -> list[str]:
        listed = (await client.get("/v1/articles/overdue", headers=bearer("agent"))).json()
        return [a["article_id"] for a in listed["items"]]

    await wait_until(lambda: overdue_now(overdue, republished["article_id"]), timeout_s=15, interval_s=0.3)
    assert published["article_id"] not in await overdue()


async def overdue_now(listing: Callable[[], Awaitable[list[str]]], article_id: str) -> bool:
    return article_id in await listing()


async def test_import_publishes_good_items_reports_bad_ones_and_updates_by_external_id(
    client: httpx.AsyncClient,
) -> None:
    lines = [
        {
            "id": "kb-1",
            "title": "发票怎么开",
            "body": "在订单页申请电子发票。",
            "lang": "zh",
            "status": "published",
        },
        {"id": "kb-2", "title": "", "body": "无标题", "lang": "zh", "status": "published"},
        {
            "id": "kb-3",
            "title": "Invoices",
            "body": "Request an e-invoice on the order page.",
            "lang": "en",
            "status": "published",
        },
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    headers = {**bearer("supervisor"), "Content-Type": "application/x-ndjson"}
    first = (await client.post("/v1/articles/import", content=body.encode(), headers=headers)).json()
    assert (first["created"], first["published"]) == (2, 2)
    assert [(e["position"], e["external_id"]) for e in first["errors"]] == [("line 2", "kb-2")]
    assert len(await hits(client, "发票")) == 1 and len(await hits(client, "invoice")) == 1
    again = (await client.post("/v1/articles/import", content=body.encode(), headers=headers)).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    agent_publish = await client.post(
        "/v1/articles/import",
        content=body.encode(),
        headers={**bearer("agent"), "Content-Type": "application/x-ndjson"},
    )
    assert agent_publish.status_code == 422
    wrong_type = await client.post(
        "/v1/articles/import", content=body.encode(), headers={**bearer("agent"), "Content-Type": "text/csv"}
    )
    assert wrong_type.status_code == 415


async def test_zero_result_and_unhelpful_searches_are_reported_as_gaps(
    client: httpx.AsyncClient, publish: Publish
) -> None:
    await publish()
    nothing = (await client.get("/v1/search", params={"q": "发票抬头"}, headers=bearer("agent"))).json()
    assert nothing["total"] == 0
    found = (await client.get("/v1/search", params={"q": "重置密码"}, headers=bearer("agent"))).json()
    article_id = found["results"][0]["article_id"]
    click = await client.post(
        f"/v1/search/{found['search_id']}/click", json={"article_id": article_id}, headers=bearer("agent")
    )
    vote = await client.post(
        f"/v1/search/{found['search_id']}/vote",
        json={"article_id": article_id, "helpful": False},
        headers=bearer("agent"),
    )
    assert click.status_code == 204 and vote.status_code == 204
    gaps = (await client.get("/v1/knowledge/gaps", headers=bearer("supervisor"))).json()["gaps"]
    by_query = {g["query"]: g for g in gaps}
    assert by_query["发票抬头"]["zero_results"] == 1
    assert by_query["重置密码"]["unhelpful_votes"] == 1 and by_query["重置密码"]["clicks"] == 1


async def test_an_admin_synonym_lets_a_query_find_an_article_without_its_words(
    client: httpx.AsyncClient, publish: Publish
) -> None:
    published = await publish()
    assert await hits(client, "找回口令") == []
    created = await client.post(
        "/v1/knowledge/synonyms", json={"terms": ["口令", "密码"]}, headers=bearer("admin")
    )
    assert created.status_code == 201
    refused = await client.post("/v1/knowledge/synonyms", json={"terms": ["a", "b"]}, headers=bearer("agent"))
    assert refused.status_code == 403
    assert await hits(client, "找回口令") == [published["article_id"]]
