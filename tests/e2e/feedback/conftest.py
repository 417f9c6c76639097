"""A real headless browser for the survey page: Debian's Chromium and its driver, installed here if missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

DEBIAN_PACKAGES = ("chromium", "chromium-driver", "fonts-noto-cjk")
"""The browser, the WebDriver that matches it, and CJK fonts so the page's Chinese renders in screenshots."""
PHONE = {"width": 390, "height": 844, "pixelRatio": 2}
"""A phone-sized viewport (iPhone 12–15 class)."""


def ensure_chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver; installs Debian's packages when missing and allowed (root)."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"needs Debian's Chromium: apt-get install {' '.join(DEBIAN_PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES],
        check=True,
        env=env,
        capture_output=True,
        timeout=1200,
    )
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert browser and driver, "apt-get installed chromium but it is not on PATH"
    return browser, driver


@pytest.fixture(scope="session")
def phone_browser() -> Iterator[webdriver.Chrome]:
    browser, driver = ensure_chromium()
    options = Options()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=zh-CN"):
        options.add_argument(flag)
    options.add_experimental_option(
        "mobileEmulation",
        {
            "deviceMetrics": PHONE,
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
        },
    )
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()
