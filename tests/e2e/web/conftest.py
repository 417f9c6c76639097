"""Real headless Chromium windows (Debian's browser and driver, as the survey test installs them) on a laptop-sized
screen, signed in at the web gateway the stack started, and what the browser tests do with them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tests.e2e.feedback.conftest import ensure_chromium

LAPTOP = (1440, 900)
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=en-US",
)
"""As the survey test starts it, plus the flags that keep Chromium from reaching for Google's hosts."""

Browser = Callable[[], webdriver.Chrome]


@pytest.fixture
def browsers() -> Iterator[Browser]:
    """Opens as many separate browsers (own profile, own cookies) as a test asks for; closes them all after."""
    browser_path, driver_path = ensure_chromium()
    opened: list[webdriver.Chrome] = []

    def open_one() -> webdriver.Chrome:
        options = Options()
        options.binary_location = browser_path
        for flag in FLAGS:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        chrome = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        chrome.set_window_size(*LAPTOP)
        chrome.set_page_load_timeout(30)
        opened.append(chrome)
        return chrome

    try:
        yield open_one
    finally:
        for chrome in opened:
            chrome.quit()


def sign_in(browser: webdriver.Chrome, base: str, page: str, user: str, password: str) -> None:
    """Open a page, get sent to the sign-in page, sign in, and land back on the page."""
    browser.get(base + page)
    assert browser.current_url.startswith(base + "/signin?next="), browser.current_url
    browser.find_element(By.ID, "username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    wait(browser, f"return location.pathname === '{page}' && document.readyState === 'complete'", 15)


def wait(browser: webdriver.Chrome, script: str, timeout_s: float, *, what: str = "") -> Any:
    """Until `script` (a JavaScript function body) returns something truthy; that value."""
    try:
        waiting = WebDriverWait(browser, timeout_s, poll_frequency=0.05, ignored_exceptions=(WebDriverException,))
        return waiting.until(lambda b: b.execute_script(script))
    except TimeoutException as exc:
        logs = "\n".join(e["message"][:300] for e in console(browser))
        raise AssertionError(f"waited {timeout_s}s for {what or script}\nbrowser log:\n{logs}") from exc


def console(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """What the page wrote to the browser's console (errors included)."""
    entries: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return entries


def choose(browser: webdriver.Chrome, select_id: str, value: str) -> None:
    Select(browser.find_element(By.ID, select_id)).select_by_value(value)
    browser.execute_script("document.activeElement && document.activeElement.blur()")


def language(browser: webdriver.Chrome, code: str) -> None:
    choose(browser, "language", code)
    wait(browser, f"return document.documentElement.lang === '{code}'", 10, what=f"the page in {code}")
    painted(browser)  # the panels redraw in the same turn; the fonts must have painted too


def painted(browser: webdriver.Chrome) -> None:
    """Until the page's fonts are loaded and two frames have been drawn since (layout and paint are done)."""
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "document.fonts.ready.then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));"
    )


def fits(browser: webdriver.Chrome) -> bool:
    """Nothing sticks out sideways: no horizontal scrolling."""
    width: int = browser.execute_script("return document.documentElement.scrollWidth")
    client: int = browser.execute_script("return document.documentElement.clientWidth")
    return width <= client + 1
