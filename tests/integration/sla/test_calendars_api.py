"""Calendars through `/v1/sla/calendars`: the seeded working-hours calendar, admin edits that re-plan running
clocks, validation, and working-time arithmetic for admins."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from shared.errors import PROBLEM_JSON
from tests.integration.sla.conftest import Sla, contact_received, token
from tests.unit.sla.support import CHINA_HOLIDAYS, CHINA_WORKDAYS, local

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {token('admin', 'admin-3')}"}


async def test_the_seeded_working_hours_calendar_holds_the_official_2025_and_2026_holidays(
    shared_sla: Sla,
) -> None:
    response = await shared_sla.client.get("/v1/sla/calendars/working-hours", headers=ADMIN)
    assert response.status_code == 200
    calendar = response.json()
    assert calendar["time_zone"] == "Asia/Shanghai"
    assert calendar["weekly"] == {
        day: [{"start": "09:00", "end": "18:00"}] for day in ("mon", "tue", "wed", "thu", "fri")
    }
    assert calendar["official"] == "CN"  # the notices come from the official source now, not a typed list
    days = await shared_sla.client.get(
        "/v1/sla/calendars/working-hours/days", params={"from": "2025-01-01", "to": "2026-12-31"}, headers=ADMIN
    )
    assert days.status_code == 200, days.text
    off = {d["date"] for d in days.json() if not d["working"]}
    worked_weekends = {d["date"] for d in days.json() if d["working"] and d["source"] == "official"}
    assert {n.day.isoformat() for n in CHINA_HOLIDAYS} <= off
    assert worked_weekends == {n.day.isoformat() for n in CHINA_WORKDAYS}


async def test_adding_working_time_on_a_calendar_crosses_spring_festival(shared_sla: Sla) -> None:
    response = await shared_sla.client.get(
        "/v1/sla/calendars/working-hours/add",
        params={"start": local("2026-02-13T10:00").isoformat(), "amount": 7, "unit": "working_days"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["due"]) == local("2026-03-02 10:00")
    assert response.json()["working_seconds"] == 63 * 3600
    between = await shared_sla.client.get(
        "/v1/sla/calendars/working-hours/between",
        params={"start": local("2026-02-13T09:00").isoformat(), "end": local("2026-02-24T09:00").isoformat()},
        headers=ADMIN,
    )
    assert between.json()["working_seconds"] == 18 * 3600


async def test_ranges_are_bounded_so_one_request_cannot_hold_the_loop(shared_sla: Sla) -> None:
    """A "between" over 9,999 years held SLA's event loop for 16 s; an addition near year 9999 answered 500."""
    started = time.perf_counter()
    between = await shared_sla.client.get(
        "/v1/sla/calendars/working-hours/between",
        params={"start": "0001-01-01T00:00:00+00:00", "end": "9999-12-31T00:00:00+00:00"},
        headers=ADMIN,
    )
    added = await shared_sla.client.get(
        "/v1/sla/calendars/24x7/add",
        params={"start": "9999-12-30T00:00:00+00:00", "amount": 700, "unit": "hours"},
        headers=ADMIN,
    )
    huge = await shared_sla.client.get(
        "/v1/sla/calendars/24x7/add",
        params={"start": "2026-01-01T00:00:00+00:00", "amount": 1e300, "unit": "seconds"},
        headers=ADMIN,
    )
    assert [between.status_code, added.status_code, huge.status_code] == [422, 422, 422]
    assert time.perf_counter() - started < 2


LUNCH: dict[str, Any] = {
    "name": "Service desk with a lunch break",
    "time_zone": "Asia/Shanghai",
    "weekly": {
        day: [{"start": "09:00", "end": "12:00"}, {"start": "13:30", "end": "18:00"}]
        for day in ("mon", "tue", "wed", "thu", "fri")
    },
    "holidays": [{"date": "2026-12-31", "name": "year-end closing"}],
}


