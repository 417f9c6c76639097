"""The workspace and the wallboard in real Chromium, on the stack `switchboard up` starts, through the web gateway:
an adapter posts a chat; the offer is on the agent's screen within a second; the agent accepts it with the
keyboard, sees the knowledge suggestion pushed with it, puts the article in a reply, sends it and resolves with
the three clears; the reply is on `outbound.messages`. A supervisor's wallboard in a second browser shows the
queue rise and fall and the agent's state change; a short-target SLA policy makes a warning that shows amber on
both. Screenshots of both pages, in English and Chinese, are taken on the way."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from deploy.stack import Stack
from shared.events import OUTBOUND_MESSAGES
from tests.e2e.web.conftest import Browser, choose, console, fits, language, painted, sign_in, wait
from tests.support import ROOT, read_topic, wait_until

pytestmark = pytest.mark.e2e

# Refreshed on request (UPDATE_SCREENSHOTS=1), as the survey test does; a plain run keeps them out of the checkout.
SCREENSHOTS = ROOT / ("docs/screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else ".switchboard/screenshots")
ARTICLES = [
    {
        "title": "光猫 LOS 红灯闪烁、路由器上不了网的处理",
        "summary": "先重启路由器；光猫 LOS 灯红色闪烁时报障派单",
        "body": "请客户先拔掉路由器电源，等待十秒后重新接通。若光猫的 LOS 指示灯仍红色闪烁，说明光信号中断，"
        "请为客户报障派单，装维人员两小时内联系。",
        "category": "system_fault",
        "tags": ["宽带", "光猫", "路由器"],
        "language": "zh-Hans",
        "visibility": "internal",
        "status": "published",
    },
    {
        "title": "Optical modem LOS light blinking red",
        "summary": "Restart the router; a blinking red LOS light needs a repair ticket",
        "body": "Ask the customer to unplug the router for ten seconds. If the LOS light on the optical modem "
        "still blinks red, the fibre signal is lost: open a repair ticket; an engineer calls within two hours.",
        "category": "system_fault",
        "tags": ["broadband"],
        "language": "en",
        "visibility": "internal",
        "status": "published",
    },
]


def shot(browser: Any, name: str, *, whole_page: bool = False) -> None:
    """The screen as the person sees it, or (the wallboard) the whole page down to its last panel."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if whole_page:
        width, height = browser.execute_script("return [window.innerWidth, document.documentElement.scrollHeight]")
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        png = browser.get_screenshot_as_png()
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    else:
        png = browser.get_screenshot_as_png()
    (SCREENSHOTS / name).write_bytes(png)


