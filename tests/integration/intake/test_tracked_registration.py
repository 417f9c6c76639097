"""Tracked registration (002 §2.2): every contact of a high-risk customer is registered as it is accepted, and
supervisors read who came in, when and who handled them (each read audited)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.repository.rules import audit_trail
from shared.events import WorkTransferredV1
from tests.integration.intake.conftest import Intake, unique
from tests.integration.intake.test_conversation import assign, publish
from tests.support import wait_until

pytestmark = pytest.mark.integration


async def customer(intake: Intake, phone: str, **fields: str) -> str:
    created = await intake.client.post(
        "/v1/customers", json={"name": "王女士", "phones": [phone], **fields}, headers=intake.token("admin")
    )
    assert created.status_code == 201, created.text
    customer_id: str = created.json()["customer_id"]
    return customer_id


async def sms(intake: Intake, phone: str, text: str) -> str:
    posted = await intake.client.post(
        "/v1/channels/sms", json={"sender": {"phone": phone}, "text": text}, headers=intake.auth()
    )
    assert posted.status_code == 202, posted.text
    contact_id: str = posted.json()["contact_id"]
    return contact_id


async def tracked(intake: Intake, role: str = "supervisor", **params: Any) -> dict[str, Any]:
    response = await intake.client.get("/v1/customers/tracked", params=params, headers=intake.token(role, "S-1"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_high_risk_customers_contacts_are_registered_with_who_handled_them(intake: Intake) -> None:
    risky = await customer(intake, "+8613900000001", risk_level="high", grade="key")
    await customer(intake, "+8613900000002", risk_level="low")
    contact_id = await sms(intake, "+8613900000001", "我的账户被盗了")
    assert await sms(intake, "+8613900000001", "请尽快处理") == contact_id, "threaded: one registration"
    await sms(intake, "+8613900000002", "查询账单")

    work_id = await assign(intake, contact_id, "A-7")
    await publish(
        intake,
        WorkTransferredV1(
            work_id=uuid.UUID(work_id), contact_id=uuid.UUID(contact_id), from_agent_id="A-7", to_agent_id="A-9",
            first_owner_id="A-7", reason="needs the fraud desk",
        ),
        contact_id,
    )  # fmt: skip

    async def transferred() -> bool:
        page = await tracked(intake)
        return bool(page["registrations"] and page["registrations"][0]["owner_id"] == "A-9")

    await wait_until(transferred, timeout_s=30)
    [entry] = (await tracked(intake))["registrations"]
    assert entry["reason"] == "risk_level:high"
    assert entry["customer"] == {
        "customer_id": risky, "name": "王女士", "grade": "key", "value_tier": None, "risk_level": "high",
        "lifecycle_stage": None,
    }  # fmt: skip
    assert (entry["contact"]["contact_id"], entry["contact"]["channel"]) == (contact_id, "sms")
    assert entry["handled_by"] == ["A-7", "A-9"]

    async with intake.app.state.pool.acquire() as conn:
        reads = await audit_trail(conn, target="customers:tracked")
    assert len(reads) >= 2 and reads[-1]["actor"] == "supervisor:S-1"  # every read, however often it polled
    assert reads[-1]["detail"]["customers"] == [risky]


async def test_a_customer_who_becomes_high_risk_has_their_open_contact_registered_at_once(intake: Intake) -> None:
    phone = "+8613900000003"
    customer_id = await customer(intake, phone)
    contact_id = await sms(intake, phone, "退款还没到")
    assert (await tracked(intake))["registrations"] == []
    changed = await intake.client.patch(
        f"/v1/customers/{customer_id}", json={"risk_level": "high"}, headers=intake.token("supervisor")
    )
    assert changed.status_code == 200, changed.text
    [entry] = (await tracked(intake, customer_id=customer_id))["registrations"]
    assert entry["contact"]["contact_id"] == contact_id and entry["handled_by"] == []


async def test_registrations_come_a_page_at_a_time_newest_first_and_only_to_supervisors_and_admins(
    intake: Intake,
) -> None:
    phones = [f"+86139{uuid.uuid4().int % 10**8:08d}" for _ in range(3)]
    for phone in phones:
        await customer(intake, phone, risk_level="high")
    contacts = [await sms(intake, phone, unique("投诉 ")) for phone in phones]
    first = await tracked(intake, "admin", limit=2)
    assert [r["contact"]["contact_id"] for r in first["registrations"]] == contacts[:0:-1]
    second = await tracked(intake, "admin", limit=2, after=first["next"])
    assert [r["contact"]["contact_id"] for r in second["registrations"]] == contacts[:1]
    assert second["next"] is None
    for role in ("agent", "ops"):
        refused = await intake.client.get("/v1/customers/tracked", headers=intake.token(role))
        assert refused.status_code == 403
    bad = await intake.client.get("/v1/customers/tracked", params={"after": "nope"}, headers=intake.token("admin"))
    assert bad.status_code == 422 and "after" in bad.json()["detail"]
    assert datetime.fromisoformat(first["registrations"][0]["registered_at"]) <= datetime.now(UTC)
