"""The customer directory and the classification rules over the admin API, every change audited."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.intake.conftest import Intake, unique

pytestmark = pytest.mark.integration


async def audit_actions(intake: Intake, target: str) -> list[str]:
    async with intake.app.state.pool.acquire() as conn:
        rows = await conn.fetch("SELECT action FROM audit_trail WHERE target = $1 ORDER BY audit_id", target)
    return [r["action"] for r in rows]


async def test_customers_are_created_read_patched_and_looked_up(intake: Intake) -> None:
    admin, agent = intake.token("admin", "ad-1"), intake.token("agent")
    email = f"{unique()}@Example.com"
    created = await intake.client.post(
        "/v1/customers",
        json={
            "name": "周七",
            "grade": "key",
            "value_tier": "high",
            "phones": ["(010) 6552 9988"],
            "emails": [email],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    customer: dict[str, Any] = created.json()
    assert {(i["kind"], i["value"]) for i in customer["identities"]} == {
        ("phone", "+861065529988"), ("email", email.lower()),
    }  # fmt: skip
    patched = await intake.client.patch(
        f"/v1/customers/{customer['customer_id']}",
        json={"grade": "strategic", "risk_level": "high"},
        headers=admin,
    )
    assert patched.json()["grade"] == "strategic" and patched.json()["value_tier"] == "high"
    by_phone = await intake.client.get("/v1/customers/lookup", params={"phone": "010-65529988"}, headers=agent)
    assert by_phone.json()["customer_id"] == customer["customer_id"]
    by_adapter = await intake.client.get("/v1/customers/lookup", params={"email": email}, headers=intake.auth())
    assert by_adapter.status_code == 200, "a CTI or chat adapter may look a caller up"
    missing = await intake.client.get("/v1/customers/lookup", params={"phone": "13899998888"}, headers=agent)
    assert missing.status_code == 404
    assert await audit_actions(intake, f"customer:{customer['customer_id']}") == [
        "customer.create",
        "customer.update",
    ]
    refused = await intake.client.patch(
        f"/v1/customers/{customer['customer_id']}", json={"grade": "x"}, headers=admin
    )
    assert refused.status_code == 422 and "grade" in refused.json()["detail"]
    by_agent = await intake.client.patch(
        f"/v1/customers/{customer['customer_id']}", json={"grade": "key"}, headers=agent
    )
    assert by_agent.status_code == 403


async def test_an_identity_of_one_customer_cannot_be_given_to_another(intake: Intake) -> None:
    admin = intake.token("admin")
    await intake.client.post("/v1/customers", json={"phones": ["13800001111"]}, headers=admin)
    second = await intake.client.post("/v1/customers", json={"phones": ["138 0000 1111"]}, headers=admin)
    assert second.status_code == 409


async def test_import_upserts_rows_and_reports_each_bad_row(intake: Intake) -> None:
    admin = intake.token("admin")
    existing = (await intake.client.post("/v1/customers", json={"phones": ["13600001111"]}, headers=admin)).json()
    rows = ["external_ref,name,grade,phones,emails"]
    rows += [f"C-{n},Customer {n},basic,,c{n}@example.com" for n in range(2000)]
    rows += ["C-X,Upgraded,strategic,13600001111,", "C-BAD,Bad,platinum,,", "C-BAD2,Bad phone,basic,123,"]
    response = await intake.client.post(
        "/v1/customers/import", content="\n".join(rows).encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["updated"], report["rejected"]) == (2000, 1, 2)
    assert [e["line"] for e in report["errors"]] == [2003, 2004]
    upgraded = (await intake.client.get(f"/v1/customers/{existing['customer_id']}", headers=admin)).json()
    assert upgraded["grade"] == "strategic" and upgraded["external_ref"] == "C-X"
    again = await intake.client.post(
        "/v1/customers/import",
        content=b'{"external_ref": "C-7", "grade": "key"}\n',
        headers={**admin, "Content-Type": "application/x-ndjson"},
    )
    assert again.json()["updated"] == 1, "importing the same reference again updates it"


async def test_merge_is_an_audited_admin_action_that_can_be_undone(intake: Intake) -> None:
    admin = intake.token("admin", "ad-9")
    a = (await intake.client.post("/v1/customers", json={"phones": ["13500001111"]}, headers=admin)).json()
    b = (await intake.client.post("/v1/customers", json={"emails": ["b@example.com"]}, headers=admin)).json()
    merge = {"merged_customer_id": b["customer_id"], "reason": "same person, confirmed by phone"}
    assert (
        await intake.client.post(f"/v1/customers/{a['customer_id']}/merge", json=merge, headers=admin)
    ).status_code == 200
    by_email = await intake.client.get("/v1/customers/lookup", params={"email": "b@example.com"}, headers=admin)
    assert by_email.json()["customer_id"] == a["customer_id"]
    undo = await intake.client.post(f"/v1/customers/{a['customer_id']}/unmerge", json=merge, headers=admin)
    assert undo.status_code == 200
    by_email = await intake.client.get("/v1/customers/lookup", params={"email": "b@example.com"}, headers=admin)
    assert by_email.json()["customer_id"] == b["customer_id"]
    assert await audit_actions(intake, f"customer:{a['customer_id']}") == [
        "customer.create", "customer.merge", "customer.unmerge",
    ]  # fmt: skip
    events = await intake.published(a["customer_id"])
    assert [e["type"] for e in events] == ["switchboard.customer.merged.v1", "switchboard.customer.unmerged.v1"]


async def test_rules_are_replaced_by_an_admin_and_take_effect_at_once(intake: Intake) -> None:
    admin = intake.token("admin", "ad-2")
    current = (await intake.client.get("/v1/classification/rules", headers=admin)).json()
    assert current["version"] == 3  # the shipped sets 2 (Traditional keywords) and 3 (sub-types), by migration
    document = {k: v for k, v in current.items() if k != "version"}
    document["rules"].insert(
        0,
        {"id": "vip_word", "description": "VIP keyword", "when": {"any_keywords": ["黑卡"]},
         "then": {"category": "complaint", "priority_class": "complex", "skills": ["vip"]}},
    )  # fmt: skip
    stored = await intake.client.put("/v1/classification/rules", json=document, headers=admin)
    assert stored.status_code == 200 and stored.json()["version"] == 4
    accepted = await intake.client.post(
        "/v1/channels/chat", json={"session_id": unique(), "message_id": "1", "text": "我的黑卡怎么用不了"},
        headers=intake.auth(),
    )  # fmt: skip
    event = (await intake.published(accepted.json()["contact_id"]))[0]["data"]
    assert (event["category"], event["priority_class"]) == ("complaint", "complex")
    assert "vip" in event["required_skills"]
    assert await audit_actions(intake, "classification:rules") == [
        "classification.rules.shipped",
        "classification.rules.shipped",
        "classification.rules.replace",
    ]


async def test_an_invalid_rule_set_is_refused_and_nothing_changes(intake: Intake) -> None:
    admin = intake.token("admin")
    response = await intake.client.put(
        "/v1/classification/rules", json={"rules": [{"id": "x", "when": {}, "then": {}}]}, headers=admin
    )
    assert response.status_code == 422 and response.json()["title"] == "Invalid rules"
    assert (await intake.client.get("/v1/classification/rules", headers=admin)).json()["version"] == 3
    supervisor = await intake.client.put("/v1/classification/rules", json={}, headers=intake.token("supervisor"))
    assert supervisor.status_code == 403


async def test_explain_is_a_dry_run_naming_the_rules_that_fired(intake: Intake) -> None:
    response = await intake.client.post(
        "/v1/classification/explain",
        json={"text": "I want a refund, this is unacceptable", "channel": "email"},
        headers=intake.token("supervisor"),
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["category"] == "complaint"
    assert [f["rule_id"] for f in answer["fired"]] == ["complaint"]
    assert "refund" in " ".join(answer["fired"][0]["reasons"])
    async with intake.app.state.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM contact") == 0


async def test_reads_of_important_personal_data_are_audited(intake: Intake) -> None:
    admin = intake.token("admin")
    email = f"{unique()}@example.com"
    customer = (
        await intake.client.post(
            "/v1/customers", json={"emails": [email], "pii_level": "important"}, headers=admin
        )
    ).json()
    accepted = await intake.client.post(
        "/v1/channels/email",
        json={"from": {"address": email}, "subject": "hello", "text": "my id card number is ..."},
        headers=intake.auth(),
    )
    contact_id = accepted.json()["contact_id"]
    from tests.integration.intake.test_conversation import assign

    assert (
        await intake.client.get(f"/v1/contacts/{contact_id}", headers=intake.token("agent", "A-1"))
    ).status_code == 403
    await assign(intake, contact_id, "A-1")
    await intake.client.get(f"/v1/contacts/{contact_id}", headers=intake.token("agent", "A-1"))
    await intake.client.get(f"/v1/customers/{customer['customer_id']}", headers=intake.token("supervisor", "S-1"))
    assert await audit_actions(intake, f"contact:{contact_id}") == ["contact.read"]
    assert (await audit_actions(intake, f"customer:{customer['customer_id']}"))[-1] == "customer.read"


async def test_customers_are_listed_page_by_page_by_grade(intake: Intake) -> None:
    admin = intake.token("admin")
    for n in range(5):
        grade = "key" if n % 2 else "basic"
        await intake.client.post(
            "/v1/customers", json={"grade": grade, "phones": [f"1390000{n:04d}"]}, headers=admin
        )
    first = (await intake.client.get("/v1/customers", params={"limit": 2}, headers=admin)).json()
    second = (
        await intake.client.get("/v1/customers", params={"limit": 2, "after": first["next_after"]}, headers=admin)
    ).json()
    keys = (await intake.client.get("/v1/customers", params={"grade": "key"}, headers=admin)).json()
    assert len(first["customers"]) == 2 and len(second["customers"]) == 2
    assert {c["customer_id"] for c in first["customers"]}.isdisjoint(c["customer_id"] for c in second["customers"])
    assert [c["grade"] for c in keys["customers"]] == ["key", "key"] and keys["next_after"] is None
    refused = await intake.client.get("/v1/customers", params={"grade": "gold"}, headers=admin)
    assert refused.status_code == 422


async def test_an_emergency_written_in_traditional_chinese_is_urgent(intake: Intake) -> None:
    # The migrated rule set and the OpenCC fold together: these were enquiry/routine with the old table.
    for text, reason in [("我的帳號被盜了，有人異地登入", "security"), ("家裡瓦斯外洩了", "safety")]:
        accepted = await intake.client.post(
            "/v1/channels/chat",
            json={"session_id": unique(), "message_id": "1", "text": text},
            headers=intake.auth(),
        )
        event = (await intake.published(accepted.json()["contact_id"]))[0]["data"]
        assert (event["priority_class"], event["emergency"]) == ("urgent", True), text
        assert reason in event["emergency_reasons"]


async def test_sub_types_are_classified_corrected_by_the_owner_and_searched(intake: Intake) -> None:
    from tests.integration.intake.test_conversation import assign

    accepted = await intake.client.post(
        "/v1/channels/chat",
        json={"session_id": unique(), "message_id": "1", "text": "这个月被重复扣费了，账单不对"},
        headers=intake.auth(),
    )
    contact_id = accepted.json()["contact_id"]
    event = (await intake.published(contact_id))[0]["data"]
    assert (event["category"], event["subcategory"]) == ("data_anomaly", "billing_error")
    assert "billing" in event["required_skills"]
    await assign(intake, contact_id, "A-21")
    agent = intake.token("agent", "A-21")
    wrong = await intake.client.post(
        f"/v1/contacts/{contact_id}/classification",
        json={"category": "complaint", "priority_class": "routine", "subcategory": "fraud", "reason": "x"},
        headers=agent,
    )
    assert wrong.status_code == 422 and "subcategory" in wrong.json()["detail"]
    fixed = await intake.client.post(
        f"/v1/contacts/{contact_id}/classification",
        json={"category": "complaint", "priority_class": "routine", "subcategory": "billing/overcharge",
              "reason": "the customer complains about the overcharge"},
        headers=agent,
    )  # fmt: skip
    assert fixed.status_code == 200, fixed.text
    reclassified = (await intake.published(contact_id))[-1]["data"]
    assert reclassified["subcategory"] == "billing/overcharge"
    indexer = intake.state.indexer
    while await indexer.step():
        pass
    sup = intake.token("supervisor")
    found = await intake.client.get("/v1/contacts", params={"subcategory": "billing"}, headers=sup)
    assert contact_id in [c["contact_id"] for c in found.json()["contacts"]]
    assert all(c["subcategory"].startswith("billing") for c in found.json()["contacts"])
