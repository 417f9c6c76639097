"""Channel adapters answer for the customer (SMS reply, IVR digits, chat buttons) and report deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.auth import generate_api_key, insert_api_key
from shared.errors import PROBLEM_JSON
from tests.integration.feedback.conftest import Feedback, sent_invitation

pytestmark = pytest.mark.integration


async def invitation_of(feedback: Feedback, contact_id: object) -> dict[str, object]:
    row = await feedback.pool.fetchrow(
        "SELECT invitation_id, message_id, status, delivery FROM invitation WHERE contact_id = $1", contact_id
    )
    assert row is not None
    return dict(row)


async def test_an_sms_reply_of_5_from_the_customers_phone_answers_csat(feedback: Feedback) -> None:
    contact, _ = await sent_invitation(feedback)
    async with feedback.client() as client:
        response = await client.post(
            "/v1/surveys/responses",
            json={"channel": "sms", "sender": "+8613800138000", "source": "sms", "reply": "5"},
            headers=feedback.adapter,
        )
    assert response.status_code == 201, response.text
    assert response.json()["scores"] == {"csat": 5, "nps": None, "solved": None}
    assert response.json()["contact_id"] == str(contact.contact_id)
    assert (await invitation_of(feedback, contact.contact_id))["status"] == "answered"


async def test_ivr_digits_by_message_id_map_to_the_questions_and_a_no_raises_the_followup(
    feedback: Feedback,
) -> None:
    contact, _ = await sent_invitation(feedback)
    invitation = await invitation_of(feedback, contact.contact_id)
    async with feedback.client() as client:
        response = await client.post(
            "/v1/surveys/responses",
            json={"message_id": str(invitation["message_id"]), "source": "ivr", "digits": ["3", "2"]},
            headers=feedback.adapter,
        )
    assert response.status_code == 201, response.text
    assert response.json()["followup"] == ["not_solved"]
    [not_solved] = await feedback.feedback_events(contact.contact_id, "switchboard.feedback.not_solved.v1")
    assert not_solved["data"]["invitation_id"] == str(invitation["invitation_id"])


async def test_chat_buttons_send_structured_answers_by_invitation_id(feedback: Feedback) -> None:
    contact, _ = await sent_invitation(feedback, channel="chat")
    invitation = await invitation_of(feedback, contact.contact_id)
    body = {
        "invitation_id": str(invitation["invitation_id"]),
        "source": "chat",
        "answers": {"csat": 4, "nps": 9, "solved": True, "comment": "thanks"},
    }
    async with feedback.client() as client:
        first = await client.post("/v1/surveys/responses", json=body, headers=feedback.adapter)
        retry = await client.post("/v1/surveys/responses", json=body, headers=feedback.adapter)
    assert first.status_code == 201 and first.json()["followup"] == []
    assert retry.status_code == 409 and retry.json()["type"].endswith("#survey-answered")


async def test_adapter_answers_that_make_no_sense_are_refused_with_the_reason(feedback: Feedback) -> None:
    contact, _ = await sent_invitation(feedback)
    invitation = await invitation_of(feedback, contact.contact_id)
    ref = {"invitation_id": str(invitation["invitation_id"])}
    async with feedback.client() as client:
        out_of_range = await client.post(
            "/v1/surveys/responses", json={**ref, "answers": {"csat": 7}}, headers=feedback.adapter
        )
        both = await client.post(
            "/v1/surveys/responses", json={**ref, "reply": "5", "digits": ["5"]}, headers=feedback.adapter
        )
        nobody = await client.post(
            "/v1/surveys/responses",
            json={"channel": "sms", "sender": "+8613900000000", "reply": "5"},
            headers=feedback.adapter,
        )
        not_an_adapter = await client.post(
            "/v1/surveys/responses", json={**ref, "reply": "5"}, headers=feedback.token("agent")
        )
    assert out_of_range.status_code == 422 and out_of_range.json()["errors"] == {"csat": "between 1 and 5"}
    assert out_of_range.headers["content-type"] == PROBLEM_JSON
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    assert nobody.status_code == 404
    assert not_an_adapter.status_code == 403
    assert (await invitation_of(feedback, contact.contact_id))["status"] == "sent", "nothing was used up"


async def test_an_answer_after_expiry_is_refused_as_gone(feedback: Feedback) -> None:
    contact, _ = await sent_invitation(feedback)
    invitation = await invitation_of(feedback, contact.contact_id)
    feedback.clock.advance(timedelta(hours=74))
    async with feedback.client() as client:
        late = await client.post(
            "/v1/surveys/responses",
            json={"invitation_id": str(invitation["invitation_id"]), "reply": "5"},
            headers=feedback.adapter,
        )
    assert late.status_code == 410 and late.json()["type"].endswith("#survey-expired")


async def test_delivery_receipts_are_recorded_and_failed_deliveries_leave_the_response_rate(
    feedback: Feedback,
) -> None:
    contact, _ = await sent_invitation(feedback)
    invitation = await invitation_of(feedback, contact.contact_id)
    message_id = str(invitation["message_id"])
    async with feedback.client() as client:
        delivered = await client.post(
            "/v1/outbound/receipts",
            json={"message_id": message_id, "status": "delivered", "at": "2026-11-23T11:11:00+08:00"},
            headers=feedback.adapter,
        )
        failed = await client.post(
            "/v1/outbound/receipts",
            json={
                "message_id": message_id,
                "status": "failed",
                "at": "2026-11-23T11:12:00+08:00",
                "detail": "off",
            },
            headers=feedback.adapter,
        )
        stale = await client.post(
            "/v1/outbound/receipts",
            json={"message_id": message_id, "status": "accepted", "at": "2026-11-23T11:10:00+08:00"},
            headers=feedback.adapter,
        )
        unknown = await client.post(
            "/v1/outbound/receipts",
            json={"message_id": "00000000-0000-0000-0000-000000000001", "status": "delivered"},
            headers=feedback.adapter,
        )
        naive = await client.post(
            "/v1/outbound/receipts",
            json={"message_id": message_id, "status": "read", "at": "2026-11-23T10:12:00"},
            headers=feedback.adapter,
        )
        report = await client.get("/v1/feedback/figures", headers=feedback.token("ops"))
    assert (delivered.status_code, failed.status_code, stale.status_code) == (202, 202, 202)
    assert unknown.status_code == 404 and naive.status_code == 422
    assert (await invitation_of(feedback, contact.contact_id))["delivery"] == "failed", "the latest report wins"
    assert await feedback.pool.fetchval("SELECT count(*) FROM delivery_receipt") == 3
    assert report.json()["total"]["sent"] == 0


async def test_an_adapter_acts_only_on_invitations_of_the_channels_its_key_covers(feedback: Feedback) -> None:
    contact, _ = await sent_invitation(feedback)  # a phone contact, invited by SMS
    invitation = await invitation_of(feedback, contact.contact_id)
    mail, cti = generate_api_key(), generate_api_key()
    async with feedback.pool.acquire() as conn:
        await insert_api_key(conn, key=mail, name="mail-gateway", channels=["email"], now=feedback.clock.now())
        await insert_api_key(conn, key=cti, name="cti", channels=["phone"], now=feedback.clock.now())
    answer = {"invitation_id": str(invitation["invitation_id"]), "reply": "1"}
    receipt = {"message_id": str(invitation["message_id"]), "status": "failed"}
    async with feedback.client() as client:
        mail_answer = await client.post("/v1/surveys/responses", json=answer, headers=bearer(mail.key))
        mail_receipt = await client.post("/v1/outbound/receipts", json=receipt, headers=bearer(mail.key))
        ivr_answer = await client.post(
            "/v1/surveys/responses", json={**answer, "source": "ivr"}, headers=bearer(cti.key)
        )
    assert (mail_answer.status_code, mail_receipt.status_code) == (403, 403)
    assert mail_answer.json()["type"].endswith("#channel-not-allowed")
    assert ivr_answer.status_code == 201, "the phone adapter may answer for its own phone contact"
    assert (await invitation_of(feedback, contact.contact_id))["delivery"] == "requested"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
