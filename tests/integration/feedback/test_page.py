"""The survey page over real HTTP requests: three languages, one submission, clear pages for bad links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.domain.links import sign_link
from services.feedback.scheduler import fire_due
from tests.integration.feedback.conftest import Feedback, sent_invitation

pytestmark = pytest.mark.integration
FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "label", "prompt"),
    [
        ("zh-CN", "非常满意", "您对本次服务满意吗？"),
        ("zh-TW", "非常滿意", "您對本次服務滿意嗎？"),
        ("en-US", "Very satisfied", "How satisfied are you with the service you received?"),
    ],
)
async def test_the_page_speaks_the_contacts_language(
    feedback: Feedback, language: str, label: str, prompt: str
) -> None:
    _, path = await sent_invitation(feedback, language=language)
    async with feedback.client() as client:
        page = await client.get(path)
    assert page.status_code == 200
    assert f"<span>{label}</span>" in page.text and prompt in page.text
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"


async def test_the_customer_may_switch_language_on_the_page(feedback: Feedback) -> None:
    _, path = await sent_invitation(feedback, language="zh-CN")
    async with feedback.client() as client:
        english = await client.get(path, params={"lang": "en"})
        thanks = await client.post(path, data={"csat": "5", "lang": "zh-Hant"})
    assert '<html lang="en">' in english.text and "Very satisfied" in english.text
    assert thanks.status_code == 200 and "感謝您的評價" in thanks.text


async def test_an_incomplete_form_comes_back_with_the_problem_and_the_answers_kept(feedback: Feedback) -> None:
    _, path = await sent_invitation(feedback, language="zh-CN")
    async with feedback.client() as client:
        missing = await client.post(path, data={"nps": "8", "comment": "<script>alert(1)</script>"})
        still_open = await client.get(path)
    assert missing.status_code == 422
    assert "请选择一项" in missing.text
    assert 'value="8" checked' in missing.text
    assert "&lt;script&gt;" in missing.text and "<script>" not in missing.text
    assert still_open.status_code == 200, "a refused form does not use up the invitation"


async def test_one_submission_per_invitation(feedback: Feedback) -> None:
    contact, path = await sent_invitation(feedback, language="en")
    async with feedback.client() as client:
        first = await client.post(path, data={"csat": "4"})
        second = await client.post(path, data={"csat": "1"})
        reopened = await client.get(path)
    assert first.status_code == 200 and "Thank you" in first.text
    assert second.status_code == 409 and "Already answered" in second.text
    assert reopened.status_code == 409
    stored = await feedback.pool.fetch(
        "SELECT r.csat FROM survey_response r JOIN invitation i USING (invitation_id) WHERE i.contact_id = $1",
        contact.contact_id,
    )
    assert [r["csat"] for r in stored] == [4]


async def test_an_expired_link_gets_a_clear_page_in_the_contacts_language(feedback: Feedback) -> None:
    _, path = await sent_invitation(feedback, language="zh-HK")
    feedback.clock.advance(timedelta(hours=1, minutes=1) + timedelta(hours=72))
    async with feedback.client() as client:
        page = await client.get(path, headers={"accept-language": "zh-TW,zh;q=0.9"})
        post = await client.post(path, data={"csat": "5"}, headers={"accept-language": "zh-TW"})
    assert page.status_code == 410 and "評價連結已過期" in page.text
    assert post.status_code == 410
    assert "Traceback" not in page.text and "problem" not in page.headers["content-type"]


async def test_an_invitation_expired_by_the_scheduler_is_closed_even_if_the_link_were_still_valid(
    feedback: Feedback,
) -> None:
    contact, _ = await sent_invitation(feedback)
    row = await feedback.pool.fetchrow(
        "SELECT invitation_id FROM invitation WHERE contact_id = $1", contact.contact_id
    )
    assert row is not None
    later = feedback.clock.now() + timedelta(hours=74)
    assert (await fire_due(feedback.pool, now=later, links=feedback.links))["expired"] == 1
    # A link minted with a later expiry (e.g. after a policy change) still cannot reopen a closed invitation.
    token = sign_link(row["invitation_id"], later + timedelta(days=1), feedback.links.secret)
    feedback.clock.advance(timedelta(hours=74))
    async with feedback.client() as client:
        page = await client.get(f"/s/{token}", headers={"accept-language": "en"})
    assert page.status_code == 410 and "评价链接已过期" in page.text, "told in the invitation's own language"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "AAAA.BBBB",
        sign_link(uuid.uuid4(), FAR_FUTURE, b"signed with somebody else's key"),
        "%E4%BD%A0%E5%A5%BD.x",
    ],
)
async def test_forged_links_get_a_clear_page_never_a_trace(feedback: Feedback, token: str) -> None:
    async with feedback.client() as client:
        page = await client.get(f"/s/{token}", headers={"accept-language": "zh-CN"})
        post = await client.post(f"/s/{token}", data={"csat": "1"})
    assert page.status_code == 404 and "链接无效" in page.text
    assert post.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


async def test_a_well_signed_link_to_an_invitation_we_never_made_is_treated_as_forged(feedback: Feedback) -> None:
    token = sign_link(uuid.uuid4(), feedback.clock.now() + timedelta(hours=1), feedback.links.secret)
    async with feedback.client() as client:
        page = await client.get(f"/s/{token}", headers={"accept-language": "en"})
    assert page.status_code == 404 and "Link not recognised" in page.text


@pytest.mark.parametrize(
    ("accept_language", "heading"),
    [
        ("en;q=0.1, zh-CN;q=0.9", "链接无效"),
        ("zh-TW;q=0.2, en;q=0.8", "Link not recognised"),
        ("fr-CA, fr;q=0.9, zh-HK;q=0.5, en;q=0.4", "連結無效"),
    ],
)
async def test_a_page_before_the_invitation_is_known_speaks_the_language_the_browser_weighs_highest(
    feedback: Feedback, accept_language: str, heading: str
) -> None:
    async with feedback.client() as client:
        page = await client.get("/s/garbage", headers={"accept-language": accept_language})
    assert page.status_code == 404 and f"<h1>{heading}</h1>" in page.text


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("zh-CN", ["<title>服务评价</title>", "请评价本次服务", "(服务编号 ", 'aria-label="语言"', "提交评价"]),
        ("zh-HK", ["<title>服務評價</title>", "請評價本次服務", "(服務編號 ", 'aria-label="語言"', "非常可能"]),
        ("en", ["<title>Rate our service</title>", "How did we do?", "(ref. ", 'aria-label="Language"', "Send"]),
    ],
)
async def test_the_form_shows_its_languages_catalog(feedback: Feedback, language: str, texts: list[str]) -> None:
    _, path = await sent_invitation(feedback, language=language)
    async with feedback.client() as client:
        page = await client.get(path, headers={"accept-language": "fr"})
    for text in texts:
        assert text in page.text
