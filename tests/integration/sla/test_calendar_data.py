"""Calendars that follow the official holidays, and the warning before a calendar in use runs out of data: the
gauge, the readiness note, the log line and one `sla.calendar_data_ending` event a day, over the real broker."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from services.sla.calendar_watch import CalendarWatch
from shared.clock import ManualClock
from shared.events import SLA_EVENTS
from shared.outbox import backlog
from tests.integration.sla.conftest import Sla, token
from tests.support import read_topic, wait_until

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {token('admin', 'admin-cal')}"}


async def test_the_seeded_calendar_follows_the_official_source_past_2026(sla: Sla) -> None:
    calendar = (await sla.client.get("/v1/sla/calendars/working-hours", headers=ADMIN)).json()
    assert (calendar["official"], calendar["holidays"], calendar["workdays"]) == ("CN", [], [])
    assert calendar["data_until"] == "2026-12-31"
    sources = (await sla.client.get("/v1/sla/calendars/sources", headers=ADMIN)).json()
    assert sources[0]["code"] == "CN" and sources[0]["published_through"] == "2026-12-31"
    days = (
        await sla.client.get(
            "/v1/sla/calendars/working-hours/days",
            params={"from": "2026-12-31", "to": "2027-01-04"},
            headers=ADMIN,
        )
    ).json()
    assert [(d["date"], d["working"], d["source"], d["provisional"]) for d in days] == [
        ("2026-12-31", True, "weekly", False),
        ("2027-01-01", False, "official", True),  # New Year's Day is law; 2027's notice is not out yet
        ("2027-01-02", False, "weekly", True),
        ("2027-01-03", False, "weekly", True),
        ("2027-01-04", True, "weekly", True),
    ]
    audit = (await sla.client.get("/v1/sla/audit", params={"entity": "calendar"}, headers=ADMIN)).json()
    assert any(e["action"] == "follows official holidays" for e in audit), audit


async def test_an_admin_enters_next_years_days_by_hand_and_says_how_far_they_reach(sla: Sla) -> None:
    current = (await sla.client.get("/v1/sla/calendars/working-hours", headers=ADMIN)).json()
    body = {k: current[k] for k in ("name", "time_zone", "weekly", "workday_hours", "official")}
    body |= {
        "holidays": [{"date": "2027-02-09", "name": "春节"}, {"date": "2027-02-10", "name": "春节"}],
        "workdays": [{"date": "2027-02-20", "name": "春节调休上班"}],
        "covered_until": "2027-12-31",
    }
    saved = await sla.client.put("/v1/sla/calendars/working-hours", json=body, headers=ADMIN)
    assert saved.status_code == 200, saved.text
    assert saved.json()["data_until"] == "2027-12-31"
    due = await sla.client.get(
        "/v1/sla/calendars/working-hours/add",
        params={"start": "2027-02-04T10:00:00+08:00", "amount": 2, "unit": "working_days"},
        headers=ADMIN,
    )
    # Thursday 4 February; the 5th–10th are off (statutory and the admin's bridging days): 11th, 12th.
    assert due.json()["due"] == "2027-02-12T02:00:00Z"
    bad = await sla.client.put("/v1/sla/calendars/working-hours", json={**body, "official": "XX"}, headers=ADMIN)
    assert bad.status_code == 422


async def test_a_calendar_about_to_run_out_warns_everywhere_once_a_day(
    sla: Sla, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))  # not today, which the app's own watch took
    watch = CalendarWatch(sla.runtime.pool, clock, warn_days=60, interval_s=3600)
    with caplog.at_level(logging.WARNING):
        staged = await watch.check()
    assert [(e.calendar_id, e.data_until, e.days_left) for e in staged] == [
        ("working-hours", date(2026, 12, 31), 41)
    ]
    assert "working-hours" in caplog.text and "2026-12-31" in caplog.text
    assert await watch.check() == []  # the same day: no second notice
    assert "calendar working-hours" in watch.notes()
    clock.advance(timedelta(days=1))
    assert [e.days_left for e in await watch.check()] == [40]

    async def drained() -> bool:
        async with sla.runtime.pool.acquire() as conn:
            return await backlog(conn) == 0

    await wait_until(drained, timeout_s=20)
    notices = [
        json.loads(value)
        for _, value in await read_topic(sla.bootstrap, SLA_EVENTS.name)
        if b"calendar_data_ending" in value
    ]
    mine = [n for n in notices if n["data"]["at"].startswith("2026-11-21")]
    assert mine and mine[-1]["subject"] == "calendar:working-hours" and mine[-1]["data"]["days_left"] == 40


async def test_readiness_and_metrics_show_the_calendar_running_out(sla: Sla) -> None:
    watch = sla.state.calendar_watch
    await watch.check()
    ready = (await sla.client.get("/health/ready")).json()
    assert ready["status"] == "ready"
    assert "2026-12-31" in ready["notes"]["calendar working-hours"]
    metrics = (await sla.client.get("/metrics")).text
    assert 'switchboard_sla_calendar_data_days_left{calendar="working-hours"}' in metrics
