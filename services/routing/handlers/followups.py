"""Feedback's verdicts: a low score becomes follow-up work for a supervisor, "not solved" reopens the contact's
work. Each runs in the inbox transaction that claimed the event."""

from __future__ import annotations

from services.routing.handlers.common import SYSTEM, Tx
from services.routing.handlers.contacts import create_work
from services.routing.handlers.lifecycle import reopen
from services.routing.repository import contacts as contact_repo
from services.routing.repository import work as work_repo
from shared.events import FeedbackFollowupRequiredV1, FeedbackNotSolvedV1


async def on_followup_required(tx: Tx, event: FeedbackFollowupRequiredV1, *, pool: str) -> None:
    """A low score becomes follow-up (回访) work for a supervisor, by phone."""
    contact = await contact_repo.get_contact(tx.conn, event.contact_id)
    original = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    await create_work(
        tx,
        contact_id=event.contact_id,
        kind="followup",
        pool=original.pool if original is not None else pool,
        channel="phone",
        customer_id=event.customer_id,
        grade=contact.grade if contact else "basic",
        work_class="followup",
        category=contact.category if contact else None,
        language=contact.language if contact else None,
        requirements=(),
        target_team=None,
        reason=f"follow-up after a low survey ({event.reason})",
    )


async def on_not_solved(tx: Tx, event: FeedbackNotSolvedV1) -> None:
    work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
    if work is not None and work.state in ("resolved", "closed"):
        await reopen(tx, work, SYSTEM, reason="the customer answered: not solved")
