"""The survey page `/s/{token}`: plain server-rendered HTML for phones, in Simplified Chinese, Traditional
Chinese or English, no login, one submission per invitation; a bad link gets a clear page, never a trace."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.feedback.domain.answers import InvalidAnswers, SurveyUnavailable
from services.feedback.domain.links import ExpiredLink, ForgedLink, read_link
from services.feedback.domain.messages import contact_ref
from services.feedback.domain.policy import LANGUAGES, SurveyPolicy, page_language
from services.feedback.handlers import Links, open_survey, submit_answers
from shared.app import Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["survey page"], include_in_schema=False)

LANGUAGE_NAMES = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
MAX_FORM_BYTES = 16 * 1024

TEXT: dict[str, dict[str, str]] = {
    "zh-Hans": {
        "title": "服务评价",
        "heading": "请评价本次服务",
        "lead": "您的意见帮助我们做得更好，只需一分钟。",
        "ref": "服务编号",
        "submit": "提交评价",
        "fix": "请检查标出的问题后再提交。",
        "required": "请选择一项",
        "invalid": "请从选项中选择",
        "too_long": "内容太长，请精简到 2000 字以内",
        "empty": "请至少回答一个问题",
        "nps_low": "完全不可能",
        "nps_high": "非常可能",
        "thanks_heading": "感谢您的评价！",
        "thanks": "我们已收到您的反馈。",
        "thanks_followup": "我们已收到您的反馈。很抱歉这次没有让您满意，服务主管会在 24 小时内与您联系。",
        "answered_heading": "您已评价过",
        "answered": "这份评价已经提交过了，每次服务只能评价一次。感谢您的反馈！",
        "expired_heading": "评价链接已过期",
        "expired": "这份评价已超过有效期。如需帮助，请再次联系我们。",
        "withdrawn_heading": "评价已取消",
        "withdrawn": "这次服务仍在处理中，评价已取消。处理完成后我们会再次邀请您评价。",
        "invalid_heading": "链接无效",
        "invalid_link": "这个评价链接无法识别，请检查短信或邮件中的链接是否完整。",
        "error_heading": "暂时无法打开",
        "error": "系统暂时繁忙，请稍后再试。您的评价不会丢失。",
        "footer": "此页面无需登录，您的回答仅用于改进服务。",
    },
    "zh-Hant": {
        "title": "服務評價",
        "heading": "請評價本次服務",
        "lead": "您的意見幫助我們做得更好，只需一分鐘。",
        "ref": "服務編號",
        "submit": "提交評價",
        "fix": "請檢查標出的問題後再提交。",
        "required": "請選擇一項",
        "invalid": "請從選項中選擇",
        "too_long": "內容太長，請精簡到 2000 字以內",
        "empty": "請至少回答一個問題",
        "nps_low": "完全不可能",
        "nps_high": "非常可能",
        "thanks_heading": "感謝您的評價！",
        "thanks": "我們已收到您的回饋。",
        "thanks_followup": "我們已收到您的回饋。很抱歉這次沒有讓您滿意，服務主管會在 24 小時內與您聯繫。",
        "answered_heading": "您已評價過",
        "answered": "這份評價已經提交過了，每次服務只能評價一次。感謝您的回饋！",
        "expired_heading": "評價連結已過期",
        "expired": "這份評價已超過有效期。如需協助，請再次聯繫我們。",
        "withdrawn_heading": "評價已取消",
        "withdrawn": "這次服務仍在處理中，評價已取消。處理完成後我們會再次邀請您評價。",
        "invalid_heading": "連結無效",
        "invalid_link": "這個評價連結無法識別，請檢查簡訊或郵件中的連結是否完整。",
        "error_heading": "暫時無法開啟",
        "error": "系統暫時繁忙，請稍後再試。您的評價不會遺失。",
        "footer": "此頁面無需登入，您的回答僅用於改進服務。",
    },
    "en": {
        "title": "Rate our service",
        "heading": "How did we do?",
        "lead": "Your answer helps us improve. It takes a minute.",
        "ref": "ref.",
        "submit": "Send",
        "fix": "Please check the marked questions and send again.",
        "required": "Please choose one",
        "invalid": "Please choose one of the options",
        "too_long": "That is too long; please keep it under 2000 characters",
        "empty": "Please answer at least one question",
        "nps_low": "Not at all likely",
        "nps_high": "Extremely likely",
        "thanks_heading": "Thank you!",
        "thanks": "We have your feedback.",
        "thanks_followup": "We have your feedback. We are sorry we fell short; a supervisor will contact you "
        "within 24 hours.",
        "answered_heading": "Already answered",
        "answered": "This survey has already been answered; each service can be rated once. Thank you!",
        "expired_heading": "This link has expired",
        "expired": "This survey is past its deadline. If you still need help, please contact us again.",
        "withdrawn_heading": "Survey withdrawn",
        "withdrawn": "Your request is still being handled, so this survey was withdrawn. We will ask again "
        "once it is resolved.",
        "invalid_heading": "Link not recognised",
        "invalid_link": "We cannot read this survey link. Please check that the whole link from the message "
        "was opened.",
        "error_heading": "Temporarily unavailable",
        "error": "Something went wrong on our side. Please try again in a few minutes.",
        "footer": "No login needed. Your answers are used only to improve our service.",
    },
}

_PAGES = {
    "unknown": ("invalid_heading", "invalid_link", 404),
    "forged": ("invalid_heading", "invalid_link", 404),
    "answered": ("answered_heading", "answered", 409),
    "expired": ("expired_heading", "expired", 410),
    "withdrawn": ("withdrawn_heading", "withdrawn", 410),
    "error": ("error_heading", "error", 503),
}

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,
)

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never hand it to another site
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


def _html(template: str, status: int, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(template).render(**context), status_code=status, headers=_HEADERS)


def accepted_language(header: str) -> str:
    """The visitor's language from Accept-Language, for pages shown before we know the invitation."""
    for part in header.split(","):
        tag = part.split(";")[0].strip()
        if tag:
            picked = page_language(tag, LANGUAGES)
            if tag.lower().startswith(("zh", "en")):
                return picked
    return LANGUAGES[0]


