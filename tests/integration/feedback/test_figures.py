"""Satisfaction figures by agent, team, channel, grade, category, day and the customer's attributes; comments
masked for who may not see."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.feedback.handlers import submit_answers
from services.feedback.scheduler import fire_due, purge_comments
from shared.events import CustomerRef
from shared.tx import Tx
from tests.integration.feedback.conftest import Feedback, resolve
from tests.unit.feedback.builders import make_contact_received, make_work_resolved

pytestmark = pytest.mark.integration


async def answered(feedback: Feedback, raw: dict[str, object] | None, **overrides: Any) -> None:
    """A contact resolved by `agent`/`team`, surveyed, and answered with `raw` (None: never answered)."""
    agent = overrides.pop("agent", "agent-1")
    team = overrides.pop("team", "team-a")
    fcr = overrides.pop("fcr", True)
    contact = make_contact_received(**overrides)
    resolved = make_work_resolved(contact, agent_id=agent, team=team, fcr=fcr, resolved_at=feedback.clock.now())
    await resolve(feedback, contact, resolved)
    assert (await fire_due(feedback.pool, now=feedback.clock.now() + timedelta(hours=1), links=feedback.links))[
        "sent"
    ] == 1
    if raw is None:
        return
    invitation_id = await feedback.pool.fetchval(
        "SELECT invitation_id FROM invitation WHERE contact_id = $1", contact.contact_id
    )
    async with feedback.pool.acquire() as conn, conn.transaction():
        await submit_answers(
            Tx(conn=conn, now=feedback.clock.now() + timedelta(hours=2)),
            invitation_id=invitation_id,
            raw=raw,
            source="page",
        )


async def test_figures_by_agent_team_channel_grade_category_and_day(feedback: Feedback) -> None:
    strategic = CustomerRef(customer_id=uuid.uuid4(), grade="strategic")
    await answered(feedback, {"csat": "5", "nps": "10", "solved": "1"}, agent="a-1", team="north", channel="phone")
    await answered(feedback, {"csat": "4", "nps": "9", "solved": "1"}, agent="a-1", team="north", channel="email",
                   fcr=False)  # fmt: skip
    low: dict[str, object] = {"csat": "2", "nps": "3", "solved": "0", "comment": "没解决，电话 13912345678"}
    await answered(
        feedback, low, agent="a-2", team="south", channel="phone", customer=strategic, category="complaint"
    )
    await answered(feedback, None, agent="a-2", team="south", channel="email")
    feedback.clock.advance(timedelta(days=1))
    await answered(feedback, {"csat": "3"}, agent="a-1", team="north", channel="chat")

    async def report(by: str, token: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
        async with feedback.client() as client:
            response = await client.get(
                "/v1/feedback/figures",
                params={"by": by, "from": "2026-11-20", "to": "2026-11-30", **params},
                headers=token or feedback.token("supervisor"),
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    total = (await report("all"))["total"]
    assert (total["sent"], total["answered"], total["response_rate"]) == (5, 4, 80.0)
    assert (total["satisfied_pct"], total["mean_score_100"]) == (50.0, 70.0)  # 4–5 of 4; (100+80+40+60)/4
    assert total["nps"] == 33.3  # 2 promoters, 1 detractor of 3
    assert total["fcr_pct"] == 33.3  # solved and first-contact: 1 of 3 solved answers

    by_agent = {g["key"]: g for g in (await report("agent"))["groups"]}
    assert (by_agent["a-1"]["satisfied_pct"], by_agent["a-2"]["satisfied_pct"]) == (66.7, 0.0)
    assert by_agent["a-2"]["response_rate"] == 50.0
    assert {g["key"] for g in (await report("team"))["groups"]} == {"north", "south"}
    assert {g["key"]: g["sent"] for g in (await report("channel"))["groups"]} == {
        "chat": 1,
        "email": 2,
        "phone": 2,
    }
    assert {g["key"]: g["answered"] for g in (await report("grade"))["groups"]} == {"key": 3, "strategic": 1}
    assert {g["key"] for g in (await report("category"))["groups"]} == {"complaint", "system_fault"}
    assert {g["key"]: g["sent"] for g in (await report("day"))["groups"]} == {"2026-11-23": 4, "2026-11-24": 1}

    async def comment_reads() -> int:
        return await feedback.pool.fetchval(  # type: ignore[no-any-return]
            "SELECT count(*) FROM audit_trail WHERE action = 'survey_comment.read' AND actor = 'supervisor-1'"
        )

    before = await comment_reads()
    supervisor = await report("all")
    [low] = supervisor["low_scores"]
    assert (low["agent_id"], low["reasons"]) == ("a-2", ["not_solved", "csat", "nps"])
    assert (low["comment"], supervisor["comments_masked"]) == ("没解决，电话 13912345678", False)
    assert await comment_reads() == before + 1, "every read of unmasked comments is audited"
    ops = await report("all", feedback.token("ops"))
    assert ops["comments_masked"] is True and "13912345678" not in ops["low_scores"][0]["comment"]
    assert await feedback.pool.fetchval("SELECT count(*) FROM audit_trail WHERE actor = 'ops-1'") == 0

    own = await report("agent", feedback.token("agent", "a-1"), agent="a-2")
    assert [g["key"] for g in own["groups"]] == ["a-1"], "an agent sees only their own figures"


async def test_figures_break_down_by_the_customers_value_tier_risk_level_and_lifecycle_stage(
    feedback: Feedback,
) -> None:
    def customer(**attributes: str) -> CustomerRef:
        return CustomerRef(customer_id=uuid.uuid4(), grade="basic", attributes=attributes)

    risky = customer(value_tier="high", risk_level="high", lifecycle_stage="declining")
    steady = customer(value_tier="high", risk_level="low", lifecycle_stage="mature")
    await answered(feedback, {"csat": "1"}, customer=risky)
    await answered(feedback, {"csat": "5"}, customer=steady)
    await answered(feedback, {"csat": "4"}, customer=customer())

    async def groups(by: str) -> dict[str, tuple[int, float | None]]:
        async with feedback.client() as client:
            response = await client.get(
                "/v1/feedback/figures",
                params={"by": by, "from": "2026-11-20", "to": "2026-11-30"},
                headers=feedback.token("supervisor"),
            )
        assert response.status_code == 200, response.text
        return {g["key"]: (g["answered"], g["satisfied_pct"]) for g in response.json()["groups"]}

    assert await groups("value_tier") == {"high": (2, 50.0), "(none)": (1, 100.0)}
    assert await groups("risk_level") == {"high": (1, 0.0), "low": (1, 100.0), "(none)": (1, 100.0)}
    assert await groups("lifecycle_stage") == {"declining": (1, 0.0), "mature": (1, 100.0), "(none)": (1, 100.0)}


async def test_figures_break_down_by_level_2_and_3_categories(feedback: Feedback) -> None:
    await answered(feedback, {"csat": "1"}, category="complaint", subcategory="billing/overcharge")
    await answered(feedback, {"csat": "5"}, category="complaint", subcategory="billing/overcharge")
    await answered(feedback, {"csat": "5"}, category="complaint", subcategory="delivery")
    await answered(feedback, {"csat": "4"}, category="enquiry")
    async with feedback.client() as client:
        response = await client.get(
            "/v1/feedback/figures",
            params={"by": "subcategory", "from": "2026-11-20", "to": "2026-11-30"},
            headers=feedback.token("supervisor"),
        )
    groups = {g["key"]: (g["answered"], g["satisfied_pct"]) for g in response.json()["groups"]}
    assert groups == {
        "complaint/billing/overcharge": (2, 50.0), "complaint/delivery": (1, 100.0), "enquiry/(none)": (1, 100.0),
    }  # fmt: skip


async def test_figures_refuse_nonsense_periods_and_zones(feedback: Feedback) -> None:
    async with feedback.client() as client:
        backwards = await client.get(
            "/v1/feedback/figures",
            params={"from": "2026-11-30", "to": "2026-11-01"},
            headers=feedback.token("ops"),
        )
        zone = await client.get("/v1/feedback/figures", params={"tz": "Moon/Base"}, headers=feedback.token("ops"))
        dimension = await client.get("/v1/feedback/figures", params={"by": "mood"}, headers=feedback.token("ops"))
        edges = [
            await client.get("/v1/feedback/figures", params=period, headers=feedback.token("ops"))
            for period in ({"to": "0001-01-01"}, {"from": "9999-12-01", "to": "9999-12-31"})
        ]
        empty = await client.get("/v1/feedback/figures", headers=feedback.token("ops"))
    assert (backwards.status_code, zone.status_code, dimension.status_code) == (422, 422, 422)
    assert [e.status_code for e in edges] == [422, 422], "a day at the calendar's edge is the caller's error"
    assert empty.status_code == 200 and empty.json()["total"]["satisfied_pct"] is None


async def test_comments_are_erased_after_a_year_and_the_erasure_is_recorded(feedback: Feedback) -> None:
    await answered(feedback, {"csat": "1", "comment": "太慢了"})
    a_year_on = feedback.clock.now() + timedelta(days=366)
    assert await purge_comments(feedback.pool, now=a_year_on, retention=timedelta(days=365)) == 1
    assert await purge_comments(feedback.pool, now=a_year_on, retention=timedelta(days=365)) == 0
    row = await feedback.pool.fetchrow("SELECT csat, comment FROM survey_response")
    assert row is not None and (row["csat"], row["comment"]) == (1, None), "the score stays"
    [record] = await feedback.pool.fetch(
        "SELECT action, detail FROM audit_trail WHERE action = 'survey_comment.purge'"
    )
    assert record["detail"]["erased"] == 1
