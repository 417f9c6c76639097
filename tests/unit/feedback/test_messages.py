"""What invitations say: one message can be the end notice and the survey; chat gets inline questions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.feedback.domain.messages import contact_ref, inline_questions, link_invitation_text
from tests.unit.feedback.builders import make_policy


def test_the_invitation_is_also_the_end_notice_when_the_customer_was_not_told_yet() -> None:
    link = "https://s.example/s/abc.def"
    combined = link_invitation_text(
        "zh-Hans", link=link, expiry=timedelta(hours=72), ref="AB12CD34", end_notice=True
    )
    alone = link_invitation_text(
        "zh-Hant", link=link, expiry=timedelta(hours=72), ref="AB12CD34", end_notice=False
    )
    assert (
        combined.startswith("您的服务请求（编号 AB12CD34）已处理完毕。")
        and link in combined
        and "72小时" in combined
    )
    assert "已處理完畢" not in alone and "72小時" in alone


def test_chat_questions_come_in_one_language_with_their_buttons() -> None:
    questions = inline_questions(make_policy().questions, "zh-Hant")
    csat = questions[0]
    assert csat["key"] == "csat" and csat["required"] is True
    assert [o["label"] for o in csat["options"]] == ["非常滿意", "滿意", "一般", "不滿意", "非常不滿意"]


def test_the_contact_reference_is_short_and_stable() -> None:
    contact_id = uuid.UUID("6f1c1b8e-2a8e-4a52-9b9b-7f0d3a1e5c42")
    assert contact_ref(contact_id) == "6F1C1B8E"
