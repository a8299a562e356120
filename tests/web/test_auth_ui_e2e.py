"""The web UI on a server with API keys: it loads, asks for the key on 401, remembers it, and speaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from voxgate.settings import Settings
from voxgate.testing import serve_in_thread

KEY = "ui-key-0123456789abcdef"
WAIT_MS = 30_000
SCREENSHOT = Path("/tmp/voxgate-ui-key.png")
SCREENSHOT_401 = Path("/tmp/voxgate-ui-401.png")


@pytest.fixture(scope="module")
def ui_server(data_dir: Path) -> Iterator[str]:
    """This module's UI server, which the ``page`` fixture opens: one key (default entitlements, so
    api and batch but no interactive); kokoro off."""
    settings = Settings.load(
        data_dir=data_dir,
        engines={
            "kokoro": {"enabled": False},
            "piper": {"workers": 1, "threads": 1},
            "espeak": {"workers": 1},
        },
        qos={"limits": {"default": "100000/minute"}},
        server={"api_keys": {"ui": {"key": KEY}}},
    )
    with serve_in_thread(settings) as base_url:
        yield base_url


def test_the_page_asks_for_the_key_remembers_it_and_speaks_with_it(page: Page) -> None:
    """No key: a 401 alert offers the key field; typed once, voices load, speech plays; a reload keeps it."""
    alert = page.locator("#alert")
    expect(alert).to_contain_text("An API key is needed", timeout=WAIT_MS)
    expect(alert).to_contain_text("enter it under “API key”")
    expect(page.locator("#sla-updated")).to_contain_text("API key", timeout=WAIT_MS)
    page.screenshot(path=SCREENSHOT_401, full_page=True)
    page.get_by_role("button", name="Go to the API key field").click()
    key_field = page.get_by_label("API key (only if this server requires one)").first
    expect(key_field).to_be_focused()
    key_field.fill(KEY)
    key_field.press("Tab")  # "change": stored, and the refused requests are made again
    expect(alert).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#voice option[value='joe']")).to_have_count(1, timeout=WAIT_MS)

    page.get_by_label("Text", exact=True).fill("The birch canoe slid on the smooth planks.")
    page.get_by_label("Voice").select_option("joe")
    page.get_by_role("button", name="Speak").click()
    expect(page.locator("#result")).to_have_attribute("data-answers", "1", timeout=WAIT_MS)
    expect(page.locator("#fact-engine")).to_have_text("piper")
    expect(page.locator("#sla-updated")).to_contain_text("Updated", timeout=WAIT_MS)
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.reload()
    expect(page.locator("#voice option[value='joe']")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#api-key")).to_have_value(KEY)
    expect(page.locator("#job-key")).to_have_value(KEY)
    expect(alert).to_be_hidden()


def test_a_wrong_key_is_refused_with_a_clear_message(page: Page) -> None:
    """A wrong key entered in the Jobs view: the page says the key is invalid and where to fix it."""
    page.goto("/#jobs")
    page.locator("#job-key").evaluate("(el) => el.closest('details').open = true")
    page.locator("#job-key").fill("not-the-key-0123456789")
    page.locator("#job-key").press("Tab")
    jobs_alert = page.locator("#jobs-alert")
    expect(jobs_alert).to_contain_text("invalid API key", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Go to the API key field").first).to_be_visible()
