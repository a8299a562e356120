"""The Jobs tab end to end: real server (piper + espeak), real jobs, headless Chromium driving the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from voxgate.audio.decode import decode
from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES, serve_in_thread

DONE_WAIT_MS = 60_000
"""Longest a two-chapter book may take to render (about 2 s here when the machine is quiet)."""
WAIT_MS = 15_000
"""Longest any other step may take."""
SCREENSHOT = Path("/tmp/voxgate-jobs.png")

BOOK = (
    "# The Fox and the Grapes\n\n"
    "A hungry Fox saw some fine bunches of Grapes hanging from a vine. He did his best to reach them.\n\n"
    "# The Crow and the Pitcher\n\n"
    "A Crow, half-dead with thirst, came upon a Pitcher which had once been full of water.\n"
)
SENTENCES = HARVARD_SENTENCES[:6]


def _long_book() -> str:
    """Three chapters of about 2,000 characters each: many seconds of work for one piper worker."""
    return "\n\n".join(
        f"Chapter {n}\n\n" + " ".join(f"{s[:-1]}, number {i}." for i in range(8) for s in SENTENCES)
        for n in (1, 2, 3)
    )


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Overrides the conftest server: piper and espeak only (kokoro off, to keep jobs fast), own jobs DB."""
    settings = Settings.load(
        data_dir=tmp_path_factory.mktemp("jobs-ui-data"),
        engines={"kokoro": {"enabled": False}, "piper": {"workers": 1}, "espeak": {"workers": 1}},
        qos={"limits": {"default": "100000/minute"}},
    )
    with serve_in_thread(settings) as base_url:
        yield base_url


def _open_jobs(page: Page) -> None:
    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page.get_by_role("heading", name="New audiobook")).to_be_visible()
    expect(page.get_by_role("link", name="Jobs", exact=True)).to_have_attribute("aria-current", "page")
    expect(page.locator("#job-narrator option[value='joe']")).to_have_count(1)


