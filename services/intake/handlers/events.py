"""Consumed events: which use case handles which event type, for each of intake's consumer groups. Every use
case runs in the inbox transaction that claimed the event (the consumer wraps its connection as the `Tx`) and is
given the event and the delivery it came in (its id, envelope and body as it was on the topic). Types not in a
consumer's table are skipped before the inbox claims them (`ConsumerSpec.accepts`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from services.intake.handlers.common import Tx
from services.intake.handlers.timeline import STEPS, add_step, note_outbound
from services.intake.handlers.webhooks import on_outbound_message
from services.intake.repository import contacts
from shared.events import Event, OutboundMessageRequestedV1, WorkClosedV1, WorkReopenedV1, WorkResolvedV1
from shared.kafka import Delivery

Dispatch = Callable[[Tx, Any, Delivery], Awaitable[None]]
"""A use case for one consumed event type, called with the event of that type and its delivery."""


# --- routing.work: intake's view of whether a contact is still open -----------------------------------------


async def on_work_resolved(tx: Tx, event: WorkResolvedV1, _delivery: Delivery) -> None:
    await contacts.set_status(
        tx.conn, contact_id=event.contact_id, status="resolved", ended_at=event.resolved_at, at=event.resolved_at
    )


async def on_work_closed(tx: Tx, event: WorkClosedV1, _delivery: Delivery) -> None:
    await contacts.set_status(
        tx.conn, contact_id=event.contact_id, status="closed", ended_at=event.at, at=event.at
    )


async def on_work_reopened(tx: Tx, event: WorkReopenedV1, _delivery: Delivery) -> None:
    await contacts.set_status(tx.conn, contact_id=event.contact_id, status="reopened", ended_at=None, at=event.at)


def dispatch_table() -> dict[str, dict[type[Event], Dispatch]]:
    """Per consumer group (`intake`, `intake.timeline`, `intake.webhooks`): which use case handles which consumed
    event type; everything else is skipped."""
    timeline: dict[type[Event], Dispatch] = {kind: add_step for kind in STEPS}
    timeline[OutboundMessageRequestedV1] = note_outbound
    return {
        "intake": {
            WorkResolvedV1: on_work_resolved,
            WorkClosedV1: on_work_closed,
            WorkReopenedV1: on_work_reopened,
        },
        "intake.timeline": timeline,
        "intake.webhooks": {OutboundMessageRequestedV1: on_outbound_message},
    }


async def dispatch(tx: Tx, table: Mapping[type[Event], Dispatch], delivery: Delivery) -> None:
    """The delivery's event through its use case in `table`, if it has one."""
    event = delivery.decoded.event
    use_case = table.get(type(event)) if event is not None else None
    if use_case is not None:
        await use_case(tx, event, delivery)