def _known(language: str | None) -> str | None:
    return language if language in TEXT else None


def message_page(kind: str, lang: str) -> HTMLResponse:
    heading, text, status = _PAGES[kind]
    t = TEXT[lang]
    return _html("message.html", status, lang=lang, title=t[heading], heading=t[heading], text=t[text], t=t)


def _language(request: Request, asked: str | None, invitation_language: str | None, policy: SurveyPolicy) -> str:
    if asked in policy.languages and asked in TEXT:
        return asked
    if invitation_language in policy.languages and invitation_language in TEXT:
        return invitation_language
    return page_language(invitation_language, [lang for lang in policy.languages if lang in TEXT] or LANGUAGES)


def _form(
    policy: SurveyPolicy,
    lang: str,
    *,
    ref: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    questions = [
        {
            "key": q.key,
            "required": q.required,
            "prompt": q.prompt.get(lang, ""),
            # Best first, as Chinese surveys list them (非常满意 … 非常不满意); NPS reads 0 → 10.
            "options": [
                {"value": o.value, "label": o.labels.get(lang, str(o.value))}
                for o in (q.options if q.key == "nps" else sorted(q.options, key=lambda o: -o.value))
            ],
        }
        for q in policy.questions
    ]
    t = TEXT[lang]
    return _html(
        "survey.html",
        status,
        lang=lang,
        title=t["title"],
        t=t,
        ref=ref,
        questions=questions,
        values=values or {},
        errors=errors or {},
        languages=[(code, LANGUAGE_NAMES[code]) for code in policy.languages if code in TEXT],
    )


def _friendly(errors: dict[str, str], lang: str) -> dict[str, str]:
    """Domain messages are for developers; the page says them in the customer's language."""
    t = TEXT[lang]
    out: dict[str, str] = {}
    for key, message in errors.items():
        if message == "required":
            out[key] = t["required"]
        elif key == "answers":
            out[key] = t["empty"]
        elif message.startswith("at most"):
            out[key] = t["too_long"]
        else:
            out[key] = t["invalid"]
    return out


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _secret(runtime: Runtime) -> bytes:
    links: Links = runtime.extras["links"]
    return links.secret


def _invitation_id(token: str, runtime: Runtime, fallback_lang: str) -> uuid.UUID | HTMLResponse:
    try:
        return read_link(token, _secret(runtime), now=runtime.clock.now())
    except ForgedLink:
        return message_page("forged", fallback_lang)
    except ExpiredLink:
        return message_page("expired", fallback_lang)


@router.get("/s/{token}", response_class=HTMLResponse)
async def survey_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
    fallback = lang if lang in TEXT else accepted_language(request.headers.get("accept-language", ""))
    runtime = _runtime(request)
    try:
        found = _invitation_id(token, runtime, fallback)
        if isinstance(found, HTMLResponse):
            return found
        async with runtime.pool.acquire() as conn:
            try:
                invitation, policy = await open_survey(conn, invitation_id=found, now=runtime.clock.now())
            except SurveyUnavailable as exc:
                return message_page(exc.kind, _known(lang) or _known(exc.language) or fallback)
        chosen = _language(request, lang, invitation.language, policy)
        return _form(policy, chosen, ref=contact_ref(invitation.contact_id))
    except Exception:
        log.exception("survey page failed")
        return message_page("error", fallback)


@router.post("/s/{token}", response_class=HTMLResponse)
async def submit_survey(request: Request, token: str) -> HTMLResponse:
    fallback = accepted_language(request.headers.get("accept-language", ""))
    runtime = _runtime(request)
    try:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return message_page("error", fallback)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace")).items() if v}
        asked_lang = form.pop("lang", None)
        fallback = asked_lang if asked_lang in TEXT else fallback
        found = _invitation_id(token, runtime, fallback)
        if isinstance(found, HTMLResponse):
            return found
        now = runtime.clock.now()
        async with runtime.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    recorded = await submit_answers(conn, invitation_id=found, raw=form, source="page", now=now)
            except SurveyUnavailable as exc:
                return message_page(exc.kind, _known(asked_lang) or _known(exc.language) or fallback)
            except InvalidAnswers as exc:
                invitation, policy = await open_survey(conn, invitation_id=found, now=now)
                chosen = _language(request, asked_lang, invitation.language, policy)
                return _form(
                    policy,
                    chosen,
                    ref=contact_ref(invitation.contact_id),
                    values=form,
                    errors=_friendly(exc.errors, chosen),
                    status=422,
                )
        chosen = next(
            (x for x in (asked_lang, recorded.invitation.language) if x is not None and x in TEXT), fallback
        )
        t = TEXT[chosen]
        text = t["thanks_followup"] if recorded.followup else t["thanks"]
        return _html(
            "message.html",
            200,
            lang=chosen,
            title=t["thanks_heading"],
            heading=t["thanks_heading"],
            text=text,
            t=t,
        )
    except Exception:
        log.exception("survey submission failed")
        return message_page("error", fallback)