async def test_admins_create_and_replace_calendars_and_each_change_is_audited(sla: Sla) -> None:
    created = await sla.client.put("/v1/sla/calendars/desk", json=LUNCH, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    replaced = await sla.client.put(
        "/v1/sla/calendars/desk", json={**LUNCH, "workdays": [{"date": "2027-01-02"}]}, headers=ADMIN
    )
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    audit = (
        await sla.client.get("/v1/sla/audit", params={"entity": "calendar", "entity_id": "desk"}, headers=ADMIN)
    ).json()
    assert [(a["action"], a["actor"]) for a in audit] == [("updated", "admin-3"), ("created", "admin-3")]
    assert audit[0]["detail"]["before"]["workdays"] == [] and audit[0]["detail"]["after"]["workdays"] != []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**LUNCH, "time_zone": "Mars/Olympus"}, "unknown time zone"),
        (
            {**LUNCH, "weekly": {"mon": [{"start": "09:00", "end": "13:00"}, {"start": "12:00", "end": "18:00"}]}},
            "overlap",
        ),
        ({**LUNCH, "weekly": {"mon": [{"start": "18:00", "end": "09:00"}]}}, "run forwards"),
        ({**LUNCH, "weekly": {}}, "at least one weekday"),
        ({**LUNCH, "weekly": {"funday": []}}, "funday"),
        (
            {**LUNCH, "holidays": [{"date": "2026-10-10"}], "workdays": [{"date": "2026-10-10"}]},
            "both as a holiday and as a make-up",
        ),
    ],
)
async def test_a_bad_calendar_is_refused_with_a_problem_that_says_why(
    shared_sla: Sla, body: dict[str, Any], needle: str
) -> None:
    response = await shared_sla.client.put("/v1/sla/calendars/desk", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert needle in response.text


async def test_declaring_a_holiday_re_plans_the_clocks_running_on_that_calendar(sla: Sla) -> None:
    # A basic routine email runs its first response on working hours: 24 working hours.
    received = contact_received(channel="email", grade="basic", received_at=local("2026-11-23 09:00"))
    await sla.publish(received)
    view = await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 2)

    def breach(view: dict[str, Any]) -> datetime:
        first = next(c for c in view["clocks"] if c["clock"] == "first_response")
        return datetime.fromisoformat(first["due_at"])

    assert breach(view) == local("2026-11-25 15:00"), "Mon 9 h, Tue 9 h, then 6 h into Wednesday"
    marked = await sla.client.put(
        "/v1/sla/calendars/working-hours/days/2026-11-24", json={"kind": "holiday", "name": "test"}, headers=ADMIN
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["replanned_clocks"] >= 2
    assert breach(await sla.contact(received.contact_id)) == local("2026-11-26 15:00"), "Tuesday no longer counts"
    cleared = await sla.client.delete("/v1/sla/calendars/working-hours/days/2026-11-24", headers=ADMIN)
    assert cleared.status_code == 200
    assert breach(await sla.contact(received.contact_id)) == local("2026-11-25 15:00")


async def test_a_calendar_in_use_cannot_be_deleted_and_an_unused_one_can(sla: Sla) -> None:
    in_use = await sla.client.delete("/v1/sla/calendars/working-hours", headers=ADMIN)
    assert in_use.status_code == 409 and "active polic" in in_use.json()["detail"]
    await sla.client.put("/v1/sla/calendars/spare", json=LUNCH, headers=ADMIN)
    assert (await sla.client.delete("/v1/sla/calendars/spare", headers=ADMIN)).status_code == 204
    assert (await sla.client.get("/v1/sla/calendars/spare", headers=ADMIN)).status_code == 404


async def test_only_admins_change_calendars(shared_sla: Sla) -> None:
    supervisor = {"Authorization": f"Bearer {token('supervisor')}"}
    assert (
        await shared_sla.client.put("/v1/sla/calendars/desk", json=LUNCH, headers=supervisor)
    ).status_code == 403
    assert (await shared_sla.client.get("/v1/sla/calendars", headers=supervisor)).status_code == 200
