"""Feedback's reactions: the contact projection and invitation planning (consumed events), sending and expiring
invitations (the scheduler's step), answers, receipts and policy changes. Each runs in its caller's transaction
and publishes through the outbox."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.feedback import repository as repo
from services.feedback.domain.answers import (
    AlreadyAnswered,
    Answers,
    SurveyExpired,
    SurveyWithdrawn,
    UnknownInvitation,
    csat_points,
    followup_reasons,
    validate_answers,
)
from services.feedback.domain.links import sign_link
from services.feedback.domain.messages import (
    chat_intro,
    contact_ref,
    inline_questions,
    invitation_subject,
    link_invitation_text,
)
from services.feedback.domain.policy import LANGUAGES, SurveyPolicy, page_language, validate_policy
from services.feedback.domain.schedule import (
    ContactFacts,
    Defer,
    Drop,
    Invitation,
    Schedule,
    Send,
    decide_send,
    invitation_message_id,
    plan_invitation,
)
from shared.db import Conn
from shared.events import (
    ContactReceivedV1,
    ContactReclassifiedV1,
    CustomerMergedV1,
    CustomerUnmergedV1,
    Event,
    FeedbackFollowupRequiredV1,
    FeedbackNotSolvedV1,
    OutboundMessageRequestedV1,
    SurveyAnsweredV1,
    SurveyCancelledV1,
    SurveyExpiredV1,
    SurveyScheduledV1,
    SurveySentV1,
    SurveySkippedV1,
    WorkAssignedV1,
    WorkReopenedV1,
    WorkResolvedV1,
)
from shared.kafka import Delivery
from shared.outbox import enqueue
from shared.telemetry import mask_pii

SOURCE = "switchboard/feedback"


@dataclass(frozen=True)
class Links:
    """How survey links are made: the page's public address and the key that signs them."""

    base_url: str
    secret: bytes

    def url(self, invitation_id: uuid.UUID, expires_at: datetime) -> str:
        return f"{self.base_url.rstrip('/')}/s/{sign_link(invitation_id, expires_at, self.secret)}"


async def _publish(conn: Conn, event: Event, *, contact_id: uuid.UUID, now: datetime) -> None:
    await enqueue(conn, event, source=SOURCE, subject=str(contact_id), now=now)


def _survey_event(model: type[Event], invitation: Invitation, **extra: Any) -> Event:
    return model.model_validate(
        {
            "invitation_id": invitation.invitation_id,
            "contact_id": invitation.contact_id,
            "channel": invitation.channel or "web",
            **extra,
        }
    )


# --- consumed events ----------------------------------------------------------------------------------------


async def handle(conn: Conn, delivery: Delivery, *, now: datetime) -> None:
    """The one consumer of intake.contacts and routing.work: dispatch by event type, skip the rest."""
    event = delivery.decoded.event
    if isinstance(event, ContactReceivedV1):
        await on_contact_received(conn, event, now=now)
    elif isinstance(event, ContactReclassifiedV1):
        await repo.set_contact_category(conn, contact_id=event.contact_id, category=event.category, now=now)
    elif isinstance(event, WorkAssignedV1):
        await repo.set_contact_agent(
            conn, contact_id=event.contact_id, agent_id=event.agent_id, team=event.team, now=now
        )
    elif isinstance(event, WorkResolvedV1):
        await on_work_resolved(conn, event, now=now)
    elif isinstance(event, WorkReopenedV1):
        await on_work_reopened(conn, event, now=now)
    elif isinstance(event, CustomerMergedV1):
        await repo.merge_customer(conn, merged=event.merged_customer_id, surviving=event.surviving_customer_id)
    elif isinstance(event, CustomerUnmergedV1):
        await repo.unmerge_customer(conn, merged=event.merged_customer_id, surviving=event.surviving_customer_id)


async def on_contact_received(conn: Conn, event: ContactReceivedV1, *, now: datetime) -> None:
    reply = event.reply_to
    facts = ContactFacts(
        contact_id=event.contact_id,
        channel=event.channel,
        customer_id=event.customer.customer_id,
        grade=event.customer.grade,
        category=event.category,
        language=event.language,
        phone=reply.phone if reply else None,
        email=reply.email if reply else None,
        chat_session=reply.chat_session if reply else None,
        time_zone=(reply.time_zone if reply else None) or event.customer.attributes.get("time_zone"),
    )
    await repo.upsert_contact(conn, facts=facts, now=now)
    # A resolution seen before its contact (the two topics are not ordered together) is planned now.
    stored = await repo.get_contact(conn, contact_id=event.contact_id)
    for waiting in await repo.lock_waiting(conn, contact_id=event.contact_id):
        planned = await _plan(conn, waiting, stored, now=now)
        await repo.update_planned(conn, invitation=planned)


