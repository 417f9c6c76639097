"""End to end on the stack `switchboard up` starts: a resolved contact's invitation is answered in a real
headless browser on a phone-sized screen; the figures count it and the low score raises a follow-up."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from deploy.config import StackSettings
from deploy.stack import Stack
from shared.auth import issue_token
from shared.events import Event, encode
from tests.e2e.test_stack_lifecycle import cli
from tests.support import ROOT, free_port_stack_settings, read_topic, wait_until
from tests.unit.feedback.builders import make_contact_received, make_work_resolved

pytestmark = pytest.mark.e2e

# The screenshots in docs/ are refreshed on request (UPDATE_SCREENSHOTS=1); a plain run keeps them in the state
# directory so it never dirties the checkout.
SCREENSHOTS = ROOT / ("docs/screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else ".switchboard/screenshots")


@pytest.fixture(scope="module")
def feedback_stack() -> Iterator[StackSettings]:
    state = ROOT / ".switchboard" / "test-feedback-e2e"
    if state.exists():
        Stack(StackSettings(state_dir=state)).down()
        subprocess.run(["rm", "-rf", str(state)], check=True)
    settings = free_port_stack_settings(state)
    up = cli(settings, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    yield settings
    Stack(settings).down()


def bearer(settings: StackSettings, role: str) -> dict[str, str]:
    secret = Stack(settings).token_secret()
    token = issue_token(secret, role=role, subject=f"{role}-e2e", ttl=timedelta(minutes=30), now=datetime.now(UTC))  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


async def publish(settings: StackSettings, *events: tuple[Event, str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event, source in events:
            message = encode(
                event, source=source, subject=str(getattr(event, "contact_id", "")), time=datetime.now(UTC)
            )
            await producer.send_and_wait(
                message.topic, message.value, key=message.key, headers=list(message.headers)
            )
    finally:
        await producer.stop()


async def first_event(settings: StackSettings, topic: str, contact_id: uuid.UUID, type_: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def arrived() -> bool:
        envelopes = [json.loads(v) for _, v in await read_topic(settings.kafka_bootstrap, topic)]
        found[:] = [e for e in envelopes if e["subject"] == str(contact_id) and e["type"] == type_]
        return bool(found)

    await wait_until(arrived, timeout_s=180, interval_s=0.5)
    return found[0]


async def consumer_group_stable(settings: StackSettings, group: str) -> None:
    """Until the service's consumer owns its partitions: on a fresh broker the first group waits for
    __consumer_offsets to be created, which is slow on a busy machine."""

    async def stable() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            [response] = await admin.describe_consumer_groups([group])
            # Raw DescribeGroups response: (error_code, group_id, state, protocol_type, protocol, members, …)
            _, _, state, _, _, members, *_ = response.groups[0]
            return bool(state == "Stable" and members)
        except KafkaError:
            return False
        finally:
            await admin.close()

    await wait_until(stable, timeout_s=240, interval_s=1.0)


def full_page_png(browser: webdriver.Chrome) -> bytes:
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    return base64.b64decode(shot["data"])


@pytest.mark.timeout(900)
async def test_a_customer_answers_on_a_phone_and_the_low_score_closes_the_loop(
    feedback_stack: StackSettings, phone_browser: webdriver.Chrome
) -> None:
    settings = feedback_stack
    api = f"http://127.0.0.1:{settings.service_port('feedback')}"
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        # An admin makes phone surveys go out at once, at any hour, so the test need not wait 10 minutes.
        phone = (await client.get("/v1/surveys/policies/phone", headers=bearer(settings, "admin"))).json()
        change = {k: v for k, v in phone.items() if k not in ("channel", "updated_at", "updated_by")}
        change.update(delay_minutes=0, quiet_hours=None)
        saved = await client.put("/v1/surveys/policies/phone", json=change, headers=bearer(settings, "admin"))
        assert saved.status_code == 200, saved.text

    await consumer_group_stable(settings, "feedback")
    contact = make_contact_received(
        contact_id=uuid.UUID("5b0c2e7a-3f6d-4c1e-9a8b-2d4f6e8a0c13"),  # the same reference in every screenshot
        channel="phone",
        language="zh-CN",
        received_at=datetime.now(UTC),
    )
    resolved = make_work_resolved(contact, resolved_at=datetime.now(UTC), agent_id="agent-e2e", team="e2e")
    await publish(settings, (contact, "switchboard/intake"), (resolved, "switchboard/routing"))
    try:
        invitation = await first_event(
            settings, "outbound.messages", contact.contact_id, "switchboard.outbound.message.requested.v1"
        )
    except TimeoutError as exc:
        async with httpx.AsyncClient(base_url=api, timeout=10) as client:
            history = await client.get(
                "/v1/surveys/invitations",
                params={"contact_id": str(contact.contact_id)},
                headers=bearer(settings, "ops"),
            )
        log = (settings.state / "logs" / "feedback.log").read_text(encoding="utf-8")[-3000:]
        raise AssertionError(f"no invitation went out; history {history.text}; log tail {log}") from exc
    link = invitation["data"]["variables"]["link"]
    assert link.startswith(api + "/s/")

    phone_browser.get(link)
    assert phone_browser.find_element(By.TAG_NAME, "h1").text == "请评价本次服务"
    assert phone_browser.execute_script("return window.innerWidth") == 390
    phone_browser.find_element(By.XPATH, "//label[span='不满意']").click()
    phone_browser.find_element(By.XPATH, "//label[span='未解决']").click()
    phone_browser.find_element(By.XPATH, "//fieldset[@id='q-nps']//label[span='3']").click()
    phone_browser.find_element(By.NAME, "comment").send_keys("宽带还是断线，请尽快回电")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "feedback-survey-phone.png").write_bytes(full_page_png(phone_browser))
    form = phone_browser.find_element(By.TAG_NAME, "form")
    phone_browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # While the page navigates, chromedriver may answer "node does not belong to the document" instead of
    # reporting the form stale: keep polling through it.
    WebDriverWait(phone_browser, 15, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.staleness_of(form)
    )
    assert phone_browser.find_element(By.TAG_NAME, "h1").text == "感谢您的评价！"
    assert "24 小时内" in phone_browser.find_element(By.TAG_NAME, "p").text
    (SCREENSHOTS / "feedback-thanks-phone.png").write_bytes(full_page_png(phone_browser))

    followup = await first_event(
        settings, "feedback.events", contact.contact_id, "switchboard.feedback.followup_required.v1"
    )
    assert followup["data"]["reasons"] == ["not_solved", "csat", "nps"]
    assert followup["data"]["agent_id"] == "agent-e2e"
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        report = await client.get(
            "/v1/feedback/figures",
            params={"by": "agent", "agent": "agent-e2e"},
            headers=bearer(settings, "supervisor"),
        )
    [agent] = report.json()["groups"]
    assert (agent["key"], agent["sent"], agent["answered"], agent["satisfied_pct"]) == ("agent-e2e", 1, 1, 0.0)
    assert report.json()["low_scores"][0]["comment"] == "宽带还是断线，请尽快回电"