async def outbound_reply(stack: Stack, reply_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def arrived() -> bool:
        for _, value in await read_topic(stack.settings.kafka_bootstrap, OUTBOUND_MESSAGES.name):
            data = json.loads(value)["data"]
            if data["message_id"] == reply_id:
                found.update(data)
                return True
        return False

    await wait_until(arrived, timeout_s=60, interval_s=0.5)
    return found


@pytest.mark.timeout(600)
async def test_an_agent_answers_a_chat_in_the_browser_while_the_supervisor_watches_the_wallboard(
    whole_stack: Stack, browsers: Browser
) -> None:
    stack = whole_stack
    base = {name: f"http://127.0.0.1:{stack.settings.service_port(name)}" for name in stack.services}
    web = stack.settings.web_url
    admin = {"Authorization": f"Bearer {stack.token('admin', 'e2e-web-admin')}"}
    adapter = {"Authorization": f"Bearer {(await stack.create_api_key('e2e-web-chat', ['chat'])).key}"}
    pool = f"web-{uuid.uuid4().hex[:6]}"  # this test's own pool: other tests' desks never take its work
    visitor, session = f"v-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:10]}"
    await stack.add_user(
        user_id="e2e-agent", display_name="Wang Fang", role="agent", subject="A-WEB", password="agent-pass-e2e"
    )
    await stack.add_user(
        user_id="e2e-lead", display_name="Li Na", role="supervisor", subject="S-WEB", password="lead-pass-e2e"
    )
    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.put(
            f"{base['routing']}/v1/agents/A-WEB",
            json={"display_name": "Wang Fang", "tier": "senior", "team": "care", "pool": pool,
                  "languages": ["zh-Hans", "en"], "skills": {"general": 4, "complaints": 4, "technical": 4}},
            headers=admin,
        )  # fmt: skip
        assert created.status_code in (200, 201), created.text
        customer = await http.post(
            f"{base['intake']}/v1/customers",
            json={"name": "陈先生", "grade": "strategic", "attributes": {"routing_pool": pool},
                  "chat_ids": [f"web:{visitor}"], "phones": ["+86 139 0013 8000"]},
            headers=admin,
        )  # fmt: skip
        assert customer.status_code == 201, customer.text
        lines = "\n".join(json.dumps(a, ensure_ascii=False) for a in ARTICLES).encode()
        imported = await http.post(
            f"{base['knowledge']}/v1/articles/import",
            content=lines,
            headers={**admin, "Content-Type": "application/x-ndjson"},
        )
        assert imported.status_code == 200, imported.text
        # A short formal-response target for strategic routine chats: the warning comes 10 s after the chat.
        policy = await http.post(
            f"{base['sla']}/v1/sla/policies",
            json={"name": "e2e web: strategic routine chat", "grade": "strategic", "priority_class": "routine",
                  "channel": "chat", "calendar_id": "24x7", "warning_fraction": 0.25, "ladder": [],
                  "clocks": [{"clock": "formal_response", "target": {"amount": 40, "unit": "seconds"},
                              "stops_on": ["solution", "resolved"]}]},
            headers=admin,
        )  # fmt: skip
        assert policy.status_code == 201, policy.text
        try:
            await _the_journey(stack, http, browsers, web, base, admin, adapter, pool, visitor, session)
        finally:
            await http.delete(f"{base['sla']}/v1/sla/policies/{policy.json()['policy_id']}", headers=admin)
            offline = {"presence": "offline"}
            await http.put(f"{base['routing']}/v1/agents/A-WEB/presence", json=offline, headers=admin)


async def _the_journey(
    stack: Stack,
    http: httpx.AsyncClient,
    browsers: Browser,
    web: str,
    base: dict[str, str],
    admin: dict[str, str],
    adapter: dict[str, str],
    pool: str,
    visitor: str,
    session: str,
) -> None:
    agent, lead = browsers(), browsers()
    sign_in(agent, web, "/workspace", "e2e-agent", "agent-pass-e2e")
    sign_in(lead, web, "/wallboard", "e2e-lead", "lead-pass-e2e")
    wait(agent, "return window.__switchboard && window.__switchboard.connected", 20, what="the desk connected")
    agent_row = "document.querySelector('#agents-table tr[data-agent-id=\"A-WEB\"]')"
    wait(lead, f"return {agent_row}?.dataset.presence === 'offline'", 20, what="the agent offline")

    # A freshly started stack does some things once (intake loads its word lists on its first message, connections
    # open): a first chat in a pool nobody serves, whose visitor then leaves, takes that time out of the measure.
    warm = await http.post(
        f"{base['intake']}/v1/channels/chat",
        json={"session_id": f"warm-{session}", "message_id": "1", "text": "你好，宽带的问题", "platform": "web",
              "visitor": {"id": f"warm-{visitor}"}},
        headers=adapter,
    )  # fmt: skip
    assert warm.status_code == 202, warm.text
    left = await http.post(
        f"{base['intake']}/v1/contacts/{warm.json()['contact_id']}/abandoned",
        json={"reason": "visitor_left"},
        headers=adapter,
    )
    assert left.status_code == 202, left.text

    choose(agent, "presence", "available")
    wait(lead, f"return {agent_row}?.dataset.presence === 'available'", 20, what="the agent available")

    posted_at = time.time() * 1000
    chat = await http.post(
        f"{base['intake']}/v1/channels/chat",
        json={"session_id": session, "message_id": "1", "text": "在吗？光猫的 LOS 灯一直闪红灯，路由器上不了网",
              "platform": "web", "visitor": {"id": visitor, "name": "陈先生"}},
        headers=adapter,
    )  # fmt: skip
    assert chat.status_code == 202, chat.text
    contact_id = chat.json()["contact_id"]
    seen = wait(
        agent,
        f"return window.__switchboard.offers.find(o => o.contact_id === '{contact_id}')",
        20,
        what="the offer on the agent's screen",
    )
    assert seen["shown_at"] - posted_at <= 1000, f"the offer took {seen['shown_at'] - posted_at:.0f} ms to show"
    assert seen["latency_ms"] < 1000, seen
    queue_row = f"document.querySelector('#queue-table tr[data-pool=\"{pool}\"]')"
    waiting = f"{queue_row}?.querySelector('.waiting').textContent.trim()"
    wait(lead, f"return {waiting} === '1'", 20, what="the queue rise")

    agent.execute_script("document.activeElement && document.activeElement.blur()")
    agent.find_element(By.TAG_NAME, "body").send_keys("a")  # the keyboard shortcut accepts the first offer
    selected = "document.querySelector('#work-list .work-item[aria-current=\"true\"]')"
    wait(agent, f"return {selected}", 15, what="the accepted contact open")
    wait(lead, f"return !{queue_row}", 20, what="the queue fall")
    wait(lead, f"return {agent_row}?.textContent.includes('1/3')", 20, what="the agent's chat load")
    wait(
        agent,
        "return [...document.querySelectorAll('#suggestions .article .title')]"
        ".some(t => t.textContent.includes('LOS'))",
        30,
        what="the knowledge suggestion pushed with the contact",
    )
    wait(agent, "return document.querySelector('#timeline .msg.customer')", 20, what="the customer's message")

    # The SLA warning (10 s after the chat): amber on the agent's clock and on the supervisor's risk list.
    amber = "document.querySelector('.clock.warn[data-clock=\"formal_response\"]')"
    wait(agent, f"return {amber}", 40, what="the clock amber")
    wait(agent, "return document.querySelector('#alert-list .alert.warn[data-tag=\"sla\"]')", 20, what="SLA alert")
    wait(
        lead,
        f"return document.querySelector('#at-risk li.risk.warn[data-contact-id=\"{contact_id}\"]')",
        20,
        what="the warning on the wallboard",
    )
    shot(agent, "web-workspace-en.png")
    shot(lead, "web-wallboard-en.png", whole_page=True)
    for browser in (agent, lead):
        language(browser, "zh-Hans")
    assert agent.find_element(By.ID, "offers-title").text == "待接工单"
    assert "服务水平" in lead.find_element(By.ID, "tile-service-level").text
    shot(agent, "web-workspace-zh-Hans.png")
    shot(lead, "web-wallboard-zh-Hans.png", whole_page=True)
    language(agent, "zh-Hant")
    shot(agent, "web-workspace-zh-Hant.png")
    for browser in (agent, lead):
        language(browser, "en")

    # The suggested article into the reply, sent with Ctrl+Enter; it reaches the customer's chat session.
    insert = "[...document.querySelectorAll('#suggestions .article')].find(a => a.textContent.includes('LOS'))"
    agent.execute_script(f"{insert}.querySelector('button.insert').click()")
    wait(agent, "return document.querySelector('#composer-text').value.includes('LOS')", 15, what="the article in")
    box = agent.find_element(By.ID, "composer-text")
    box.send_keys("\n如仍未恢复，我们已为您报障。")
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    wait(agent, "return document.querySelector('#timeline .msg.agent')", 20, what="the reply in the timeline")
    supervisor = {"Authorization": f"Bearer {stack.token('supervisor', 'e2e-web-lead')}"}
    timeline = (await http.get(f"{base['intake']}/v1/contacts/{contact_id}/timeline", headers=supervisor)).json()
    [reply] = [e["detail"] for e in timeline["entries"] if e["kind"] == "agent_reply"]
    assert "LOS" in reply["text"] and reply["text"].endswith("如仍未恢复，我们已为您报障。")
    sent = await outbound_reply(stack, reply["reply_id"])
    assert (sent["kind"], sent["channel"], sent["recipient"]) == ("reply", "chat", session)

    # Resolve with the three clears: a code, a final note, the customer told in the chat; closed at once.
    agent.find_element(By.CSS_SELECTOR, "#conv-head button[data-action='resolve']").click()
    choose(agent, "r-code", "fixed")
    agent.find_element(By.ID, "r-note").send_keys("重启后 LOS 仍红，已报障派单。")
    agent.find_element(By.CSS_SELECTOR, "input[name='told'][value='already']").click()
    agent.find_element(By.CSS_SELECTOR, "dialog .dialog-form button[type=submit]").click()
    wait(agent, "return !document.querySelector('#work-list .work-item')", 20, what="the work gone from My work")
    queue = await http.get(f"{base['routing']}/v1/supervisor/queue", params={"pool": pool}, headers=supervisor)
    work = queue.json()
    assert work["waiting"] == 0

    async def closed() -> bool:
        history = await http.get(f"{base['intake']}/v1/contacts/{contact_id}/timeline", headers=supervisor)
        return {"resolved", "closed"} <= {e["kind"] for e in history.json()["entries"]}

    await wait_until(closed, timeout_s=30, interval_s=0.5)

    choose(agent, "presence", "away")
    wait(lead, f"return {agent_row}?.dataset.presence === 'away'", 20, what="the agent away on the wallboard")

    # Fits a tablet, either way round, and a smaller laptop.
    for size in ((1024, 768), (768, 1024), (1280, 800)):
        for browser in (agent, lead):
            browser.set_window_size(*size)
            painted(browser)  # WebDriver returns once the window has its new size; then layout and paint
            assert fits(browser), f"{browser.current_url} scrolls sideways at {size}"
    errors = [e for b in (agent, lead) for e in console(b) if e["level"] == "SEVERE"]
    assert not [e for e in errors if "Content Security Policy" in e["message"]], errors
