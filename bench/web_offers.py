"""The workspace in a real browser: its first-load weight, and how long an offer takes to be on the screen after
routing commits it.

Needs a running stack (`switchboard up`, same SWITCHBOARD_* settings) and Debian's Chromium and ChromeDriver.
It makes a pool, an agent and a sign-in of its own, opens the workspace in headless Chromium with an empty
cache and reads what the page loaded from the browser's resource timing (bytes over the wire, so compressed,
headers included; the cache is emptied after signing in, so the sign-in page's files count again). Then,
`--offers` times, an adapter posts a chat for a customer of the pool; the page notes
when the offer reached the screen (`requestAnimationFrame` after drawing it, as `performance.timeOrigin +
performance.now()`) against the offer's own time (routing's transaction time, taken before it commits, so the
measure is if anything long); then the customer leaves, which withdraws the offer, and the next chat comes.
Browser and stack share the machine's clock.

    .venv/bin/python -m bench.web_offers --offers 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import shutil
import statistics
import time
import uuid
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from deploy.config import StackSettings
from deploy.stack import Stack

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1440,900",
)
LOADED = """
const entries = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')];
return entries.map(e => ({name: e.name, type: e.initiatorType || 'navigation', transfer: e.transferSize,
                          encoded: e.encodedBodySize, decoded: e.decodedBodySize}));
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def browser() -> webdriver.Chrome:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise SystemExit("needs Debian's Chromium: apt-get install chromium chromium-driver")
    options = Options()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def until(chrome: webdriver.Chrome, script: str, timeout_s: float) -> Any:
    return WebDriverWait(chrome, timeout_s, poll_frequency=0.02).until(lambda b: b.execute_script(script))


