"""The review desk in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium, against the service running on loopback.

A reviewer signs in with the link from the SMTP sink, finds the submission Ada made by
e-mail, reads its report and requests changes; Ada's e-mail arrives in the sink. A second
browser, never signed in, sees nothing, and the used link and a forged one are refused.
One browser of each kind per module; Selenium calls block, so they run in a thread while
the servers answer on the test's event loop. Screenshots go to /tmp (not committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.desk.conftest import ADA, RITA, Desk

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1800")
WAIT_SECONDS = 10.0

# Skipped on a machine without them, except in CI (.ci/run installs them and requires it).
pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists())
    and not os.environ.get("INTAKE_TEST_REQUIRE_BROWSER"),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")


class Browser:
    """One Chromium, with async helpers that run Selenium's blocking calls in a thread."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    async def run(self, action: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(action)

    async def get(self, url: str) -> None:
        await self.run(lambda: self.driver.get(url))

    async def wait(self, css: str) -> Any:
        """The element, once it is on the page (polled up to a deadline)."""
        wait = WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.05)
        return await self.run(lambda: wait.until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))))

    async def text(self, css: str) -> str:
        element = await self.wait(css)
        return str(await self.run(lambda: element.text))

    async def click(self, css: str) -> None:
        element = await self.wait(css)
        await self.run(element.click)

    async def fill(self, css: str, text: str) -> None:
        element = await self.wait(css)
        await self.run(lambda: (element.clear(), element.send_keys(text)))

    async def source(self) -> str:
        return str(await self.run(lambda: self.driver.page_source))

    async def url(self) -> str:
        return str(await self.run(lambda: self.driver.current_url))

    async def screenshot(self, path: str) -> None:
        assert await self.run(lambda: self.driver.save_screenshot(path))

    async def forget(self, base: str) -> None:
        """A fresh start on this server: no cookies from an earlier test."""
        await self.get(f"{base}/desk/sign-in")
        await self.run(self.driver.delete_all_cookies)


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Chromium with a fresh profile; Selenium Manager never runs (nothing downloads)."""
    profile = tempfile.mkdtemp(prefix="desk-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    previous = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        if previous is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = previous


@pytest.fixture(scope="module")
def reviewer() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def stranger() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


async def test_a_reviewer_signs_in_reads_the_report_and_requests_changes(
        desk: Desk, reviewer: Browser, stranger: Browser, db: Any) -> None:
    await desk.submit()
    backend = "sqlite" if db.is_sqlite else "postgresql"
    await reviewer.forget(desk.base)
    await stranger.forget(desk.base)

    # Not signed in: the desk sends the browser to sign in; a link comes by e-mail.
    await reviewer.get(f"{desk.base}/desk/")
    await reviewer.fill("#email", RITA)
    await reviewer.click("#send-link")
    assert "a sign-in link was sent to it" in await reviewer.text("#sent")
    link = await desk.link_for(RITA)
    await reviewer.get(link)
    assert "Sign in as rita@alliance.test" in await reviewer.text("h1")
    await reviewer.click("#use-link")
    assert "OTDI-0001" in await reviewer.text("#submissions")
    await reviewer.screenshot(f"/tmp/desk-list-{backend}.png")

    # Filter and search find it; a search for something else does not.
    await reviewer.run(lambda: Select(reviewer.driver.find_element(By.ID, "status"))
                       .select_by_value("in_review"))
    await reviewer.fill("#q", "ocean temp")
    await reviewer.click("#filter")
    await reviewer.wait("#submissions a[href='/desk/submissions/OTDI-0001']")
    assert "status=in_review" in await reviewer.url()
    row = await reviewer.text("#submissions tbody tr")
    for shown in ("in review", "OTDI-0001", "Ocean Temperatures", "ada@example.org", "mail",
                  "passes"):
        assert shown in row, shown
    await reviewer.fill("#q", "no such dataset")
    await reviewer.click("#filter")
    assert "No submissions match" in await reviewer.text("#none")

    # The submission: its fields, the card rendered, the report; then request changes.
    await reviewer.get(f"{desk.base}/desk/submissions/OTDI-0001")
    assert "Dataset card check for README.md: PASSES" in await reviewer.text("#report")
    assert await reviewer.text("#card h1")  # the card's Markdown, as HTML
    assert "review.thread_opened" in await reviewer.text("#history")
    await reviewer.screenshot(f"/tmp/desk-submission-{backend}.png")
    await reviewer.fill("#text", "Please name who owns the buoy data.")
    await reviewer.click("#changes")
    assert "You requested changes to OTDI-0001" in await reviewer.text("#decided")
    assert await reviewer.text("#status") == "changes requested"
    assert "Please name who owns the buoy data." in await reviewer.text("#history")

    told = (await desk.sink.wait_for(ADA, 3))[2]
    assert told["Subject"].startswith("[OTDI-0001]")
    assert "Please name who owns the buoy data." in told.body
    assert await desk.decisions() == [("review.changes", RITA, "desk")]
    assert (await desk.submission()).status == "changes_requested"

    # A browser that never signed in sees nothing, card included.
    card_id = (await desk.submission()).card_version_id
    for path in ("/desk/", "/desk/submissions/OTDI-0001",
                 f"/desk/submissions/OTDI-0001/cards/{card_id}"):
        await stranger.get(desk.base + path)
        await stranger.wait("#email")
        page = await stranger.source()
        assert "OTDI-0001" not in page and "Ocean" not in page, path

    # The link that signed Rita in is spent; a forged one never worked.
    for url in (link, link[:-6] + "forged"):
        await stranger.get(url)
        assert "already used, it has expired, or it is not a link we sent" in \
            await stranger.text("#link-refused")
    await stranger.get(f"{desk.base}/desk/")
    await stranger.wait("#email")
    assert "/desk/sign-in" in await stranger.url()
