"""The thin path on the real broker and database: resolved → invitation on outbound.messages → the page →
a low score → feedback.followup_required."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from services.feedback.scheduler import fire_due
from tests.integration.feedback.conftest import Feedback
from tests.unit.feedback.builders import make_contact_received, make_work_resolved

pytestmark = pytest.mark.integration


async def test_resolved_contact_gets_an_sms_link_whose_page_takes_a_low_score_and_raises_a_followup(
    live_feedback: Feedback,
) -> None:
    feedback = live_feedback
    contact = make_contact_received(channel="phone", language="zh-CN")
    await feedback.publish(contact, source="switchboard/intake")
    await feedback.publish(make_work_resolved(contact, fcr=False), source="switchboard/routing")
    await feedback.wait_for_invitation(contact.contact_id, lambda s: s == "scheduled")

    # Nothing is due before the phone policy's 10 minutes.
    assert (await fire_due(feedback.pool, now=feedback.clock.now() + timedelta(minutes=9), links=feedback.links))[
        "sent"
    ] == 0
    feedback.clock.advance(timedelta(minutes=10))
    assert (await fire_due(feedback.pool, now=feedback.clock.now(), links=feedback.links))["sent"] == 1

    [message] = await feedback.outbound(contact.contact_id)
    data = message["data"]
    assert data["channel"] == "sms"
    assert data["recipient"] == "+8613800138000"
    assert data["language"] == "zh-Hans"
    assert data["template"] == "survey.invitation.sms"
    assert data["variables"]["link"] in data["variables"]["text"]
    assert "已处理完毕" in data["variables"]["text"], "customer not yet notified: the invitation is the end notice"
    path = urlsplit(data["variables"]["link"]).path

    async with feedback.client() as client:
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        for label in ("非常满意", "满意", "一般", "不满意", "非常不满意"):
            assert f"<span>{label}</span>" in page.text
        answered = await client.post(
            path,
            data={"csat": "2", "solved": "0", "nps": "3", "comment": "请回电 13800138000", "lang": "zh-Hans"},
        )
        assert answered.status_code == 200, answered.text
        assert "24 小时内" in answered.text
        again = await client.post(path, data={"csat": "5"})
        assert again.status_code == 409
        assert "已经提交过了" in again.text

    [followup] = await feedback.feedback_events(contact.contact_id, "switchboard.feedback.followup_required.v1")
    assert followup["data"]["reason"] == "not_solved"
    assert followup["data"]["reasons"] == ["not_solved", "csat", "nps"]
    assert followup["data"]["scores"] == {"csat": 2, "nps": 3, "solved": False}
    assert followup["data"]["agent_id"] == "agent-7"
    assert "13800138000" not in followup["data"]["comment"]
    assert re.search(r"138\*\*\*\*00", followup["data"]["comment"])
    await feedback.feedback_events(contact.contact_id, "switchboard.feedback.not_solved.v1")
    await feedback.feedback_events(contact.contact_id, "switchboard.survey.answered.v1")

    async with feedback.client() as client:
        report = await client.get("/v1/feedback/figures", headers=feedback.token("supervisor"))
    assert report.status_code == 200, report.text
    total = report.json()["total"]
    assert (total["sent"], total["answered"], total["satisfied_pct"], total["mean_score_100"]) == (1, 1, 0.0, 40.0)
    assert total["fcr_pct"] == 0.0
    assert report.json()["low_scores"][0]["comment"] == "请回电 13800138000", (
        "supervisors see the comment as written"
    )