async def on_work_resolved(conn: Conn, event: WorkResolvedV1, *, now: datetime) -> None:
    """Plan the survey of this resolution: scheduled (a durable row the scheduler fires) or skipped."""
    facts = await repo.get_contact(conn, contact_id=event.contact_id)
    base = Invitation(
        invitation_id=uuid.uuid4(),
        contact_id=event.contact_id,
        work_id=event.work_id,
        resolved_at=event.resolved_at,
        status="waiting_contact",
        agent_id=event.agent_id,
        team=event.team,
        fcr=event.fcr,
        customer_notified=event.customer_notified,
        created_at=now,
    )
    invitation = base if facts is None else await _plan(conn, base, facts, now=now)
    await repo.insert_invitation(conn, invitation=invitation)


async def _plan(conn: Conn, invitation: Invitation, facts: ContactFacts | None, *, now: datetime) -> Invitation:
    """Decide and announce; the caller stores the result."""
    if facts is None:
        return invitation
    policy = await repo.get_policy(conn, channel=facts.channel)
    await repo.lock_customer(conn, customer_id=facts.customer_id)
    last = await repo.last_surveyed_at(conn, customer_id=facts.customer_id, other_than=invitation.invitation_id)
    decision = plan_invitation(policy, facts, resolved_at=invitation.resolved_at, last_surveyed_at=last)
    filled = dataclasses.replace(
        invitation,
        channel=facts.channel,
        customer_id=facts.customer_id,
        grade=facts.grade,
        category=facts.category,
        team=invitation.team or facts.team,
        language=page_language(facts.language, policy.languages if policy else LANGUAGES),
        time_zone=facts.time_zone,
        policy_version=policy.version if policy else None,
    )
    if isinstance(decision, Schedule):
        assert policy is not None
        filled = dataclasses.replace(
            filled,
            status="scheduled",
            invite_channel=policy.invite_channel,
            recipient=decision.recipient,
            due_at=decision.due_at,
        )
        await _publish(
            conn,
            _survey_event(SurveyScheduledV1, filled, due_at=decision.due_at),
            contact_id=filled.contact_id,
            now=now,
        )
        return filled
    filled = dataclasses.replace(filled, status="skipped", reason=decision.reason, closed_at=now)
    await _publish(
        conn, _survey_event(SurveySkippedV1, filled, reason=decision.reason), contact_id=filled.contact_id, now=now
    )
    return filled


async def on_work_reopened(conn: Conn, event: WorkReopenedV1, *, now: datetime) -> None:
    """A reopened contact is not finished: withdraw whatever invitation has not gone out yet."""
    for cancelled in await repo.cancel_scheduled(conn, contact_id=event.contact_id, reason="reopened", now=now):
        await _publish(
            conn,
            _survey_event(SurveyCancelledV1, cancelled, reason="reopened"),
            contact_id=event.contact_id,
            now=now,
        )


# --- the scheduler's step -----------------------------------------------------------------------------------


async def send_invitation(conn: Conn, invitation: Invitation, *, now: datetime, links: Links) -> str:
    """A due invitation (locked by the caller): send it, defer it past quiet hours, or drop it.

    Returns what happened (`sent`, `deferred`, `skipped`). The row's status change and the outbound message
    commit together, so a crash sends either both or neither, and a restarted scheduler finds the row as the
    crash left it."""
    policy = await repo.get_policy(conn, channel=invitation.channel or "")
    if policy is None or not policy.enabled:
        await _skip(conn, invitation, "policy_disabled", now=now)
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
        await _skip(conn, invitation, decision.reason, now=now)
        return "skipped"
    assert isinstance(decision, Send)
    message = _outbound(invitation, policy, expires_at=decision.expires_at, links=links)
    await _publish(conn, message, contact_id=invitation.contact_id, now=now)
    await repo.mark_sent(
        conn,
        invitation_id=invitation.invitation_id,
        now=now,
        expires_at=decision.expires_at,
        message_id=message.message_id,
    )
    sent = _survey_event(SurveySentV1, invitation, message_id=message.message_id, expires_at=decision.expires_at)
    await _publish(conn, sent, contact_id=invitation.contact_id, now=now)
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
        }
    )


async def _skip(conn: Conn, invitation: Invitation, reason: str, *, now: datetime) -> None:
    await repo.close_invitation(
        conn, invitation_id=invitation.invitation_id, status="skipped", reason=reason, now=now
    )
    await _publish(
        conn, _survey_event(SurveySkippedV1, invitation, reason=reason), contact_id=invitation.contact_id, now=now
    )


async def expire_invitation(conn: Conn, invitation: Invitation, *, now: datetime) -> None:
    await repo.close_invitation(
        conn, invitation_id=invitation.invitation_id, status="expired", reason=None, now=now
    )
    await _publish(conn, _survey_event(SurveyExpiredV1, invitation), contact_id=invitation.contact_id, now=now)


# --- answers ------------------------------------------------------------------------------------------------


async def open_survey(conn: Conn, *, invitation_id: uuid.UUID, now: datetime) -> tuple[Invitation, SurveyPolicy]:
    """The invitation and its questions, if it can be answered now; else the `SurveyUnavailable` reason."""
    invitation = await repo.get_invitation(conn, invitation_id=invitation_id)
    return await _answerable(conn, invitation, now=now)