async def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    stack = Stack(StackSettings())
    settings = stack.settings
    base = {name: f"http://127.0.0.1:{settings.service_port(name)}" for name in stack.services}
    admin = {"Authorization": f"Bearer {stack.token('admin', 'bench-web')}"}
    key = (await stack.create_api_key(f"bench-web-{uuid.uuid4().hex[:6]}", ["chat"])).key
    adapter = {"Authorization": f"Bearer {key}"}
    run_id = uuid.uuid4().hex[:6]
    pool, agent_id, user = f"bench-web-{run_id}", f"BW-{run_id}", f"bench-{run_id}"
    password = secrets.token_urlsafe(12)
    await stack.add_user(
        user_id=user, display_name="Bench agent", role="agent", subject=agent_id, password=password
    )
    chrome = browser()
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            agent = {"display_name": "Bench agent", "tier": "senior", "team": "bench", "pool": pool,
                     "languages": ["zh-Hans", "en"], "skills": {"general": 4}}  # fmt: skip
            made = await http.put(f"{base['routing']}/v1/agents/{agent_id}", json=agent, headers=admin)
            made.raise_for_status()
            visitors = [f"bw-{run_id}-{i}" for i in range(args.offers)]
            for visitor in visitors:
                customer = {"attributes": {"routing_pool": pool}, "chat_ids": [f"web:{visitor}"]}
                known = await http.post(f"{base['intake']}/v1/customers", json=customer, headers=admin)
                known.raise_for_status()

            chrome.get(f"{settings.web_url}/workspace")
            chrome.find_element(By.ID, "username").send_keys(user)
            chrome.find_element(By.ID, "password").send_keys(password)
            chrome.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
            until(chrome, "return window.__switchboard && window.__switchboard.connected", 20)
            # The sign-in page shares files with the workspace: empty the cache, then load the workspace afresh.
            chrome.execute_cdp_cmd("Network.clearBrowserCache", {})
            chrome.get(f"{settings.web_url}/workspace")
            until(chrome, "return window.__switchboard && window.__switchboard.connected", 20)
            await asyncio.sleep(1.0)  # everything the first load asks for has arrived
            loaded = chrome.execute_script(LOADED)
            timing = chrome.execute_script(
                "const n = performance.getEntriesByType('navigation')[0];"
                "return {dom: n.domContentLoadedEventEnd, load: n.loadEventEnd};"
            )
            Select(chrome.find_element(By.ID, "presence")).select_by_value("available")
            until(chrome, "return document.querySelector('#presence').value === 'available'", 10)
            await asyncio.sleep(0.5)

            posted: dict[str, float] = {}
            for i, visitor in enumerate(visitors):
                body = {"session_id": f"bws-{run_id}-{i}", "message_id": "1", "text": "路由器一直闪红灯，上不了网",
                        "platform": "web", "visitor": {"id": visitor}}  # fmt: skip
                posted_at = time.time() * 1000
                answer = await http.post(f"{base['intake']}/v1/channels/chat", json=body, headers=adapter)
                answer.raise_for_status()
                contact_id = answer.json()["contact_id"]
                posted[contact_id] = posted_at
                until(chrome, f"return window.__switchboard.offers.some(o => o.contact_id === '{contact_id}')", 30)
                left = {"reason": "visitor_left"}
                await http.post(f"{base['intake']}/v1/contacts/{contact_id}/abandoned", json=left, headers=adapter)
                until(chrome, "return !document.querySelector('.offer')", 30)
                await asyncio.sleep(args.pause_s)
            offers = chrome.execute_script("return window.__switchboard.offers")
            offline = {"presence": "offline"}
            await http.put(f"{base['routing']}/v1/agents/{agent_id}/presence", json=offline, headers=admin)
    finally:
        chrome.quit()

    static = [e for e in loaded if "/static/" in e["name"] or e["type"] == "navigation"]
    latencies = [o["latency_ms"] for o in offers if o["latency_ms"] is not None]
    end_to_end = [o["shown_at"] - posted[o["contact_id"]] for o in offers if o["contact_id"] in posted]
    drawing = [o["socket_to_screen_ms"] for o in offers]
    return {
        "machine": f"{psutil.cpu_count()} cores {platform.machine()}, {psutil.virtual_memory().total >> 30} GiB",
        "first_load": {
            "requests": len(loaded),
            "transferred_bytes": sum(e["transfer"] for e in loaded),
            "static_transferred_bytes": sum(e["transfer"] for e in static),
            "static_decoded_bytes": sum(e["decoded"] for e in static),
            "dom_content_loaded_ms": round(timing["dom"]),
            "load_ms": round(timing["load"]),
            "files": sorted(
                (
                    {"name": e["name"].split("/", 3)[-1], "transfer": e["transfer"], "decoded": e["decoded"]}
                    for e in loaded
                ),
                key=lambda e: -int(e["transfer"]),
            ),
        },
        "offers": len(latencies),
        "commit_to_screen_ms": {
            "p50": pct(latencies, 0.5),
            "p95": pct(latencies, 0.95),
            "max": max(latencies, default=float("nan")),
            "mean": statistics.fmean(latencies) if latencies else float("nan"),
        },
        "post_to_screen_ms": {"p50": pct(end_to_end, 0.5), "p95": pct(end_to_end, 0.95)},
        "socket_to_screen_ms": {"p50": pct(drawing, 0.5), "p95": pct(drawing, 0.95)},
    }


def show(result: dict[str, Any], console: Console) -> None:
    load = result["first_load"]
    table = Table(title=f"Workspace first load ({result['machine']})")
    for column in ("measure", "value"):
        table.add_column(column)
    table.add_row("requests", str(load["requests"]))
    table.add_row(
        "transferred, everything (KB, compressed, with headers)", f"{load['transferred_bytes'] / 1024:.1f}"
    )
    table.add_row("transferred, page and static files (KB)", f"{load['static_transferred_bytes'] / 1024:.1f}")
    table.add_row("page and static files unpacked (KB)", f"{load['static_decoded_bytes'] / 1024:.1f}")
    table.add_row("DOMContentLoaded / load (ms)", f"{load['dom_content_loaded_ms']} / {load['load_ms']}")
    console.print(table)
    table = Table(title=f"Offer on screen, {result['offers']} offers")
    for column in ("measure", "p50 ms", "p95 ms"):
        table.add_column(column)
    for key, name in (
        ("commit_to_screen_ms", "routing's offer → on screen"),
        ("post_to_screen_ms", "adapter's POST → on screen"),
        ("socket_to_screen_ms", "message in the page → on screen"),
    ):
        table.add_row(name, f"{result[key]['p50']:.1f}", f"{result[key]['p95']:.1f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offers", type=int, default=60, help="chats to post, one after another")
    parser.add_argument("--pause-s", type=float, default=0.3, help="between one offer's withdrawal and the next")
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()
    console = Console()
    result = asyncio.run(run(args, console))
    show(result, console)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=1)


if __name__ == "__main__":
    main()
