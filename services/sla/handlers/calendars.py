"""Calendars running out of holiday data: which calendars in use end within the warning window, and the daily
notice that tells admins (an `sla.calendar_data_ending` event routing puts on supervisors' desktops)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.sla.domain.calendar import Calendar
from services.sla.handlers.changes import SOURCE
from services.sla.repository import admin as admin_repo
from services.sla.repository import clocks as clock_repo
from shared.db import Conn
from shared.events import SlaCalendarDataEndingV1, encode
from shared.outbox import enqueue_many
from shared.tx import Tx


@dataclass(frozen=True)
class DataEnding:
    calendar_id: str
    data_until: date
    days_left: int
    provisional_clocks: int

    @property
    def text(self) -> str:
        when = "ended" if self.days_left < 0 else "ends"
        return (
            f"calendar {self.calendar_id!r}: holiday data {when} on {self.data_until.isoformat()} "
            f"({self.days_left} days); {self.provisional_clocks} running clock(s) already due after it — "
            "upgrade the holidays package or enter the next year's days (PUT /v1/sla/calendars/…/days/…)"
        )


def days_left(calendar: Calendar, now: datetime) -> int | None:
    until = calendar.data_until
    return None if until is None else (until - now.astimezone(calendar.zone).date()).days


async def calendars_in_use(conn: Conn) -> list[Calendar]:
    calendars = await admin_repo.calendars_by_id(conn)
    used = await admin_repo.calendar_ids_in_use(conn)
    return [calendars[c] for c in sorted(used) if c in calendars]


async def data_endings(tx: Tx, *, warn_days: int) -> tuple[dict[str, int], list[DataEnding]]:
    """Days of data left for every calendar in use that can run out, and those within `warn_days`."""
    left: dict[str, int] = {}
    ending: list[DataEnding] = []
    for calendar in await calendars_in_use(tx.conn):
        days = days_left(calendar, tx.now)
        if days is None:
            continue
        left[calendar.calendar_id] = days
        if days <= warn_days:
            assert calendar.data_until is not None
            provisional = await clock_repo.running_due_after(
                tx.conn, calendar.calendar_id, calendar.data_until, time_zone=calendar.time_zone
            )
            ending.append(DataEnding(calendar.calendar_id, calendar.data_until, days, provisional))
    return left, ending


async def announce(tx: Tx, endings: list[DataEnding]) -> list[DataEnding]:
    """Stage today's notice for each calendar not yet announced today (by any instance); returns those staged."""
    conn, now = tx.conn, tx.now
    staged = [
        e
        for e in endings
        if await admin_repo.claim_calendar_notice(conn, e.calendar_id, on_day=now.date(), data_until=e.data_until)
    ]
    await enqueue_many(
        conn,
        [
            encode(
                SlaCalendarDataEndingV1(
                    calendar_id=e.calendar_id,
                    data_until=e.data_until,
                    days_left=e.days_left,
                    provisional_clocks=e.provisional_clocks,
                    at=now,
                ),
                source=SOURCE,
                subject=f"calendar:{e.calendar_id}",
                time=now,
            )
            for e in staged
        ],
        now=now,
    )
    return staged