async def _answerable(
    conn: Conn, invitation: Invitation | None, *, now: datetime
) -> tuple[Invitation, SurveyPolicy]:
    if invitation is None:
        raise UnknownInvitation()
    language = invitation.language
    if invitation.status == "answered":
        raise AlreadyAnswered(language)
    if invitation.status == "expired" or (
        invitation.status == "sent" and invitation.expires_at is not None and now >= invitation.expires_at
    ):
        raise SurveyExpired(language)
    if invitation.status != "sent":
        raise SurveyWithdrawn(language)
    policy = await repo.get_policy(conn, channel=invitation.channel or "")
    if policy is None:
        raise SurveyWithdrawn(language)
    return invitation, policy


@dataclass(frozen=True)
class Recorded:
    response_id: uuid.UUID
    invitation: Invitation
    answers: Answers
    followup: tuple[str, ...]


async def submit_answers(
    conn: Conn,
    *,
    invitation_id: uuid.UUID,
    raw: Mapping[str, object] | None = None,
    answers: Answers | None = None,
    source: str,
    now: datetime,
) -> Recorded:
    """Record the one answer an invitation takes and close the loop: a low score raises a follow-up (回访),
    "not solved" also asks routing to reopen the contact. Raises `SurveyUnavailable` or `InvalidAnswers`."""
    invitation, policy = await _answerable(
        conn, await repo.lock_invitation(conn, invitation_id=invitation_id), now=now
    )
    if answers is None:
        answers = validate_answers(raw or {}, policy)
    reasons = followup_reasons(answers, policy)
    points = csat_points(answers, policy)
    response_id = uuid.uuid4()
    stored = await repo.insert_response(
        conn,
        response_id=response_id,
        invitation_id=invitation_id,
        source=source,
        answers=answers,
        csat_points=points,
        followup_reasons=reasons,
        now=now,
    )
    if not stored:
        raise AlreadyAnswered(invitation.language)
    await repo.mark_answered(conn, invitation_id=invitation_id, answers=answers, csat_points=points, now=now)
    scores = answers.scores()
    contact_id = invitation.contact_id
    await _publish(
        conn, _survey_event(SurveyAnsweredV1, invitation, scores=scores), contact_id=contact_id, now=now
    )
    if reasons:
        assert invitation.customer_id is not None
        followup = FeedbackFollowupRequiredV1(
            contact_id=contact_id,
            customer_id=invitation.customer_id,
            reason=reasons[0],
            reasons=list(reasons),
            scores=scores,
            comment=mask_pii(answers.comment) if answers.comment else None,
            invitation_id=invitation_id,
            agent_id=invitation.agent_id,
            team=invitation.team,
            answered_at=now,
        )
        await _publish(conn, followup, contact_id=contact_id, now=now)
    if answers.solved is False:
        await _publish(
            conn,
            FeedbackNotSolvedV1(contact_id=contact_id, invitation_id=invitation_id),
            contact_id=contact_id,
            now=now,
        )
    return Recorded(response_id, invitation, answers, reasons)


async def find_invitation_for_reply(
    conn: Conn,
    *,
    invitation_id: uuid.UUID | None,
    message_id: uuid.UUID | None,
    channel: str | None,
    sender: str | None,
    now: datetime,
) -> Invitation:
    """What an adapter's answer refers to: the invitation id, the outbound message id, or — for an SMS reply
    with no reference — the latest open invitation sent to that address."""
    found: Invitation | None = None
    if invitation_id is not None:
        found = await repo.get_invitation(conn, invitation_id=invitation_id)
    elif message_id is not None:
        found = await repo.get_invitation_by_message(conn, message_id=message_id)
    elif channel and sender:
        found = await repo.open_invitation_for(conn, invite_channel=channel, recipient=sender, now=now)
    if found is None:
        raise UnknownInvitation()
    return found


# --- receipts and policies ----------------------------------------------------------------------------------


async def record_receipt(
    conn: Conn,
    *,
    message_id: uuid.UUID,
    status: str,
    detail: str | None,
    reported_at: datetime,
    by: str,
    now: datetime,
) -> Invitation:
    invitation = await repo.get_invitation_by_message(conn, message_id=message_id)
    if invitation is None:
        raise UnknownInvitation()
    await repo.record_receipt(
        conn, message_id=message_id, status=status, detail=detail, reported_at=reported_at, by=by, now=now
    )
    return invitation


class VersionConflict(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the policy is at version {current}")
        self.current = current


async def change_policy(
    conn: Conn,
    *,
    policy: SurveyPolicy,
    expected_version: int | None,
    actor: str,
    role: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    now: datetime,
) -> SurveyPolicy:
    """Validate, save (version + 1) and audit who changed what, when. `InvalidPolicy` or `VersionConflict`."""
    validate_policy(policy)
    current = await repo.lock_policy_version(conn, channel=policy.channel)
    if expected_version is not None and current is not None and current != expected_version:
        raise VersionConflict(current)
    saved = await repo.save_policy(conn, policy=policy, by=actor, now=now)
    await repo.insert_audit(
        conn,
        actor=actor,
        role=role,
        action="survey_policy.update" if current is not None else "survey_policy.create",
        subject=f"survey_policy:{policy.channel}",
        detail={"before": before, "after": after, "version": saved.version},
        now=now,
    )
    return saved
