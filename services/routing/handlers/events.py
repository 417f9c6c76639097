"""Consumed events: the one table of which use case handles which event type (`dispatch_table`), and a polled
batch run through it (`handle_events`). The use cases are grouped by what they are about: contacts from intake
(`contacts`), SLA's alerts (`sla_alerts`), feedback's verdicts (`followups`), knowledge's news
(`knowledge_notices`), delivery receipts (`deliveries`), callbacks and abandoned contacts (`callbacks`). Each
runs in the inbox transaction that claimed the event."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from services.routing.handlers.callbacks import on_abandoned, on_callback_attempt
from services.routing.handlers.common import Tx
from services.routing.handlers.contacts import (
    on_contact_received,
    on_contacts_received,
    on_message_added,
    on_reclassified,
)
from services.routing.handlers.deliveries import on_delivery_reported
from services.routing.handlers.followups import on_followup_required, on_not_solved
from services.routing.handlers.knowledge_notices import on_article_overdue, on_suggested
from services.routing.handlers.sla_alerts import on_calendar_data_ending, on_sla
from shared.events import (
    ContactAbandonedV1,
    ContactCallbackAttemptedV1,
    ContactMessageAddedV1,
    ContactReceivedV1,
    ContactReclassifiedV1,
    Event,
    FeedbackFollowupRequiredV1,
    FeedbackNotSolvedV1,
    KnowledgeArticleOverdueV1,
    KnowledgeSuggestedV1,
    OutboundDeliveryReportedV1,
    SlaBreachedV1,
    SlaCalendarDataEndingV1,
    SlaEscalatedV1,
    SlaWarningV1,
)


async def handle_events(tx: Tx, events: Sequence[Event], *, table: dict[type[Event], Dispatch], pool: str) -> None:
    """A polled batch in order: runs of received contacts set-based (`on_contacts_received`), every other event
    through `table`. A run ends before any other event and before a contact seen earlier in it."""
    run: list[ContactReceivedV1] = []
    in_run: set[uuid.UUID] = set()

    async def flush() -> None:
        if run:
            await on_contacts_received(tx, run, pool=pool)
            run.clear()
            in_run.clear()

    for event in events:
        if isinstance(event, ContactReceivedV1):
            if event.contact_id in in_run:
                await flush()
            run.append(event)
            in_run.add(event.contact_id)
            continue
        handler = table.get(type(event))
        if handler is not None:
            await flush()
            await handler(tx, event)
    await flush()


Dispatch = Callable[[Tx, Any], Awaitable[None]]
"""A use case for one consumed event type, called with the event of that type."""


def dispatch_table(*, pool: str) -> dict[type[Event], Dispatch]:
    """Which function handles which consumed event type; everything else is skipped."""

    async def received(tx: Tx, e: ContactReceivedV1) -> None:
        await on_contact_received(tx, e, pool=pool)

    async def followup(tx: Tx, e: FeedbackFollowupRequiredV1) -> None:
        await on_followup_required(tx, e, pool=pool)

    return {
        ContactReceivedV1: received,
        ContactMessageAddedV1: on_message_added,
        ContactReclassifiedV1: on_reclassified,
        SlaWarningV1: on_sla,
        SlaBreachedV1: on_sla,
        SlaEscalatedV1: on_sla,
        SlaCalendarDataEndingV1: on_calendar_data_ending,
        OutboundDeliveryReportedV1: on_delivery_reported,
        ContactAbandonedV1: on_abandoned,
        ContactCallbackAttemptedV1: on_callback_attempt,
        FeedbackFollowupRequiredV1: followup,
        FeedbackNotSolvedV1: on_not_solved,
        KnowledgeSuggestedV1: on_suggested,
        KnowledgeArticleOverdueV1: on_article_overdue,
    }
