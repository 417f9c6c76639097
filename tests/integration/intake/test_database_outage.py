"""Intake while its database is down: adapters are told 503 with Retry-After (which they act on), never 500, and
the retry with the same Idempotency-Key is accepted once the database is back."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import PROBLEM_JSON
from tests.integration.intake.conftest import Intake, unique
from tests.support import TestStack, database_down, wait_until

pytestmark = pytest.mark.integration


async def test_posts_during_a_database_outage_answer_503_with_retry_after(
    test_stack: TestStack, intake: Intake
) -> None:
    chat = {"session_id": unique("s-"), "message_id": "1", "platform": "web", "visitor": {"id": unique("v-")},
            "text": "数据库重启的时候我也在问问题"}  # fmt: skip
    headers = {**intake.auth(), "Idempotency-Key": unique("k-")}
    async with database_down(test_stack):
        refused = await intake.client.post("/v1/channels/chat", json=chat, headers=headers)
        ready = await intake.client.get("/health/ready")
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert int(refused.headers["retry-after"]) > 0
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unreachable")
    answers: list[httpx.Response] = []

    async def accepted() -> bool:
        answers.append(await intake.client.post("/v1/channels/chat", json=chat, headers=headers))
        return answers[-1].status_code == 202

    await wait_until(accepted, timeout_s=30)
    assert {a.status_code for a in answers} <= {202, 503}, [a.text for a in answers]
    assert answers[-1].json()["outcome"] == "created"
    [event] = await intake.published(answers[-1].json()["contact_id"])
    assert event["type"] == "switchboard.contact.received.v1"
