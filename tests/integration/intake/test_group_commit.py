"""Group commit: concurrent single posts share one transaction, and each still gets its own outcome."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from services.intake.api.payloads import inbound_for
from services.intake.domain.identity import Identity
from services.intake.handlers.commit import GroupCommit, Item, QueueFull
from services.intake.handlers.intake import Accepted
from shared.clock import utcnow
from shared.events import INTAKE_CONTACTS
from shared.telemetry import setup_telemetry, tracer
from tests.integration.intake.conftest import Intake, unique
from tests.support import read_topic

pytestmark = pytest.mark.integration


def web_item(intake: Intake, *, submission: str | None = None, key: str | None = None, **fields: Any) -> Item:
    payload = {
        "form_id": "contact-us",
        "submission_id": submission or unique(),
        "email": f"{unique()}@example.com",
        "message": "我的订单三天了还没有发货",
        **fields,
    }
    return Item(inbound_for("web", payload, intake.app.state.settings), key, "gateway", utcnow())


def one_transaction(intake: Intake) -> GroupCommit:
    """A single flusher: every post queued while it starts shares its transaction."""
    state = intake.state
    return GroupCommit(state.pool, state.accepting, max_items=100, flushers=1)


async def transactions_of(intake: Intake, contact_ids: list[uuid.UUID]) -> int:
    async with intake.app.state.pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(DISTINCT xmin::text) FROM contact WHERE contact_id = ANY($1::uuid[])", contact_ids
        )
    return count


async def test_concurrent_posts_commit_together_and_each_gets_its_own_outcome(intake: Intake) -> None:
    commits = one_transaction(intake)
    distinct = [web_item(intake) for _ in range(10)]
    retried_form = replace(distinct[0], now=utcnow())  # the same submission posted again
    keyed = web_item(intake, key="retry-1")
    keyed_again = replace(web_item(intake), idempotency_key="retry-1")  # different body, same key

    results = await asyncio.gather(*(commits.accept(i) for i in [*distinct, retried_form, keyed, keyed_again]))

    created, duplicate, first_key, second_key = results[:10], results[10], results[11], results[12]
    assert [r.outcome for r in created] == ["created"] * 10
    assert len({r.contact_id for r in created}) == 10
    assert (duplicate.outcome, duplicate.contact_id) == ("duplicate", created[0].contact_id)
    assert first_key.outcome == "created"
    assert (second_key.outcome, second_key.message_id) == ("duplicate", first_key.message_id)
    assert await transactions_of(intake, [r.contact_id for r in [*created, first_key]]) == 1
    for accepted in created:
        response = await intake.client.get(f"/v1/contacts/{accepted.contact_id}", headers=intake.auth())
        assert response.status_code == 200


async def test_a_post_the_database_refuses_fails_alone_and_the_rest_of_its_group_commits(intake: Intake) -> None:
    commits = one_transaction(intake)
    good = [web_item(intake) for _ in range(4)]
    broken = web_item(intake)
    broken = replace(broken, inbound=replace(broken.inbound, identities=(Identity("fax", "+861012345678"),)))  # type: ignore[arg-type]

    results = await asyncio.gather(
        *(commits.accept(i) for i in [good[0], good[1], broken, good[2], good[3]]), return_exceptions=True
    )

    assert isinstance(results[2], asyncpg.CheckViolationError)
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert [r.outcome for r in accepted] == ["created"] * 4
    async with intake.app.state.pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT count(*) FROM message WHERE natural_key = ANY($1::text[])",
            [i.inbound.natural_key for i in [*good, broken]],
        )
    assert stored == 4, "the refused post left nothing behind; the four others are stored"
    for r in accepted:
        assert len(await intake.published(str(r.contact_id))) == 1


async def test_a_lone_post_on_an_idle_service_is_committed_without_waiting_for_company(intake: Intake) -> None:
    commits = one_transaction(intake)
    first = await asyncio.wait_for(commits.accept(web_item(intake)), timeout=30)
    second = await asyncio.wait_for(commits.accept(web_item(intake)), timeout=30)
    assert (first.outcome, second.outcome) == ("created", "created")
    assert await transactions_of(intake, [first.contact_id, second.contact_id]) == 2


async def test_each_post_in_a_group_publishes_its_event_under_its_own_trace(intake: Intake) -> None:
    setup_telemetry("intake")  # a real tracer provider, so spans have ids
    commits = one_transaction(intake)
    spans = tracer("tests.intake")

    async def traced_post(n: int) -> tuple[str, Accepted]:
        with spans.start_as_current_span(f"post {n}") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            return trace_id, await commits.accept(web_item(intake))

    posted = await asyncio.gather(*(traced_post(n) for n in range(3)))

    await intake.published(str(posted[0][1].contact_id))  # the outbox is drained
    records = await read_topic(intake.bootstrap, INTAKE_CONTACTS.name)
    traceparents = {
        json.loads(value)["subject"]: headers.get("traceparent", b"").decode() for headers, value in records
    }
    for trace_id, accepted in posted:
        assert traceparents[str(accepted.contact_id)].split("-")[1] == trace_id
    assert len({trace_id for trace_id, _ in posted}) == 3


async def test_a_flooding_adapter_is_refused_at_its_share_of_the_queue_and_the_others_still_get_in(
    intake: Intake,
) -> None:
    state = intake.state
    commits = GroupCommit(
        state.pool, state.accepting, max_items=5, flushers=1, max_waiting=40, max_waiting_per_adapter=10
    )
    flood = [replace(web_item(intake), adapter="flood") for _ in range(30)]
    other = [replace(web_item(intake), adapter="quiet") for _ in range(5)]

    results = await asyncio.gather(*(commits.accept(i) for i in [*flood, *other]), return_exceptions=True)

    refused = [r for r in results[:30] if isinstance(r, QueueFull)]
    assert len(refused) == 20, "the flood got its share of the queue and no more, refused at once"
    assert all(isinstance(r, Accepted) for r in results[30:]), "the other adapter's posts all got in"
    assert commits.waiting() == 0 and commits.waiting("flood") == 0, "the counts go back to zero"


async def test_a_full_queue_is_answered_503_with_retry_after(intake: Intake) -> None:
    commits = intake.state.commits
    commits._max_waiting = 0  # a queue that is always full
    try:
        response = await intake.client.post(
            "/v1/channels/web",
            json={"form_id": "f", "submission_id": unique(), "email": "a@example.com", "message": "hi"},
            headers=intake.auth(),
        )
    finally:
        commits._max_waiting = 2000
    assert response.status_code == 503 and response.headers["retry-after"] == "1", response.text
