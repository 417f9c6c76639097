"""The scheduler's step for one invitation: send it, defer it past quiet hours, drop it, expire it."""

from __future__ import annotations

import json
from datetime import datetime

from services.feedback import repository as repo
from services.feedback.domain.messages import (
    chat_intro,
    contact_ref,
    inline_questions,
    invitation_subject,
    link_invitation_text,
)
from services.feedback.domain.policy import SurveyPolicy
from services.feedback.domain.schedule import (
    Defer,
    Drop,
    Invitation,
    Send,
    decide_send,
    invitation_message_id,
)
from services.feedback.handlers.publishing import Links, publish, survey_event
from shared.events import (
    OutboundMessageRequestedV1,
    SurveyExpiredV1,
    SurveySentV1,
    SurveySkippedV1,
)
from shared.tx import Tx


async def send_invitation(tx: Tx, invitation: Invitation, *, links: Links) -> str:
    """A due invitation (locked by the caller): send it, defer it past quiet hours, or drop it.

    Returns what happened (`sent`, `deferred`, `skipped`). The row's status change and the outbound message
    commit together, so a crash sends either both or neither, and a restarted scheduler finds the row as the
    crash left it."""
    conn, now = tx.conn, tx.now
    policy = await repo.get_policy(conn, channel=invitation.channel or "")
    if policy is None or not policy.enabled:
        await _skip(tx, invitation, "policy_disabled")
        return "skipped"
    assert invitation.customer_id is not None and invitation.due_at is not None
    await repo.lock_customer(conn, customer_id=invitation.customer_id)
    last = await repo.last_sent_at(conn, customer_id=invitation.customer_id, other_than=invitation.invitation_id)
    decision = decide_send(
        policy, due_at=invitation.due_at, now=now, time_zone=invitation.time_zone, last_sent_at=last
    )
    if isinstance(decision, Defer):
        await repo.defer(conn, invitation_id=invitation.invitation_id, until=decision.until)
        return "deferred"
    if isinstance(decision, Drop):
        await _skip(tx, invitation, decision.reason)
        return "skipped"
    assert isinstance(decision, Send)
    message = _outbound(invitation, policy, expires_at=decision.expires_at, links=links)
    await publish(tx, message, contact_id=invitation.contact_id)
    await repo.mark_sent(
        conn,
        invitation_id=invitation.invitation_id,
        now=now,
        expires_at=decision.expires_at,
        message_id=message.message_id,
    )
    sent = survey_event(SurveySentV1, invitation, message_id=message.message_id, expires_at=decision.expires_at)
    await publish(tx, sent, contact_id=invitation.contact_id)
    return "sent"


def _outbound(
    invitation: Invitation, policy: SurveyPolicy, *, expires_at: datetime, links: Links
) -> OutboundMessageRequestedV1:
    language = invitation.language or policy.languages[0]
    ref = contact_ref(invitation.contact_id)
    variables = {
        "invitation_id": str(invitation.invitation_id),
        "contact_ref": ref,
        "expires_at": expires_at.isoformat(),
        "end_notice": "true" if not invitation.customer_notified else "false",
    }
    if invitation.invite_channel == "chat":
        template = "survey.invitation.chat"
        variables["text"] = chat_intro(language)
        variables["questions"] = json.dumps(inline_questions(policy.questions, language), ensure_ascii=False)
    else:
        template = f"survey.invitation.{invitation.invite_channel}"
        link = links.url(invitation.invitation_id, expires_at)
        variables["link"] = link
        variables["text"] = link_invitation_text(
            language, link=link, expiry=policy.expiry, ref=ref, end_notice=not invitation.customer_notified
        )
        if invitation.invite_channel == "email":
            variables["subject"] = invitation_subject(language, ref=ref)
    return OutboundMessageRequestedV1.model_validate(
        {
            "message_id": invitation_message_id(invitation.invitation_id),
            "contact_id": invitation.contact_id,
            "channel": invitation.invite_channel,
            "recipient": invitation.recipient,
            "template": template,
            "variables": variables,
            "language": language,
            "kind": "survey",
            "origin": "feedback",
        }
    )


async def _skip(tx: Tx, invitation: Invitation, reason: str) -> None:
    await repo.close_invitation(
        tx.conn, invitation_id=invitation.invitation_id, status="skipped", reason=reason, now=tx.now
    )
    await publish(tx, survey_event(SurveySkippedV1, invitation, reason=reason), contact_id=invitation.contact_id)


async def expire_invitation(tx: Tx, invitation: Invitation) -> None:
    await repo.close_invitation(
        tx.conn, invitation_id=invitation.invitation_id, status="expired", reason=None, now=tx.now
    )
    await publish(tx, survey_event(SurveyExpiredV1, invitation), contact_id=invitation.contact_id)
