"""The survey page `/s/{token}`: plain server-rendered HTML for phones, in Simplified Chinese, Traditional
Chinese or English, no login, one submission per invitation; a bad link gets a clear page, never a trace."""

from __future__ import annotations

import functools
import gettext
import io
import logging
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.feedback.api.dependencies import FeedbackState, transaction
from services.feedback.domain.answers import InvalidAnswers, SurveyUnavailable
from services.feedback.domain.links import ExpiredLink, ForgedLink, read_link
from services.feedback.domain.messages import contact_ref
from services.feedback.domain.policy import LANGUAGES, SurveyPolicy, negotiate_language, offered_language
from services.feedback.handlers import open_survey, submit_answers
from services.feedback.state import Feedback

log = logging.getLogger(__name__)
router = APIRouter(tags=["survey page"], include_in_schema=False)

LANGUAGE_NAMES = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
"""Each language in itself, as the page's language links show it (the same in every language)."""
MAX_FORM_BYTES = 16 * 1024

LOCALE = Path(__file__).parent / "locale"
"""The page's texts as gettext catalogs a translator edits: `locale/<zh_Hans|zh_Hant>/LC_MESSAGES/survey.po`,
made from `locale/survey.pot`; the English msgids are the English page. Compiled in memory at start-up."""
DOMAIN = "survey"
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:
    """Marks a text for the catalogs where it is defined; it is translated where it is shown."""
    return message


TITLE = N_("Rate our service")
THANKS_HEADING = N_("Thank you!")
THANKS = N_("We have your feedback.")
THANKS_FOLLOWUP = N_(
    "We have your feedback. We are sorry we fell short; a supervisor will contact you within 24 hours."
)
REQUIRED = N_("Please choose one")
INVALID = N_("Please choose one of the options")
TOO_LONG = N_("That is too long; please keep it under 2000 characters")
EMPTY = N_("Please answer at least one question")

_INVALID_LINK = (
    N_("Link not recognised"),
    N_("We cannot read this survey link. Please check that the whole link from the message was opened."),
)
_PAGES = {
    "unknown": (*_INVALID_LINK, 404),
    "forged": (*_INVALID_LINK, 404),
    "answered": (
        N_("Already answered"),
        N_("This survey has already been answered; each service can be rated once. Thank you!"),
        409,
    ),
    "expired": (
        N_("This link has expired"),
        N_("This survey is past its deadline. If you still need help, please contact us again."),
        410,
    ),
    "withdrawn": (
        N_("Survey withdrawn"),
        N_(
            "Your request is still being handled, so this survey was withdrawn. We will ask again once it is "
            "resolved."
        ),
        410,
    ),
    "error": (
        N_("Temporarily unavailable"),
        N_("Something went wrong on our side. Please try again in a few minutes."),
        503,
    ),
}


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The page's texts in `lang`, compiled from its catalog the first time (`load_catalogs` does it at start-up).
    A fuzzy or empty entry is left out, so its English shows until a translator confirms it."""
    if lang == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    locale = lang.replace("-", "_")
    with (LOCALE / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        catalog = read_po(source, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def load_catalogs() -> None:
    """Compile every page language's catalog now: a broken one stops the start, not a customer's page."""
    for lang in LANGUAGES:
        translations(lang)


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


def _html(template: str, status: int, *, lang: str, **context: Any) -> HTMLResponse:
    """`template` rendered in `lang`: its texts through `_`, that language's catalog."""
    page = _env.get_template(template).render(lang=lang, _=translations(lang).gettext, **context)
    return HTMLResponse(page, status_code=status, headers=_HEADERS)


def accepted_language(header: str) -> str:
    """The visitor's language from Accept-Language, for pages shown before we know the invitation."""
    return negotiate_language(header, LANGUAGES) or LANGUAGES[0]


def _known(language: str | None) -> str | None:
    return language if language in LANGUAGES else None


def message_page(kind: str, lang: str) -> HTMLResponse:
    heading, text, status = _PAGES[kind]
    _ = translations(lang).gettext
    return _html("message.html", status, lang=lang, title=_(heading), heading=_(heading), text=_(text))


