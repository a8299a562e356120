"""Fixtures for the browser tests: a real voxgate server with all three engines, and headless Chromium.

Chromium is Debian's (``apt-get install -y chromium``), driven by Playwright; Playwright never
downloads a browser here. Both the server and the browser are module-scoped and stopped at module end.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from voxgate.api.app import create_app
from voxgate.settings import Settings

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
READY_TIMEOUT_S = 120.0
"""Longest the server may take to warm its workers (kokoro loads in a few seconds here)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(base_url: str, thread: threading.Thread) -> None:
    give_up = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < give_up and thread.is_alive():
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url} was not ready within {READY_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="module")
def ui_server(data_dir: Path) -> Iterator[str]:
    """A real server (uvicorn on 127.0.0.1, free port) with kokoro, piper and espeak, one worker each.

    The interactive deadline is generous (15 s) so that these tests are about the page, not load.
    """
    settings = Settings.load(
        data_dir=data_dir,
        engines={
            "kokoro": {"workers": 1, "threads": 1},
            "piper": {"workers": 1, "threads": 1},
            "espeak": {"workers": 1},
        },
        qos={"deadlines": {"interactive_s": 15}, "limits": {"default": "100000/minute"}},
    )
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-ui-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=60)


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
