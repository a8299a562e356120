"""Fixtures for the browser tests: a real voxgate server with all three engines, and headless Chromium.

Chromium is Debian's (``apt-get install -y chromium``), driven by Playwright; Playwright never
downloads a browser here. Both the server and the browser are module-scoped and stopped at module end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from voxgate.settings import Settings
from voxgate.testing import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def ui_server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server (uvicorn on 127.0.0.1, free port) with kokoro, piper and espeak, one worker each.

    The interactive deadline is generous (15 s) so that these tests are about the page, not load.
    Its server lexicon has one entry (for a word no test speaks), shown read-only on #lexicon.
    """
    lexicon = tmp_path_factory.mktemp("ui-lexicon") / "server.json"
    lexicon.write_text(json.dumps([{"word": "voxgate", "say": "vox gate"}]), "utf-8")
    settings = Settings.load(
        text={"lexicon_file": str(lexicon)},
        data_dir=data_dir,
        engines={
            "kokoro": {"workers": 1, "threads": 1},
            "piper": {"workers": 1, "threads": 1},
            "espeak": {"workers": 1},
        },
        qos={"deadlines": {"interactive_s": 15}, "limits": {"default": "100000/minute"}},
    )
    with serve_in_thread(settings) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium with a fresh profile; skipped when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install it with 'apt-get install -y chromium'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, ui_server: str) -> Iterator[Page]:
    """A new page in its own context (empty storage), at the web UI; page errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=ui_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/")
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
