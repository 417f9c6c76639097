"""Survey policies: seeded from RULES.md by the migration, edited by admins only, every change audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.feedback.scheduler import fire_due
from tests.integration.feedback.conftest import Feedback, resolve
from tests.unit.feedback.builders import make_contact_received, make_work_resolved

pytestmark = pytest.mark.integration


async def test_the_migration_seeds_the_rules_defaults_per_channel(feedback: Feedback) -> None:
    async with feedback.client() as client:
        response = await client.get("/v1/surveys/policies", headers=feedback.token("supervisor"))
    assert response.status_code == 200
    policies = {p["channel"]: p for p in response.json()}
    timing = {
        channel: (p["invite_channel"], p["delay_minutes"], p["expiry_hours"], p["quiet_hours"])
        for channel, p in policies.items()
    }
    assert timing["chat"] == ("chat", 0, 72, None)
    assert timing["phone"] == ("sms", 10, 72, {"start": "21:00:00", "end": "08:00:00"})
    assert timing["email"] == ("email", 60, 72, None)
    assert timing["web"] == ("email", 60, 72, None)
    phone = policies["phone"]
    assert (phone["frequency_cap_days"], phone["sampling_rate"], phone["languages"]) == (
        7, 1.0, ["zh-Hans", "zh-Hant", "en"],
    )  # fmt: skip
    assert (phone["low_csat_max"], phone["low_nps_max"]) == (2, 6)
    csat, solved, nps, comment = phone["questions"]
    assert [o["labels"]["zh-Hans"] for o in csat["options"]] == [
        "非常满意",
        "满意",
        "一般",
        "不满意",
        "非常不满意",
    ]
    assert [o["value"] for o in csat["options"]] == [5, 4, 3, 2, 1]
    assert [o["points"] for o in csat["options"]] == [100, 80, 60, 40, 20]
    assert [o["value"] for o in nps["options"]] == list(range(11))
    assert solved["prompt"]["en"] == "Was your problem solved?" and comment["options"] == []


async def test_an_admin_changes_a_policy_and_the_change_is_audited(feedback: Feedback) -> None:
    async with feedback.client() as client:
        current = (await client.get("/v1/surveys/policies/email", headers=feedback.token("admin"))).json()
        change = {k: v for k, v in current.items() if k not in ("channel", "updated_at", "updated_by")}
        change.update(delay_minutes=30, sampling_rate=0.5)
        saved = await client.put("/v1/surveys/policies/email", json=change, headers=feedback.token("admin", "ada"))
        stale = await client.put("/v1/surveys/policies/email", json=change, headers=feedback.token("admin", "bob"))
        audit = await client.get("/v1/surveys/audit", headers=feedback.token("admin"))
    assert saved.status_code == 200, saved.text
    assert (saved.json()["delay_minutes"], saved.json()["version"], saved.json()["updated_by"]) == (30, 2, "ada")
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    [entry] = [
        e for e in audit.json() if e["action"].startswith("survey_policy")
    ]  # the settings' seed is there too
    assert (entry["actor"], entry["action"], entry["subject"]) == (
        "ada",
        "survey_policy.update",
        "survey_policy:email",
    )
    assert entry["detail"]["before"]["delay_minutes"] == 60 and entry["detail"]["after"]["delay_minutes"] == 30


async def test_only_admins_change_policies_and_broken_ones_are_refused_with_every_reason(
    feedback: Feedback,
) -> None:
    async with feedback.client() as client:
        current = (await client.get("/v1/surveys/policies/phone", headers=feedback.token("ops"))).json()
        change = {k: v for k, v in current.items() if k not in ("channel", "updated_at", "updated_by", "version")}
        by_supervisor = await client.put(
            "/v1/surveys/policies/phone", json=change, headers=feedback.token("supervisor")
        )
        broken = await client.put(
            "/v1/surveys/policies/phone",
            json={**change, "time_zone": "Mars/Base", "languages": ["zh-Hans", "de"], "quiet_hours": None},
            headers=feedback.token("admin"),
        )
        out_of_range = await client.put(
            "/v1/surveys/policies/phone", json={**change, "sampling_rate": 2}, headers=feedback.token("admin")
        )
        no_channel = await client.get("/v1/surveys/policies/fax", headers=feedback.token("admin"))
        anonymous = await client.get("/v1/surveys/policies")
        unchanged = (await client.get("/v1/surveys/policies/phone", headers=feedback.token("admin"))).json()
    assert by_supervisor.status_code == 403
    assert broken.status_code == 422
    assert any("Mars/Base" in p for p in broken.json()["problems"])
    assert any("'de'" in p for p in broken.json()["problems"])
    assert out_of_range.status_code == 422 and "sampling_rate" in out_of_range.json()["detail"]
    assert no_channel.status_code == 404 and anonymous.status_code == 401
    assert unchanged["version"] == 1 and unchanged["time_zone"] == "Asia/Shanghai"


async def test_a_changed_policy_applies_to_the_next_resolution(feedback: Feedback) -> None:
    async with feedback.client() as client:
        current = (await client.get("/v1/surveys/policies/web", headers=feedback.token("admin"))).json()
        change = {k: v for k, v in current.items() if k not in ("channel", "updated_at", "updated_by")}
        change.update(enabled=False)
        assert (
            await client.put("/v1/surveys/policies/web", json=change, headers=feedback.token("admin"))
        ).is_success
    contact = make_contact_received(channel="web")
    await resolve(feedback, contact, make_work_resolved(contact, resolved_at=feedback.clock.now()))
    assert (await fire_due(feedback.pool, now=feedback.clock.now() + timedelta(days=1), links=feedback.links))[
        "sent"
    ] == 0
    reason = await feedback.pool.fetchval(
        "SELECT reason FROM invitation WHERE contact_id = $1", contact.contact_id
    )
    assert reason == "policy_disabled"
