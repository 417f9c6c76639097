"""Policies through `/v1/sla/policies`: the seeded RULES.md defaults, versioned and audited edits, the version a
contact keeps, and re-targeting on reclassification."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from typing import Any

import pytest

from shared.clock import utcnow
from shared.errors import PROBLEM_JSON
from shared.events import ContactReclassifiedV1
from tests.integration.sla.conftest import Sla, contact_received, token

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {token('admin', 'admin-7')}"}


def clocks_of(resolved: list[dict[str, Any]]) -> dict[str, str]:
    return {c["clock"]: f"{c['target']['amount']:g} {c['target']['unit']} @{c['calendar_id']}" for c in resolved}


RULES = [
    # (grade, priority_class, channel, category) → the clocks RULES.md says it runs
    (
        ("strategic", "routine", "chat", "enquiry"),
        {
            "first_response": "15 minutes @24x7",
            "formal_response": "24 hours @24x7",
            "answer": "60 seconds @24x7",
        },
    ),
    (
        ("basic", "routine", "phone", "enquiry"),
        {"first_response": "30 minutes @24x7", "formal_response": "24 hours @24x7", "answer": "20 seconds @24x7"},
    ),
    (
        ("basic", "routine", "email", "enquiry"),
        {"first_response": "24 hours @working-hours", "formal_response": "24 hours @working-hours"},
    ),
    (
        ("key", "routine", "web", "suggestion"),
        {"first_response": "15 minutes @24x7", "formal_response": "24 hours @working-hours"},
    ),
    (
        ("basic", "complex", "email", "system_fault"),
        {"first_response": "30 minutes @24x7", "formal_response": "48 hours @24x7"},
    ),
    (
        ("basic", "routine", "sms", "complaint"),
        {
            "first_response": "30 minutes @24x7",
            "formal_response": "24 hours @24x7",
            "complaint_acceptance": "24 hours @24x7",
            "complaint_resolution": "7 working_days @working-hours",
        },
    ),
    (
        ("basic", "urgent", "phone", "data_leak"),
        {
            "first_response": "15 minutes @24x7",
            "formal_response": "2 hours @24x7",
            "answer": "20 seconds @24x7",
            "emergency_response": "2 hours @24x7",
            "emergency_assessment": "2 hours @24x7",
            "regulator_report": "4 hours @24x7",
            "incident_review": "72 hours @24x7",
        },
    ),
]


@pytest.mark.parametrize(("keys", "expected"), RULES, ids=["-".join(k) for k, _ in RULES])
async def test_the_seeded_defaults_give_every_contact_the_rules_targets(
    shared_sla: Sla, keys: tuple[str, str, str, str], expected: dict[str, str]
) -> None:
    grade, priority, channel, category = keys
    response = await shared_sla.client.get(
        "/v1/sla/policies/resolve",
        params={"grade": grade, "priority_class": priority, "channel": channel, "category": category},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    resolved = [c for c in response.json() if c["starts_on"] == "received"]
    assert clocks_of(resolved) == expected


async def test_urgent_contacts_page_the_emergency_team_at_creation_and_the_ladder_climbs_at_100_150_200(
    shared_sla: Sla,
) -> None:
    response = await shared_sla.client.get(
        "/v1/sla/policies/resolve",
        params={"grade": "basic", "priority_class": "urgent", "channel": "chat", "category": "enquiry"},
        headers=ADMIN,
    )
    first = next(c for c in response.json() if c["clock"] == "first_response")
    assert [(s["level"], s["role"], s["relative_to"], s["after_fraction"]) for s in first["ladder"]] == [
        (0, "emergency_team", "start", 0.0),
        (1, "team_lead", "breach", 0.0),
        (2, "supervisor", "breach", 0.5),
        (3, "service_manager", "breach", 1.0),
    ]
    assert first["warning_fraction"] == 0.8


async def test_a_new_urgent_contact_fires_its_emergency_team_notice_at_once(sla: Sla) -> None:
    received = contact_received(channel="phone", priority_class="urgent", category="security_event")
    await sla.publish(received)
    await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) >= 4)
    assert await sla.fire(utcnow()) == 1
    events = await sla.published(received.contact_id)
    escalated = [e["data"] for e in events if e["type"].endswith("escalated.v1")]
    assert [(e["clock"], e["level"], e["target_role"]) for e in escalated] == [
        ("first_response", 0, "emergency_team")
    ]


POLICY: dict[str, Any] = {
    "name": "Key customers on social media",
    "grade": "key",
    "channel": "social",
    "calendar_id": "24x7",
    "warning_fraction": 0.8,
    "ladder": [{"level": 1, "role": "team_lead"}],
    "clocks": [
        # A clock of its own: a first_response row for key customers alone would make key looser than basic
        # (urgent contacts, 15 minutes) or strategic looser than key (15 minutes) as soon as it moves (C-5).
        {"clock": "social_reply", "target": {"amount": 20, "unit": "minutes"}, "stops_on": ["responded"]}
    ],
}


async def test_policy_edits_make_versions_are_audited_and_guarded(sla: Sla) -> None:
    created = await sla.client.post("/v1/sla/policies", json=POLICY, headers=ADMIN)
    assert created.status_code == 201, created.text
    policy = created.json()
    assert policy["version"] == 1 and policy["updated_by"] == "admin-7"
    assert created.headers["location"] == f"/v1/sla/policies/{policy['policy_id']}"

    twin = await sla.client.post("/v1/sla/policies", json={**POLICY, "name": "twin"}, headers=ADMIN)
    assert twin.status_code == 409 and twin.headers["content-type"] == PROBLEM_JSON
    assert policy["policy_id"] in twin.json()["detail"]

    edited = copy.deepcopy(POLICY)
    edited["clocks"][0]["target"]["amount"] = 10
    url = f"/v1/sla/policies/{policy['policy_id']}"
    stale = await sla.client.put(url, json=edited, headers={**ADMIN, "If-Match": '"7"'})
    assert stale.status_code == 412
    updated = await sla.client.put(url, json=edited, headers={**ADMIN, "If-Match": '"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2 and updated.headers["etag"] == '"2"'

    versions = (await sla.client.get(f"{url}/versions", headers=ADMIN)).json()
    assert [(v["version"], v["clocks"][0]["target"]["amount"]) for v in versions] == [(1, 20.0), (2, 10.0)]

    removed = await sla.client.delete(url, headers=ADMIN)
    assert removed.status_code == 200 and removed.json()["active"] is False and removed.json()["version"] == 3
    listed = (await sla.client.get("/v1/sla/policies", headers=ADMIN)).json()
    assert policy["policy_id"] not in {p["policy_id"] for p in listed}
    assert len(listed) == 11, "the seeded rows stay"

    audit = (
        await sla.client.get("/v1/sla/audit", params={"entity_id": policy["policy_id"]}, headers=ADMIN)
    ).json()
    assert [(a["action"], a["actor"], a["detail"]["version"]) for a in audit] == [
        ("deactivated", "admin-7", 3),
        ("updated", "admin-7", 2),
        ("created", "admin-7", 1),
    ]
    assert audit[1]["detail"]["before"]["clocks"][0]["target"]["amount"] == 20.0


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        ({"calendar_id": "mars"}, 422, "unknown calendar"),
        ({"warning_fraction": 1.5}, 422, "warning_fraction"),
        ({"channel": "fax"}, 422, "channel"),
        ({"warning_fration": 0.5}, 422, "warning_fration"),
        ({"clocks": []}, 422, "clocks"),
        ({"ladder": [{"level": 1, "role": "a"}, {"level": 1, "role": "b"}]}, 422, "once"),
    ],
)
async def test_a_bad_policy_is_refused_with_a_problem_that_says_why(
    shared_sla: Sla, change: dict[str, Any], status: int, needle: str
) -> None:
    response = await shared_sla.client.post("/v1/sla/policies", json={**POLICY, **change}, headers=ADMIN)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    assert needle in response.text


SEEDED_KEY = "00000000-0000-4000-8000-000000000003"
SEEDED_STRATEGIC = "00000000-0000-4000-8000-000000000002"
SLOW_STRATEGIC: dict[str, Any] = {
    **POLICY,
    "name": "Strategic customers on chat",
    "grade": "strategic",
    "channel": "chat",
    "clocks": [
        {"clock": "first_response", "target": {"amount": 20, "unit": "minutes"}, "stops_on": ["responded"]}
    ],
}


async def test_a_strategic_policy_looser_than_key_is_refused_naming_both_unless_an_override_is_audited(
    sla: Sla,
) -> None:
    refused = await sla.client.post("/v1/sla/policies", json=SLOW_STRATEGIC, headers=ADMIN)
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM_JSON
    problem = refused.json()
    assert problem["type"].endswith("#looser-grade")
    assert "'Strategic customers on chat'" in problem["detail"] and SEEDED_KEY in problem["detail"]
    assert "override_reason" in problem["detail"]
    pairs = {(f["higher"]["grade"], f["lower"]["grade"], f["lower"]["policy_id"]) for f in problem["looser"]}
    assert ("strategic", "key", SEEDED_KEY) in pairs
    assert all(f["channel"] == "chat" and f["clock"] == "first_response" for f in problem["looser"])
    listed = (await sla.client.get("/v1/sla/policies", headers=ADMIN)).json()
    assert "Strategic customers on chat" not in {p["name"] for p in listed}, "nothing was saved"

    reason = "contract 2026-17 gives this customer group 20 minutes on chat"
    saved = await sla.client.post(
        "/v1/sla/policies", json={**SLOW_STRATEGIC, "override_reason": reason}, headers=ADMIN
    )
    assert saved.status_code == 201, saved.text
    audit = (
        await sla.client.get("/v1/sla/audit", params={"entity_id": saved.json()["policy_id"]}, headers=ADMIN)
    ).json()
    override = audit[0]["detail"]["c5_override"]
    assert override["reason"] == reason and {f["lower"]["policy_id"] for f in override["looser"]} >= {SEEDED_KEY}

    # Once accepted, the looseness is known: renaming the row needs no new reason, making it looser still does.
    url = f"/v1/sla/policies/{saved.json()['policy_id']}"
    renamed = await sla.client.put(url, json={**SLOW_STRATEGIC, "name": "Strategic chat"}, headers=ADMIN)
    assert renamed.status_code == 200, renamed.text
    slower = copy.deepcopy(SLOW_STRATEGIC)
    slower["clocks"][0]["target"]["amount"] = 25
    assert (await sla.client.put(url, json=slower, headers=ADMIN)).status_code == 422


async def test_deactivating_the_strategic_row_is_refused_while_strategic_would_fall_back_to_a_looser_one(
    sla: Sla,
) -> None:
    url = f"/v1/sla/policies/{SEEDED_STRATEGIC}"
    refused = await sla.client.delete(url, headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["type"].endswith("#looser-grade")
    assert "30 minutes (policy 'Defaults (every contact)'" in refused.json()["detail"]
    assert (await sla.client.get(url, headers=ADMIN)).json()["active"] is True
    removed = await sla.client.delete(url, params={"override_reason": "strategic grade retired"}, headers=ADMIN)
    assert removed.status_code == 200 and removed.json()["active"] is False
    audit = (await sla.client.get("/v1/sla/audit", params={"entity_id": SEEDED_STRATEGIC}, headers=ADMIN)).json()
    assert audit[0]["action"] == "deactivated"
    assert audit[0]["detail"]["c5_override"]["reason"] == "strategic grade retired"


async def test_only_admins_change_policies_and_agents_do_not_read_them(shared_sla: Sla) -> None:
    supervisor = {"Authorization": f"Bearer {token('supervisor')}"}
    agent = {"Authorization": f"Bearer {token('agent')}"}
    assert (await shared_sla.client.post("/v1/sla/policies", json=POLICY, headers=supervisor)).status_code == 403
    assert (await shared_sla.client.get("/v1/sla/policies", headers=supervisor)).status_code == 200
    assert (await shared_sla.client.get("/v1/sla/policies", headers=agent)).status_code == 403
    assert (await shared_sla.client.get("/v1/sla/policies")).status_code == 401


async def test_a_contact_keeps_the_policy_version_it_started_under(sla: Sla) -> None:
    created = (await sla.client.post("/v1/sla/policies", json=POLICY, headers=ADMIN)).json()
    before = contact_received(channel="social", grade="key")
    await sla.publish(before)
    await sla.wait_for_contact(before.contact_id, lambda v: len(v["clocks"]) >= 1)

    edited = copy.deepcopy(POLICY)
    edited["clocks"][0]["target"]["amount"] = 5
    response = await sla.client.put(f"/v1/sla/policies/{created['policy_id']}", json=edited, headers=ADMIN)
    assert response.status_code == 200
    after = contact_received(channel="social", grade="key")
    await sla.publish(after)
    await sla.wait_for_contact(after.contact_id, lambda v: len(v["clocks"]) >= 1)

    def first(view: dict[str, Any]) -> tuple[int, float]:
        clock = next(c for c in view["clocks"] if c["clock"] == "social_reply")
        return clock["policy_version"], clock["target"]["seconds"]

    assert first(await sla.contact(before.contact_id)) == (1, 1200.0)
    assert first(await sla.contact(after.contact_id)) == (2, 300.0)


async def test_reclassification_retargets_keeping_elapsed_time_and_starts_the_new_category_clocks(
    sla: Sla,
) -> None:
    t = utcnow() - timedelta(minutes=10)
    received = contact_received(channel="sms", grade="basic", category="enquiry", received_at=t)
    await sla.publish(received)
    await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 2)
    event_id = await sla.publish(
        ContactReclassifiedV1(
            contact_id=received.contact_id, category="complaint", priority_class="urgent", by="agent:A-3"
        ),
        at=t + timedelta(minutes=6),
    )
    view = await sla.wait_for_contact(received.contact_id, lambda v: len(v["clocks"]) == 4)
    clocks = {c["clock"]: c for c in view["clocks"]}
    first = clocks["first_response"]
    assert first["target"]["seconds"] == 900.0, "urgent: 15 minutes"
    assert first["due_at"].startswith((t + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M")), "6 minutes had run"
    assert clocks["formal_response"]["target"]["seconds"] == 7200.0
    assert clocks["complaint_acceptance"]["started_at"].startswith(t.strftime("%Y-%m-%dT%H:%M")), "as of receipt"
    retargeted = [h for h in view["history"] if h["action"] == "retargeted"]
    assert {h["clock"] for h in retargeted} == {"first_response", "formal_response"}
    assert all(h["cause_event_id"] == str(event_id) for h in retargeted)
    assert retargeted[0]["elapsed_s"] == pytest.approx(360.0)
    events = await sla.published(received.contact_id)
    assert sum(e["type"].endswith("clock_retargeted.v1") for e in events) == 2


async def test_an_unknown_contact_is_a_404_problem(shared_sla: Sla) -> None:
    response = await shared_sla.client.get(f"/v1/sla/contacts/{uuid.uuid4()}", headers=ADMIN)
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM_JSON
