"""The threading windows are data an admin edits through intake's API (validated, versioned, audited), and the
accept path applies the version in force."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.intake.repository.rules import audit_trail
from tests.integration.intake.conftest import Intake, unique
from tests.integration.intake.test_lifecycle import chat, close_by_routing

pytestmark = pytest.mark.integration
SEEDED = {
    "version": 1,
    "reopen_window_s": 604800,
    "email_subject_window_s": 604800,
    "customer_windows_s": {"chat": 1800, "sms": 86400, "social": 86400},
}


async def test_the_seeded_windows_are_rules_md_and_an_edit_applies_to_the_next_message(intake: Intake) -> None:
    seeded = await intake.client.get("/v1/intake/settings", headers=intake.token("supervisor"))
    assert seeded.status_code == 200 and seeded.json() == SEEDED and seeded.headers["etag"] == '"1"'

    session = unique()
    first = await chat(intake, session, "1", "我的银行卡被锁了")
    await close_by_routing(intake, first["contact_id"], ago=timedelta(hours=2))
    shorter = {**SEEDED, "reopen_window_s": 3600}
    del shorter["version"]
    saved = await intake.client.put(
        "/v1/intake/settings", json=shorter, headers={**intake.token("admin", "ad-1"), "If-Match": '"1"'}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {**shorter, "version": 2}
    again = await chat(intake, session, "2", "又被锁了")
    assert again["outcome"] == "created", "closed two hours ago: past the one-hour window now in force"

    async with intake.app.state.pool.acquire() as conn:
        [entry] = [e for e in await audit_trail(conn, target="intake:settings") if e["actor"] == "ad-1"]
    assert entry["action"] == "intake.settings.replace"
    assert entry["detail"]["before"]["reopen_window_s"] == 604800
    assert entry["detail"]["after"]["reopen_window_s"] == 3600
    assert (entry["detail"]["from_version"], entry["detail"]["to_version"]) == (1, 2)

    stale = await intake.client.put(
        "/v1/intake/settings", json=shorter, headers={**intake.token("admin"), "If-Match": '"1"'}
    )
    assert stale.status_code == 412 and stale.json()["version"] == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reopen_window_s": -5}, "reopen_window_s"),
        ({"customer_windows_s": {"fax": 60}}, "customer_windows_s.fax"),
        ({"email_subject_window_s": "a week"}, "email_subject_window_s"),
        ({"natural_key_window_s": 60}, "natural_key_window_s"),
    ],
)
async def test_bad_settings_are_refused_naming_the_field_and_change_nothing(
    intake: Intake, change: dict[str, object], field: str
) -> None:
    body = {k: v for k, v in SEEDED.items() if k != "version"} | change
    refused = await intake.client.put("/v1/intake/settings", json=body, headers=intake.token("admin"))
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert field in refused.json()["detail"]
    assert (await intake.client.get("/v1/intake/settings", headers=intake.token("admin"))).json() == SEEDED


async def test_only_admins_change_the_windows(intake: Intake) -> None:
    body = {k: v for k, v in SEEDED.items() if k != "version"}
    assert (
        await intake.client.put("/v1/intake/settings", json=body, headers=intake.token("supervisor"))
    ).status_code == 403
    assert (await intake.client.get("/v1/intake/settings", headers=intake.token("agent"))).status_code == 403
