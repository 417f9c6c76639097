"""The thin path end to end: author and publish over HTTP, find it in Chinese and English, suggest on contacts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from services.knowledge.config import KnowledgeSettings
from shared.events import INTAKE_CONTACTS, KNOWLEDGE_EVENTS, ContactReceivedV1, CustomerRef, encode
from shared.kafka import Producer
from tests.integration.knowledge.conftest import Publish, bearer
from tests.support import read_topic, wait_until

pytestmark = pytest.mark.integration


async def test_a_published_article_is_found_in_chinese_in_either_script_and_in_english(
    client: httpx.AsyncClient, publish: Publish
) -> None:
    zh = await publish()
    en = await publish(
        title="How to reset your account password",
        body="Open **Settings**, choose *Forgot password* and follow the SMS code.",
        language="en",
        summary="Reset a password with an SMS code",
        tags=["password", "account"],
    )
    simplified = await client.get("/v1/search", params={"q": "重置密码"}, headers=bearer("agent"))
    traditional = await client.get("/v1/search", params={"q": "重設帳戶密碼"}, headers=bearer("agent"))
    english = await client.get("/v1/search", params={"q": "resetting passwords"}, headers=bearer("agent"))
    for response in (simplified, traditional, english):
        assert response.status_code == 200, response.text
    assert simplified.json()["results"][0]["article_id"] == zh["article_id"]
    assert traditional.json()["results"][0]["article_id"] == zh["article_id"]
    assert english.json()["results"][0]["article_id"] == en["article_id"]
    assert "<mark>密码</mark>" in simplified.json()["results"][0]["highlights"]["title"]
    assert "<mark>" in english.json()["results"][0]["highlights"]["title"]


async def test_search_needs_a_credential(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/search", params={"q": "密码"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_new_contact_on_the_real_topic_yields_a_suggestion_on_knowledge_events(
    client: httpx.AsyncClient, publish: Publish, settings: KnowledgeSettings
) -> None:
    published = await publish()
    contact_id = uuid.uuid4()
    event = ContactReceivedV1(
        contact_id=contact_id,
        message_id=uuid.uuid4(),
        channel="chat",
        customer=CustomerRef(customer_id=uuid.uuid4(), grade="basic"),
        text="你好，我忘记了账户密码，怎么重置？",
        language="zh-Hans",
        category="enquiry",
        priority_class="routine",
        received_at=datetime.now(UTC),
    )
    message = encode(event, source="switchboard/intake", subject=str(contact_id), time=datetime.now(UTC))
    assert message.topic == INTAKE_CONTACTS.name
    producer = Producer(settings)
    await producer.start()
    try:
        await producer.send_raw(message.topic, key=message.key, value=message.value, headers=message.headers)
    finally:
        await producer.stop()

    found: list[dict[str, object]] = []

    async def suggested() -> bool:
        for _, value in await read_topic(settings.kafka_bootstrap, KNOWLEDGE_EVENTS.name):
            envelope = json.loads(value)
            if envelope["type"] == "switchboard.knowledge.suggested.v1" and envelope["subject"] == str(contact_id):
                found.append(envelope["data"])
                return True
        return False

    await wait_until(suggested, timeout_s=60, interval_s=0.5)
    data = found[0]
    assert data["contact_id"] == str(contact_id)
    articles = data["articles"]
    assert isinstance(articles, list) and articles[0]["article_id"] == published["article_id"]
    assert articles[0]["score"] > 0