def _language(request: Request, asked: str | None, invitation_language: str | None, policy: SurveyPolicy) -> str:
    """The language asked for (the page's language links), else the contact's, else the browser's preferred one
    of those the policy offers, else the policy's first."""
    offered = [lang for lang in policy.languages if lang in LANGUAGES] or list(LANGUAGES)
    if asked in offered:
        return asked
    return (
        offered_language(invitation_language, offered)
        or negotiate_language(request.headers.get("accept-language", ""), offered)
        or offered[0]
    )


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
    return _html(
        "survey.html",
        status,
        lang=lang,
        title=translations(lang).gettext(TITLE),
        ref=ref,
        questions=questions,
        values=values or {},
        errors=errors or {},
        languages=[(code, LANGUAGE_NAMES[code]) for code in policy.languages if code in LANGUAGES],
    )


def _friendly(errors: dict[str, str], lang: str) -> dict[str, str]:
    """Domain messages are for developers; the page says them in the customer's language."""
    _ = translations(lang).gettext
    out: dict[str, str] = {}
    for key, message in errors.items():
        if message == "required":
            out[key] = _(REQUIRED)
        elif key == "answers":
            out[key] = _(EMPTY)
        elif message.startswith("at most"):
            out[key] = _(TOO_LONG)
        else:
            out[key] = _(INVALID)
    return out


def _invitation_id(token: str, state: Feedback, fallback_lang: str) -> uuid.UUID | HTMLResponse:
    try:
        return read_link(token, state.links.secret, now=state.clock.now())
    except ForgedLink:
        return message_page("forged", fallback_lang)
    except ExpiredLink:
        return message_page("expired", fallback_lang)


@router.get("/s/{token}", response_class=HTMLResponse)
async def survey_page(request: Request, state: FeedbackState, token: str, lang: str | None = None) -> HTMLResponse:
    fallback = lang if lang in LANGUAGES else accepted_language(request.headers.get("accept-language", ""))
    try:
        found = _invitation_id(token, state, fallback)
        if isinstance(found, HTMLResponse):
            return found
        try:
            async with transaction(state) as tx:
                invitation, policy = await open_survey(tx, invitation_id=found)
        except SurveyUnavailable as exc:
            return message_page(exc.kind, _known(lang) or _known(exc.language) or fallback)
        chosen = _language(request, lang, invitation.language, policy)
        return _form(policy, chosen, ref=contact_ref(invitation.contact_id))
    except Exception:
        log.exception("survey page failed")
        return message_page("error", fallback)


@router.post("/s/{token}", response_class=HTMLResponse)
async def submit_survey(request: Request, state: FeedbackState, token: str) -> HTMLResponse:
    fallback = accepted_language(request.headers.get("accept-language", ""))
    try:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return message_page("error", fallback)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace")).items() if v}
        asked_lang = form.pop("lang", None)
        fallback = asked_lang if asked_lang in LANGUAGES else fallback
        found = _invitation_id(token, state, fallback)
        if isinstance(found, HTMLResponse):
            return found
        now = state.clock.now()
        try:
            async with transaction(state, now=now) as tx:
                recorded = await submit_answers(tx, invitation_id=found, raw=form, source="page")
        except SurveyUnavailable as exc:
            return message_page(exc.kind, _known(asked_lang) or _known(exc.language) or fallback)
        except InvalidAnswers as exc:
            async with transaction(state, now=now) as tx:
                invitation, policy = await open_survey(tx, invitation_id=found)
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
            (x for x in (asked_lang, recorded.invitation.language) if x is not None and x in LANGUAGES), fallback
        )
        _ = translations(chosen).gettext
        text = _(THANKS_FOLLOWUP if recorded.followup else THANKS)
        return _html(
            "message.html", 200, lang=chosen, title=_(THANKS_HEADING), heading=_(THANKS_HEADING), text=text
        )
    except Exception:
        log.exception("survey submission failed")
        return message_page("error", fallback)
