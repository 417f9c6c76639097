"""What an invitation says, per language: the text a simple adapter can send as it is, and the chat form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from services.feedback.domain.policy import Question

_LINK_TEXT = {
    "zh-Hans": "{notice}请花一分钟评价本次服务：{link} （{hours}小时内有效）",
    "zh-Hant": "{notice}請花一分鐘評價本次服務：{link} （{hours}小時內有效）",
    "en": "{notice}Please take a minute to rate our service: {link} (valid for {hours} hours)",
}
_NOTICE = {
    "zh-Hans": "您的服务请求（编号 {ref}）已处理完毕。",
    "zh-Hant": "您的服務請求（編號 {ref}）已處理完畢。",
    "en": "Your request (ref. {ref}) has been resolved. ",
}
_SUBJECT = {
    "zh-Hans": "请评价本次服务（编号 {ref}）",
    "zh-Hant": "請評價本次服務（編號 {ref}）",
    "en": "How did we do? (ref. {ref})",
}
_CHAT_INTRO = {
    "zh-Hans": "感谢您的耐心！请为本次服务打分：",
    "zh-Hant": "感謝您的耐心！請為本次服務評分：",
    "en": "Thank you for your patience! Please rate this conversation:",
}


def contact_ref(contact_id: object) -> str:
    """A short reference the customer can quote: the first 8 hex digits of the contact id."""
    return str(contact_id).replace("-", "")[:8].upper()


def link_invitation_text(language: str, *, link: str, expiry: timedelta, ref: str, end_notice: bool) -> str:
    """SMS or e-mail body; with `end_notice` it is also the "three clears" end notice (one message)."""
    notice = _NOTICE.get(language, _NOTICE["en"]).format(ref=ref) if end_notice else ""
    hours = max(1, round(expiry.total_seconds() / 3600))
    return _LINK_TEXT.get(language, _LINK_TEXT["en"]).format(notice=notice, link=link, hours=hours)


def invitation_subject(language: str, *, ref: str) -> str:
    return _SUBJECT.get(language, _SUBJECT["en"]).format(ref=ref)


def chat_intro(language: str) -> str:
    return _CHAT_INTRO.get(language, _CHAT_INTRO["en"])


def inline_questions(questions: Sequence[Question], language: str) -> list[dict[str, Any]]:
    """The questions as a chat widget shows them: prompt and buttons in one language."""
    return [
        {
            "key": q.key,
            "required": q.required,
            "prompt": q.prompt.get(language, ""),
            "options": [{"value": o.value, "label": o.labels.get(language, str(o.value))} for o in q.options],
        }
        for q in questions
    ]
