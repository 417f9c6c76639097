"""Builders for feedback tests: policies like the seeded defaults, contact facts, consumed events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from services.feedback.domain.policy import Option, Question, QuietHours, SurveyPolicy
from services.feedback.domain.schedule import ContactFacts
from shared.events import ContactReceivedV1, CustomerRef, ReplyTo, WorkReopenedV1, WorkResolvedV1

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
"""10:00 in Shanghai: outside the SMS quiet hours."""

CSAT_LABELS = {
    5: ("非常满意", "非常滿意", "Very satisfied"),
    4: ("满意", "滿意", "Satisfied"),
    3: ("一般", "一般", "Neutral"),
    2: ("不满意", "不滿意", "Dissatisfied"),
    1: ("非常不满意", "非常不滿意", "Very dissatisfied"),
}


def _langs(hans: str, hant: str, en: str) -> dict[str, str]:
    return {"zh-Hans": hans, "zh-Hant": hant, "en": en}


def default_questions() -> tuple[Question, ...]:
    return (
        Question(
            "csat",
            _langs("您对本次服务满意吗？", "您對本次服務滿意嗎？", "How satisfied are you?"),
            required=True,
            options=tuple(Option(v, _langs(*CSAT_LABELS[v]), points=20.0 * v) for v in (5, 4, 3, 2, 1)),
        ),
        Question(
            "solved",
            _langs("您的问题解决了吗？", "您的問題解決了嗎？", "Was your problem solved?"),
            options=(Option(1, _langs("已解决", "已解決", "Yes")), Option(0, _langs("未解决", "未解決", "No"))),
        ),
        Question(
            "nps",
            _langs("推荐可能性", "推薦可能性", "Would you recommend us?"),
            options=tuple(Option(v, _langs(str(v), str(v), str(v))) for v in range(11)),
        ),
        Question("comment", _langs("意见", "意見", "Comments")),
    )


def make_policy(**overrides: Any) -> SurveyPolicy:
    values: dict[str, Any] = {
        "channel": "phone",
        "invite_channel": "sms",
        "delay": timedelta(minutes=10),
        "expiry": timedelta(hours=72),
        "quiet_hours": QuietHours(time(21), time(8)),
        "time_zone": "Asia/Shanghai",
        "frequency_cap": timedelta(days=7),
        "sampling_rate": 1.0,
        "questions": default_questions(),
        "languages": ("zh-Hans", "zh-Hant", "en"),
    }
    values.update(overrides)
    return SurveyPolicy(**values)


def make_facts(**overrides: Any) -> ContactFacts:
    values: dict[str, Any] = {
        "contact_id": uuid.uuid4(),
        "channel": "phone",
        "customer_id": uuid.uuid4(),
        "grade": "basic",
        "category": "enquiry",
        "language": "zh-CN",
        "phone": "+8613800138000",
        "email": "li.lei@example.cn",
        "chat_session": "chat-1",
    }
    values.update(overrides)
    return ContactFacts(**values)


def make_contact_received(**overrides: Any) -> ContactReceivedV1:
    values: dict[str, Any] = {
        "contact_id": uuid.uuid4(),
        "message_id": uuid.uuid4(),
        "channel": "phone",
        "customer": CustomerRef(customer_id=uuid.uuid4(), grade="key"),
        "text": "宽带无法连接",
        "language": "zh-CN",
        "category": "system_fault",
        "priority_class": "complex",
        "received_at": T0 - timedelta(hours=1),
        "reply_to": ReplyTo(phone="+8613800138000", email="li.lei@example.cn", chat_session="chat-1"),
    }
    values.update(overrides)
    return ContactReceivedV1(**values)


def make_work_resolved(contact: ContactReceivedV1, **overrides: Any) -> WorkResolvedV1:
    values: dict[str, Any] = {
        "work_id": uuid.uuid4(),
        "contact_id": contact.contact_id,
        "agent_id": "agent-7",
        "team": "team-north",
        "resolution_code": "fixed",
        "fcr": True,
        "customer_notified": False,
        "resolved_at": T0,
    }
    values.update(overrides)
    return WorkResolvedV1(**values)


def make_work_reopened(contact: ContactReceivedV1, **overrides: Any) -> WorkReopenedV1:
    values: dict[str, Any] = {
        "work_id": uuid.uuid4(),
        "contact_id": contact.contact_id,
        "reason": "customer says it still fails",
        "at": T0 + timedelta(minutes=5),
    }
    values.update(overrides)
    return WorkReopenedV1(**values)
