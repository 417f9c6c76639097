"""Delivery receipts of routing's and agents' messages to a customer: a failed reply reaches the people on the
work; an end notice's receipt sets or un-sets "customer notified". Runs in the inbox transaction that claimed
the event."""

from __future__ import annotations

from dataclasses import replace

from services.routing.handlers.common import SYSTEM, Tx, history
from services.routing.handlers.views import jsonable
from services.routing.handlers.work_steps import tell_people
from services.routing.repository import end_notices as end_notice_repo
from services.routing.repository import feed
from services.routing.repository import work as work_repo
from shared.events import OutboundDeliveryReportedV1


async def on_delivery_reported(tx: Tx, event: OutboundDeliveryReportedV1) -> None:
    """A receipt for a message of this contact: a failed reply reaches the people on the work live; an end
    notice that failed un-sets "customer notified" (the three clears are no longer met) until a new one is
    delivered."""
    if event.contact_id is None or event.kind not in ("reply", "end_notice"):
        return
    failed = event.status in ("failed", "bounced")
    if event.kind == "end_notice":
        reported = await end_notice_repo.report_end_notice(
            tx.conn, message_id=event.message_id, status=event.status, reason=event.reason, at=event.at
        )
        if reported is None or not reported[1] or not (failed or event.status in ("delivered", "read")):
            return
        work = await work_repo.get_work(tx.conn, reported[0], for_update=True)
        if work is None or work.customer_notified == (not failed):
            return
        work = replace(work, customer_notified=not failed, updated_at=tx.now)
        await work_repo.save_work(tx.conn, work)
        await history(
            tx, work, "end_notice_failed" if failed else "end_notice_delivered", SYSTEM, reason=event.reason
        )
    else:
        if not failed:
            return
        work = await work_repo.lock_work_for_contact(tx.conn, event.contact_id)
        if work is None:
            return
    body = {
        "work_id": work.work_id,
        "contact_id": work.contact_id,
        "message_id": event.message_id,
        "kind": event.kind,
        "channel": event.channel,
        "status": event.status,
        "reason": event.reason,
        "customer_notified": work.customer_notified,
        "at": event.at,
    }
    if failed:
        await tell_people(tx, work, "delivery_failed", body)
        for agent_id in {work.first_owner_id} - {None, work.owner_id, work.slot_agent_id}:
            await feed.to_desktop(
                tx.conn, agent_id=str(agent_id), kind="delivery_failed", body=jsonable(body), now=tx.now
            )