def test_uploads_a_markdown_book_follows_it_to_done_and_downloads_its_chapters(
    page: Page, tmp_path: Path
) -> None:
    """A .md upload (joe, MP3) becomes a two-chapter job that reaches done; each chapter link is audio."""
    _open_jobs(page)
    book = tmp_path / "fables.md"
    book.write_text(BOOK, encoding="utf-8")
    page.get_by_label("Book file").set_input_files(book)
    expect(page.locator("#job-file-info")).to_contain_text("fables.md")
    page.get_by_label("Narrator").select_option("joe")
    page.get_by_label("Audio files").select_option("mp3")
    page.get_by_role("button", name="Start job").click()
    expect(page.locator("#job-progress")).to_have_text("Submitted “fables”, 2 chapters, 226 characters.")

    job = page.locator(".job", has=page.get_by_role("heading", name="fables"))
    expect(job).to_have_attribute("data-status", "done", timeout=DONE_WAIT_MS)
    expect(job.locator(".job__status")).to_have_text("done")  # said in words, not only by colour
    expect(page.locator("#jobs-live")).to_contain_text("“fables” is done: 2 chapters ready to download.")
    expect(job.locator(".job__summary")).to_contain_text("(100%) · 2 of 2 chapters ready")
    expect(job.locator(".job__facts")).to_contain_text("piper")
    expect(job.locator(".job__facts")).to_contain_text(re.compile(r"Degraded\s*none"))
    expect(job.get_by_role("button", name=re.compile("^Cancel"))).to_be_hidden()
    expect(page.locator("#jobs-list")).to_have_attribute("data-active", "false")  # polling has stopped

    job_id = job.get_attribute("data-job-id")
    index = page.request.get(f"/api/v1/jobs/{job_id}/index").json()
    assert [c["title"] for c in index["chapters"]] == ["The Fox and the Grapes", "The Crow and the Pitcher"]
    for chapter in index["chapters"]:
        link = job.get_by_role("link", name=f"Download chapter {chapter['n']} (MP3)")
        with page.expect_download() as info:
            link.click()
        download = info.value
        assert download.suggested_filename == chapter["file"]
        audio, rate = decode(Path(download.path()).read_bytes(), "mp3")
        assert len(audio) / rate == pytest.approx(chapter["duration_s"], abs=0.05)
        assert chapter["duration_s"] > 2.0  # a title and a sentence or two of speech
    for name, path in [
        ("Whole book (MP3)", "/audio"),
        ("Index (JSON)", "/index"),
        ("Captions (VTT)", "/captions.vtt"),
        ("Captions (SRT)", "/captions.srt"),
    ]:
        expect(job.get_by_role("link", name=name)).to_have_attribute("href", f"/api/v1/jobs/{job_id}{path}")

    page.get_by_role("button", name="Start job").focus()  # a calm picture: no focus ring or hover on the list
    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky SLA panel back at the top
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_a_running_job_is_cancelled_by_keyboard_and_polling_pauses_while_the_tab_is_hidden(
    page: Page,
) -> None:
    """Pasted text → running job; a hidden tab stops the 2 s polling; Enter on Cancel cancels it."""
    _open_jobs(page)
    upload = page.get_by_label("Upload a file")
    upload.focus()
    page.keyboard.press("ArrowRight")  # the source switch is a native radio group
    expect(page.get_by_label("Book text")).to_be_visible()
    page.get_by_label("Book text").fill(_long_book())
    page.get_by_label("Title (optional)").fill("Long lists")
    page.get_by_label("Narrator").select_option("joe")
    page.get_by_role("button", name="Start job").click()
    job = page.locator(".job", has=page.get_by_role("heading", name="Long lists"))
    expect(job).to_have_attribute("data-status", "running", timeout=WAIT_MS)

    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/api/v1/jobs") else None)
    page.wait_for_timeout(2500)
    assert polls, "no poll while a job runs"
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    polls.clear()
    page.wait_for_timeout(4500)
    assert polls == [], "polled while the tab was hidden"
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.wait_for_timeout(500)
    assert polls, "did not poll when the tab came back"
    expect(job).to_have_attribute("data-status", "running")  # still at work: there is something to cancel

    cancel = job.get_by_role("button", name="Cancel “Long lists”")
    cancel.focus()
    page.keyboard.press("Enter")
    expect(job).to_have_attribute("data-status", "cancelled", timeout=WAIT_MS)
    expect(job.locator(".job__status")).to_have_text("cancelled")
    expect(cancel).to_be_hidden()
    expect(job.get_by_role("heading", name="Long lists")).to_be_focused()  # focus stays on this job
    expect(page.locator("#jobs-live")).to_have_text("“Long lists” was cancelled.")
    chapters = job.locator("tbody tr")
    expect(chapters).to_have_count(3)
    expect(chapters.nth(2)).to_contain_text(re.compile("not made|stopped at"))


def test_a_binary_upload_is_refused_with_the_file_field_named(page: Page, tmp_path: Path) -> None:
    """The server's 400 for a binary .txt is shown in the alert, which leads back to the file field."""
    _open_jobs(page)
    junk = tmp_path / "photo.txt"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    page.get_by_label("Book file").set_input_files(junk)
    page.get_by_role("button", name="Start job").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("is a binary file", timeout=WAIT_MS)
    expect(page.get_by_label("Book file")).to_have_attribute("aria-invalid", "true")
    alert.get_by_role("button", name="Go to the file field").click()
    expect(page.get_by_label("Book file")).to_be_focused()


def test_the_jobs_view_is_labelled_keyboard_operable_and_fits_a_phone(page: Page) -> None:
    """Every Jobs control has a label; Tab reaches Start job; nothing scrolls sideways at 360 px."""
    _open_jobs(page)
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('[data-view=jobs] input, [data-view=jobs] select,"
        " [data-view=jobs] textarea')].filter(c => c.labels.length === 0).map(c => c.id || c.name)"
    )
    assert unlabelled == []
    expect(page.get_by_role("button", name="Start job")).to_be_visible()
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_label("Upload a file").focus()
    for _ in range(14):  # source → file → title → narrator → rate → files → titles → API key → Start job
        if page.evaluate("document.activeElement.id") == "job-submit":
            break
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Start job")).to_be_focused()
