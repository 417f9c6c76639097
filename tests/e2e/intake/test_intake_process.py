"""The intake service as its own process (`python -m services.intake serve`) on the session's broker and
database, with a key minted by the CLI, driven over real HTTP like a mail gateway and a CTI bridge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from deploy.config import StackSettings, free_port
from deploy.stack import Stack
from shared.events import INTAKE_CONTACTS
from tests.support import ROOT, TestStack, read_topic, wait_until

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Running:
    base_url: str
    key: str
    settings: StackSettings


def _env(settings: StackSettings) -> dict[str, str]:
    return {
        **os.environ,
        **{f"SWITCHBOARD_{k.upper()}": str(v) for k, v in settings.model_dump().items() if v is not None},
    }


@pytest.fixture(scope="module")
def intake_process(test_stack: TestStack) -> Iterator[Running]:
    if test_stack.stack is None:
        pytest.skip("needs the test stack this session started (not an external one)")
    settings = test_stack.stack.settings.model_copy(update={"intake_port": free_port()})
    minted = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "keys", "create", "--name", "e2e-gw", "--channels", "email,phone"],
        env=_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    key = minted.stdout.strip().splitlines()[-1]
    env = {**_env(settings), **Stack(settings).service_env("intake"), "SWITCHBOARD_LOG_JSON": "false"}
    process = subprocess.Popen([sys.executable, "-m", "services.intake", "serve"], env=env, cwd=ROOT)
    base_url = f"http://127.0.0.1:{settings.intake_port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise TimeoutError("intake did not become ready")
        yield Running(base_url, key, settings)
    finally:
        process.terminate()
        process.wait(timeout=30)


async def events_about(bootstrap: str, contact_id: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []

    async def arrived() -> bool:
        records = await read_topic(bootstrap, INTAKE_CONTACTS.name)
        found[:] = [json.loads(v) for _, v in records if json.loads(v)["subject"] == contact_id]
        return bool(found)

    await wait_until(arrived, timeout_s=30, interval_s=0.3)
    return found


async def test_a_mail_gateway_and_a_cti_bridge_reach_kafka_through_the_running_service(
    intake_process: Running,
) -> None:
    auth = {"Authorization": f"Bearer {intake_process.key}"}
    raw = (
        b"From: =?gb2312?B?1cXI/Q==?= <zhangsan@example.cn>\r\n"
        b"Subject: =?utf-8?B?6LSm5Y2V?= =?utf-8?B?5LiN5a+5?=\r\n"
        b"Message-ID: <e2e-1@example.cn>\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n"
    ) + "这个月的账单不对，被重复扣费了。".encode("gbk")
    async with httpx.AsyncClient(base_url=intake_process.base_url, timeout=30) as client:
        email = await client.post(
            "/v1/channels/email", content=raw, headers={**auth, "Content-Type": "message/rfc822"}
        )
        call = await client.post(
            "/v1/channels/phone",
            json={"call_id": "e2e-call-1", "ani": "13800138000", "event": "ended"},
            headers=auth,
        )
        chat = await client.post("/v1/channels/chat", json={}, headers=auth)
    assert email.status_code == 202, email.text
    assert call.status_code == 202, call.text
    assert chat.status_code == 403, "the key is scoped to email and phone"
    received = (await events_about(intake_process.settings.kafka_bootstrap, email.json()["contact_id"]))[0]
    data = received["data"]
    assert isinstance(data, dict)
    assert data["subject"] == "账单不对"
    assert data["text"] == "这个月的账单不对，被重复扣费了。"
    assert (data["category"], data["priority_class"]) == ("data_anomaly", "complex")
    assert data["customer"]["grade"] == "basic"
    phone_event = (await events_about(intake_process.settings.kafka_bootstrap, call.json()["contact_id"]))[0]
    assert phone_event["type"] == "switchboard.contact.received.v1"
