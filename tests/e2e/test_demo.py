"""A short `switchboard demo` through the whole stack, its figures checked against the services' databases and the
topics: every posted contact accounted for (none lost, none twice), every resolution invited to a survey as the
policy says, every due SLA moment fired exactly once."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from rich.console import Console

from demo.run import DemoOptions, DemoResult, run
from deploy.stack import Stack
from shared.events import FEEDBACK_EVENTS, INTAKE_CONTACTS, ROUTING_WORK, SLA_EVENTS
from tests.support import read_topic

pytestmark = pytest.mark.e2e

FIRED_TYPES = {
    "switchboard.sla.warning.v1": "warning",
    "switchboard.sla.breached.v1": "breach",
    "switchboard.sla.escalated.v1": "escalated",
}


@pytest.fixture(scope="module")
async def demo(whole_stack: Stack) -> DemoResult:
    options = DemoOptions(minutes=0.5, rate_per_min=40, agents=6, seed=11, customers=80, articles=40, drain_s=80)
    return await run(whole_stack, options, Console(file=io.StringIO(), width=120))


async def fetch(stack: Stack, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.settings.database_url(service))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def events(stack: Stack, topic: str, subjects: set[str]) -> list[dict[str, Any]]:
    records = await read_topic(stack.settings.kafka_bootstrap, topic)
    decoded = [json.loads(value) for _, value in records]
    return [e for e in decoded if e["subject"] in subjects]


async def test_every_posted_contact_is_accounted_for_once(whole_stack: Stack, demo: DemoResult) -> None:
    ids = demo.adapters.contact_ids
    created = ids.get("created", [])
    assert len(created) >= 5, demo.adapters
    assert len(set(created)) == len(created), "a new contact was created twice"
    assert set(ids.get("duplicate", [])) <= set(created), "a repeated post made a contact of its own"
    assert set(ids.get("threaded", [])) <= set(created), "a follow-up opened a contact instead of threading"
    assert demo.adapters.rejected == Counter(), "intake refused a well-formed post"

    stored = await fetch(
        whole_stack, "intake", "SELECT contact_id FROM contact WHERE contact_id = ANY($1::uuid[])", created
    )
    assert {str(r["contact_id"]) for r in stored} == set(created), "a contact answered 202 is missing"
    received = Counter(
        e["subject"]
        for e in await events(whole_stack, INTAKE_CONTACTS.name, set(created))
        if e["type"] == "switchboard.contact.received.v1"
    )
    assert received == Counter({c: 1 for c in created}), "contact.received must be published exactly once each"
    assert demo.snapshot.contacts == len(created), "the report counts what intake created"


async def test_every_resolution_is_invited_to_a_survey_as_the_policy_says(
    whole_stack: Stack, demo: DemoResult
) -> None:
    created = set(demo.adapters.contact_ids.get("created", []))
    resolved = [
        e["data"]["work_id"]
        for e in await events(whole_stack, ROUTING_WORK.name, created)
        if e["type"] == "switchboard.work.resolved.v1"
    ]
    assert resolved, "the demo resolved nothing"
    invitations = await fetch(
        whole_stack,
        "feedback",
        "SELECT work_id, status, reason, due_at FROM invitation WHERE work_id = ANY($1::uuid[])",
        resolved,
    )
    by_work = {str(r["work_id"]): r for r in invitations}
    assert set(by_work) == set(resolved), "a resolution without an invitation row"
    now = datetime.now(UTC)
    for work_id, row in by_work.items():
        # The demo's policy samples every resolution and caps nothing: each is sent, answered or expired, waits for
        # its due moment, or was skipped/cancelled with a reason (e.g. reopened before sending).
        assert row["status"] != "waiting_contact", work_id
        if row["status"] in ("skipped", "cancelled"):
            assert row["reason"], work_id
        if row["status"] == "scheduled":
            assert row["due_at"] > now - timedelta(seconds=5), f"{work_id} was due and never sent"
    query = "SELECT invitation_id FROM invitation WHERE contact_id = ANY($1::uuid[]) AND sent_at IS NOT NULL"
    sent = Counter(str(r["invitation_id"]) for r in await fetch(whole_stack, "feedback", query, list(created)))
    feedback = await events(whole_stack, FEEDBACK_EVENTS.name, created)
    announced = Counter(e["data"]["invitation_id"] for e in feedback if e["type"] == "switchboard.survey.sent.v1")
    assert announced == sent, "each invitation sent is announced once"
    # A survey due later may still go out after the report was made; the report counts every one announced
    # before the observer read the topics to their end.
    by_then = [
        e
        for e in feedback
        if e["type"] == "switchboard.survey.sent.v1" and datetime.fromisoformat(e["time"]) <= demo.observed_until
    ]
    assert demo.snapshot.surveys_sent == len(by_then), "the report counts every survey sent"


async def test_every_due_sla_moment_fired_exactly_once(whole_stack: Stack, demo: DemoResult) -> None:
    created = demo.adapters.contact_ids.get("created", [])
    overdue = await fetch(
        whole_stack,
        "sla",
        "SELECT contact_id, clock, alert FROM sla_due WHERE contact_id = ANY($1::uuid[]) AND due_at < $2",
        created,
        datetime.now(UTC) - timedelta(seconds=3),
    )
    assert overdue == [], "a due moment was never fired"
    fired = await fetch(
        whole_stack,
        "sla",
        "SELECT contact_id, clock, alert FROM sla_fired WHERE contact_id = ANY($1::uuid[])",
        created,
    )
    published = [e for e in await events(whole_stack, SLA_EVENTS.name, set(created)) if e["type"] in FIRED_TYPES]
    assert len(published) == len(fired), "every fired moment is published once, and nothing else is"
    keys = Counter(
        (e["subject"], e["data"]["clock"], FIRED_TYPES[e["type"]], e["data"].get("level")) for e in published
    )
    assert all(n == 1 for n in keys.values()), [k for k, n in keys.items() if n > 1]
    started = [
        e
        for e in await events(whole_stack, SLA_EVENTS.name, set(created))
        if e["type"].endswith("clock_started.v1")
    ]
    assert {e["subject"] for e in started} == set(created), "every contact's clocks started"


async def test_the_report_is_written_with_its_charts(demo: DemoResult) -> None:
    text = demo.report.read_text(encoding="utf-8")
    assert f"| contacts received | {len(demo.adapters.contact_ids['created'])} |" in text
    assert f"| surveys sent | {demo.snapshot.surveys_sent} |" in text
    assert list(demo.report.parent.glob("*.png")), "charts beside the report"
