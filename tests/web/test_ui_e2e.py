"""The web UI end to end: real server, real engines, headless Chromium driving the page like a user."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from playwright.sync_api import Page, Route, expect

WAIT_MS = 30_000
"""Longest any one step may take (an answer, a poll of the SLA panel)."""

LATEST_SCREENSHOT = Path("/tmp/voxgate-ui.png")

EN = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
ZH = "今天天气很好，我们去公园散步吧。"

AUDIO_READY = """(answers) => {
  const player = document.getElementById('player');
  return document.getElementById('result').dataset.answers === String(answers)
    && player.duration > 0 && Number.isFinite(player.duration);
}"""


def _answered(page: Page, answers: int) -> float:
    page.wait_for_function(AUDIO_READY, arg=answers, timeout=WAIT_MS)
    duration: float = page.evaluate("document.getElementById('player').duration")
    return duration


def test_speaks_english_and_chinese_and_shows_who_spoke(page: Page, tmp_path: Path) -> None:
    """English (joe) streams and is credited to piper; Chinese (jf_alpha, by Ctrl+Enter) to kokoro."""
    expect(page.locator("#voice optgroup[label='English'] option[value='joe']")).to_have_count(1)
    expect(page.locator("#format")).to_have_value("mp3")

    page.get_by_label("Text", exact=True).fill(EN)
    expect(page.locator("#counter")).to_have_text(f"{len(EN)} / 4,096 characters")
    page.get_by_label("Voice").select_option("joe")
    page.get_by_role("button", name="Speak").click()
    assert _answered(page, 1) > 2.0  # two sentences of speech
    expect(page.locator("#result")).to_have_attribute("data-streamed", "true")  # MSE, not a Blob at the end
    expect(page.locator("#fact-engine")).to_have_text("piper")
    expect(page.locator("#fact-quality")).to_have_text("full quality")
    expect(page.locator("#fact-first")).to_contain_text(re.compile(r"\d+ (ms|s)"))
    download = page.get_by_role("link", name=re.compile(r"Download voxgate\.mp3"))
    expect(download).to_have_attribute("download", "voxgate.mp3")
    page.screenshot(path=tmp_path / "01-english.png", full_page=True)

    page.get_by_label("Text", exact=True).fill(ZH)
    expect(page.get_by_label("Text", exact=True)).to_have_attribute("lang", "zh")
    chinese_jf_alpha = page.locator("#voice optgroup[label='Chinese'] option[value='jf_alpha']")
    page.get_by_label("Voice").select_option(element=chinese_jf_alpha.element_handle())
    expect(page.locator("#voice-info")).to_contain_text("Chinese: Kokoro → eSpeak NG")
    page.get_by_label("Text", exact=True).press("Control+Enter")
    assert _answered(page, 2) > 1.0
    engine = page.locator("#fact-engine").inner_text()
    quality = page.locator("#fact-quality").inner_text()
    assert (engine, quality) in {("kokoro", "full quality"), ("espeak", "degraded")}, (engine, quality)
    spoke_as = "jf_alpha" if engine == "kokoro" else re.compile("espeak")
    expect(page.locator("#fact-voice")).to_have_text(spoke_as)

    sla = page.get_by_role("complementary", name="Service level")
    page.wait_for_function(
        "Number(document.getElementById('sla-requests').textContent) >= 2", timeout=WAIT_MS
    )  # both answers are in the panel after a poll
    expect(sla.locator("#sla-availability")).to_have_text(re.compile(r"^\d+\.\d%$"))
    interactive = sla.get_by_role("row", name=re.compile("^interactive"))
    expect(interactive.locator("td").nth(2)).to_have_text(re.compile(r"^\d+(\.\d+)? (ms|s)$"))
    expect(sla.locator("#sla-engines tr")).to_have_count(3)
    kokoro = sla.get_by_role("row", name=re.compile("^kokoro"))
    expect(kokoro).to_contain_text(re.compile("closed|half-open|open"))

    page.locator("#speak").focus()  # a calm final picture: focus on the button, not the text box
    final = tmp_path / "02-chinese.png"
    page.screenshot(path=final, full_page=True)
    shutil.copyfile(final, LATEST_SCREENSHOT)


def test_server_error_is_announced_with_the_field(page: Page) -> None:
    """A 400 from the server (unknown voice) is shown in the alert region and marks the voice invalid."""
    expect(page.locator("#voice option[value='joe']")).to_have_count(1)
    page.locator("#voice").evaluate("s => { s.add(new Option('nobody', 'nobody')); s.value = 'nobody'; }")
    page.get_by_label("Text", exact=True).fill("Hello there.")
    page.get_by_role("button", name="Speak").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The request was not accepted", timeout=WAIT_MS)
    expect(alert).to_contain_text("nobody")
    expect(page.locator("#voice")).to_have_attribute("aria-invalid", "true")
    alert.get_by_role("button", name="Go to the voice field").click()
    expect(page.locator("#voice")).to_be_focused()


def test_text_over_the_limit_is_flagged_and_the_servers_413_shown(page: Page) -> None:
    """Near the limit the counter warns; over it the text box is invalid and the server's 413 is shown."""
    text = page.get_by_label("Text", exact=True)
    text.fill("a" * 3800)
    expect(page.locator("#counter")).to_have_class(re.compile("is-near"))
    expect(text).to_have_attribute("aria-invalid", "false")
    text.fill("a" * 4097)
    expect(page.locator("#counter")).to_have_class(re.compile("is-over"))
    expect(text).to_have_attribute("aria-invalid", "true")
    text.press("Control+Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The text is too long", timeout=WAIT_MS)
    expect(alert).to_contain_text("batch job")
    expect(alert.get_by_role("button", name="Go to the text field")).to_be_visible()


def test_every_control_is_labelled_and_the_page_fits_a_phone(page: Page) -> None:
    """Each form control has a <label>, the page has a language, and nothing scrolls sideways at 360 px."""
    expect(page.locator("#voice option[value='joe']")).to_have_count(1)
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select, textarea')].filter(c => c.labels.length === 0)"
        ".map(c => c.id || c.name)"
    )
    assert unlabelled == []
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    speak = page.get_by_role("button", name="Speak")
    page.get_by_label("Text", exact=True).focus()
    for _ in range(12):  # text → voice → speed → format → API key → Speak, by keyboard alone
        if page.evaluate("document.activeElement.id") == "speak":
            break
        page.keyboard.press("Tab")
    expect(speak).to_be_focused()


def test_a_format_mse_cannot_stream_plays_once_complete(page: Page) -> None:
    """WAV is read to the end and played from a Blob, with a voxgate.wav download."""
    expect(page.locator("#voice option[value='joe']")).to_have_count(1)
    page.get_by_label("Format").select_option("wav")
    expect(page.locator("#format-info")).to_have_text("Plays once the whole file has arrived.")
    page.get_by_label("Text", exact=True).fill("Short and sweet.")
    page.get_by_role("button", name="Speak").click()
    assert _answered(page, 1) > 0.5
    expect(page.locator("#result")).to_have_attribute("data-streamed", "false")
    expect(page.get_by_role("link", name=re.compile(r"Download voxgate\.wav"))).to_have_attribute(
        "download", "voxgate.wav"
    )


def test_live_mode_speaks_clauses_as_they_are_typed_and_stop_cuts_them_off(page: Page) -> None:
    """#live: a typed clause is spoken with no button pressed (it is logged); Stop clears; End closes."""
    page.goto("/#live")
    expect(page.locator("#live-voice option[value='joe']").first).to_be_attached(timeout=WAIT_MS)
    page.locator("#live-voice").select_option("joe")
    page.click("#live-start")
    expect(page.locator("#live-status")).to_contain_text("Live: joe", timeout=WAIT_MS)
    typed = page.locator("#live-text")
    first = "Hello there, this is live speech from the page. And"
    typed.fill(first)  # pasted: one input event (keystrokes on a loaded machine would hit the timer)
    spoken = re.compile(r"^Hello there, this is live speech from the page\. — (Piper|eSpeak NG)")
    expect(page.locator("#live-log li").first).to_have_text(spoken, timeout=WAIT_MS)
    page.click("#live-stop")
    expect(page.locator("#live-status")).to_contain_text("Stopped", timeout=WAIT_MS)
    typed.fill(first + " then more words to end with")
    page.click("#live-end")
    expect(page.locator("#live-status")).to_contain_text("Ended", timeout=WAIT_MS)
    expect(page.locator("#live-log")).to_contain_text("then more words")  # a timer cut, then the rest


# ---- SSML, dialogue, lexicon (issue 14); same module server, so no extra start-up ---------------

SSML_SCREENSHOT = Path("/tmp/voxgate-ui-ssml.png")
DIALOGUE_SCREENSHOT = Path("/tmp/voxgate-ui-dialogue.png")
LEXICON_SCREENSHOT = Path("/tmp/voxgate-ui-lexicon.png")
PHONE_SCREENSHOT = Path("/tmp/voxgate-ui-dialogue-phone.png")


def _tts_requests(page: Page) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/api/v1/tts") else None)
    return sent


def test_ssml_is_checked_in_the_page_and_what_was_ignored_is_shown(page: Page) -> None:
    """Malformed SSML: line/column under the box and no request; <foo> spoken and shown as ignored."""
    expect(page.locator("#voice option[value='espeak-en-us']").first).to_be_attached()
    sent = _tts_requests(page)
    text = page.get_by_label("Text", exact=True)
    text.fill('<speak>Hello <break time="1s">there</speak>')
    expect(page.get_by_label("SSML", exact=True)).to_be_checked()  # auto-detected from <speak
    expect(page.get_by_role("group", name="Insert an SSML tag at the cursor")).to_be_visible()
    page.get_by_role("button", name="Speak").click()
    error = page.locator("#text-error")
    expect(error).to_have_text(re.compile(r"not well-formed: line 1, column \d+"))
    expect(error).to_have_attribute("role", "alert")
    expect(text).to_have_attribute("aria-invalid", "true")
    assert "text-error" in (text.get_attribute("aria-describedby") or "")
    assert sent == []  # the browser's parser refused it: nothing went to the server

    text.fill("<speak>Hello <foo>there</foo>.</speak>")
    expect(error).to_be_hidden()  # fixed: the message goes at once
    page.get_by_label("Voice").select_option("espeak-en-us")
    page.get_by_role("button", name="Speak").click()
    assert _answered(page, 1) > 0.3
    expect(page.locator("#fact-ignored-row")).to_contain_text("Ignored")
    expect(page.locator("#fact-ignored")).to_have_text("ssml:foo")
    assert len(sent) == 1

    text.fill('<speak><voice name="nobody">Hi.</voice></speak>')  # well-formed; the server refuses it
    page.get_by_role("button", name="Speak").click()
    expect(error).to_contain_text(re.compile(r"SSML at line 1, column \d+.*nobody"), timeout=WAIT_MS)
    expect(page.locator("#alert")).to_be_hidden()  # said at the field, once
    page.screenshot(path=SSML_SCREENSHOT, full_page=True)


def test_a_two_voice_dialogue_plays_as_one_file_and_names_both_voices(page: Page) -> None:
    """Two turns (piper joe, espeak) → one audio naming both voices; a bad voice is shown on its turn."""
    page.goto("/#dialogue")
    turns = page.locator("#dlg-turns > li")
    expect(turns).to_have_count(2)
    expect(turns.nth(0).get_by_label("Speaker")).to_have_value("joe", timeout=WAIT_MS)
    expect(turns.nth(1).get_by_label("Speaker")).to_have_value("espeak-en-us")
    page.get_by_role("button", name="Speak the dialogue").click()
    page.wait_for_function(
        "document.getElementById('dlg-result').dataset.answers === '1'"
        " && Number.isFinite(document.getElementById('dlg-player').duration)"
        " && document.getElementById('dlg-player').duration > 2",
        timeout=WAIT_MS,
    )
    spoken = page.get_by_role("list", name="Who spoke")
    expect(spoken.locator("li")).to_have_text(["joe — Piper", "espeak-en-us — eSpeak NG"])
    expect(page.locator("#dlg-progress")).to_contain_text("2 voices spoke.")
    expect(page.locator(".turn-degraded:visible")).to_have_count(0)

    def degrade_second_turn(route: Route) -> None:  # fault injection: the real answer, one header added
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "x-voxgate-degraded-turns": "1"})

    page.route("**/api/v1/tts", degrade_second_turn)
    page.get_by_role("button", name="Speak the dialogue").click()
    expect(turns.nth(1).locator(".turn-degraded")).to_be_visible(timeout=WAIT_MS)
    expect(turns.nth(0).locator(".turn-degraded")).to_be_hidden()
    expect(page.locator("#dlg-progress")).to_contain_text("Turn 2 degraded", timeout=WAIT_MS)
    expect(spoken.locator("li")).to_have_count(2)  # a cache hit names no engines: the turns' voices
    page.unroute("**/api/v1/tts")
    page.screenshot(path=DIALOGUE_SCREENSHOT, full_page=True)

    second = turns.nth(1).get_by_label("Speaker")
    second.evaluate("s => { s.add(new Option('nobody', 'nobody')); s.value = 'nobody'; }")
    page.get_by_role("button", name="Speak the dialogue").click()
    expect(turns.nth(1).locator(".field-error")).to_have_text("unknown voice 'nobody'", timeout=WAIT_MS)
    expect(second).to_have_attribute("aria-invalid", "true")
    expect(second).to_be_focused()
    expect(turns.nth(0).locator(".field-error")).to_be_hidden()


def test_a_lexicon_entry_is_saved_listed_after_reload_and_deleted(page: Page) -> None:
    """Add SQL→sequel, save (PUT), reload: it is listed; a bad word's 422 shows on its row; delete."""
    page.goto("/#lexicon")
    expect(page.locator("#lex-status")).to_have_text("0 entries.", timeout=WAIT_MS)
    server = page.get_by_text("Server entries (1, read-only)")
    server.click()  # the server's own entries: listed, not editable
    expect(page.locator("#lex-server-rows tr")).to_have_text([re.compile("voxgate.*Say as.*vox gate")])
    expect(page.locator("#lex-server-box input")).to_have_count(0)
    page.get_by_role("button", name="Add an entry").click()
    page.get_by_label("Word of entry 1").fill("SQL")
    page.get_by_label("Value of entry 1").fill("sequel")
    page.get_by_role("button", name="Add an entry").click()
    page.get_by_label("Word of entry 2").fill("a b!")
    page.get_by_label("Kind of entry 2").select_option("ipa")
    page.get_by_label("Value of entry 2").fill("ə")
    page.get_by_role("button", name="Save").click()
    rows = page.locator("#lex-rows > li")
    expect(rows.nth(1).locator(".field-error")).to_contain_text("is not whole words", timeout=WAIT_MS)
    expect(page.get_by_label("Word of entry 2")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Word of entry 2")).to_be_focused()
    page.get_by_role("button", name="Delete entry 2").click()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#lex-status")).to_have_text("Saved 1 entry.", timeout=WAIT_MS)
    page.screenshot(path=LEXICON_SCREENSHOT, full_page=True)

    page.reload()
    expect(page.get_by_label("Word of entry 1")).to_have_value("SQL", timeout=WAIT_MS)
    expect(page.get_by_label("Kind of entry 1")).to_have_value("say")
    expect(page.get_by_label("Value of entry 1")).to_have_value("sequel")
    page.get_by_role("button", name="Delete entry 1").click()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#lex-status")).to_have_text("Saved 0 entries.", timeout=WAIT_MS)
    page.reload()
    expect(page.locator("#lex-status")).to_have_text("0 entries.", timeout=WAIT_MS)
    expect(page.locator("#lex-empty")).to_be_visible()


def test_the_new_controls_work_from_the_keyboard_on_a_phone(page: Page) -> None:
    """SSML toggle and toolbar, turn reordering and a lexicon row, by keys alone at 360 px wide."""
    page.set_viewport_size({"width": 360, "height": 800})
    text = page.get_by_label("Text", exact=True)
    text.fill("Hello there")
    page.get_by_label("SSML", exact=True).focus()
    page.keyboard.press("Space")
    expect(text).to_have_value("<speak>Hello there</speak>")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Pause")).to_be_focused()
    page.keyboard.press("Enter")
    expect(text).to_have_value('<speak>Hello there<break time="500ms"/></speak>')
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.goto("/#dialogue")
    turns = page.locator("#dlg-turns > li")
    expect(turns.nth(0).get_by_label("Speaker")).to_have_value("joe", timeout=WAIT_MS)
    page.get_by_role("button", name="Move turn 1 down").focus()
    page.keyboard.press("Enter")
    expect(turns.nth(1).get_by_label("Speaker")).to_have_value("joe")
    expect(page.get_by_role("button", name="Move turn 2 up")).to_be_focused()  # followed its turn
    page.keyboard.press("Shift+Tab")  # from "Up" back into the turn's text
    expect(page.get_by_label("Turn 2 Lines")).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=PHONE_SCREENSHOT, full_page=True)

    page.goto("/#lexicon")
    expect(page.locator("#lex-status")).to_have_text(re.compile(r"\d+ entr"), timeout=WAIT_MS)
    page.get_by_role("button", name="Add an entry").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Word of entry 1")).to_be_focused()
    page.keyboard.type("tomato")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Kind of entry 1")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Value of entry 1")).to_be_focused()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


WORDS = "One two three four five six seven eight."
HIGHLIGHTS_SEEN = """async () => {
  const player = document.getElementById('player');
  const seen = [];
  const until = performance.now() + 20000;
  while (!player.ended && performance.now() < until) {
    if (player.paused && player.readyState >= 2) await player.play().catch(() => {});
    const current = document.querySelector('#result-words [aria-current="true"]');
    if (current && seen.at(-1) !== Number(current.dataset.index)) seen.push(Number(current.dataset.index));
    await new Promise(requestAnimationFrame);
  }
  return seen;
}"""


def test_words_are_highlighted_in_step_with_playback(page: Page, tmp_path: Path) -> None:
    """An espeak answer lists its words under the player at 360 px; the mark moves forward over
    several words as it plays; Enter on a word plays from its start; no transition when reduced motion."""
    page.set_viewport_size({"width": 360, "height": 800})
    page.emulate_media(reduced_motion="reduce")
    expect(page.locator("#voice option[value='espeak-en-us']")).to_have_count(1)
    expect(page.get_by_label("Highlight each word as it is spoken")).to_be_checked()
    expect(page.locator("#result-words")).to_be_hidden()
    page.get_by_label("Text", exact=True).fill(WORDS)
    page.get_by_label("Voice").select_option("espeak-en-us")
    page.get_by_role("button", name="Speak").click()
    words = page.get_by_role("group", name="Words, marked as they are spoken").get_by_role("button")
    expect(words).to_have_count(8, timeout=WAIT_MS)
    expect(words.first).to_have_text("One")
    seen = page.evaluate(HIGHLIGHTS_SEEN)
    assert len(seen) >= 2, seen  # the mark moved across words while the audio played
    assert seen == sorted(seen), seen  # forward only, in step with the audio
    _answered(page, 1)
    expect(page.locator("#result-words [aria-current]")).to_have_count(0)  # cleared at the end

    starts = [float(s) for s in words.evaluate_all("bs => bs.map(b => b.dataset.start)")]
    assert starts == sorted(starts)
    assert starts[-1] > starts[0]
    page.evaluate(
        "document.getElementById('player').addEventListener('seeked',"
        " (e) => { window.seekedTo = e.target.currentTime; e.target.pause(); }, { once: true })"
    )
    words.first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(words.nth(2)).to_be_focused()
    expect(words.nth(2)).to_have_attribute("tabindex", "0")  # one tab stop, where the reader left it
    page.keyboard.press("Enter")
    page.wait_for_function("window.seekedTo !== undefined", timeout=WAIT_MS)
    assert abs(page.evaluate("window.seekedTo") - starts[2]) < 0.05
    expect(page.locator("#result-words [aria-current='true']")).to_have_count(1)
    assert words.nth(2).evaluate("b => getComputedStyle(b).transitionDuration") == "0s"
    assert page.locator("#result-words").get_attribute("aria-live") == "off"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.locator("#result-words").scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "words.png")
    shutil.copyfile(tmp_path / "words.png", Path("/tmp/voxgate-words.png"))


def test_speaking_the_same_text_again_is_a_cache_hit_with_its_words(page: Page) -> None:
    """The Speak page asks for word timestamps; the same text again comes from the cache, words and all."""
    page.get_by_label("Text", exact=True).fill("Seven quiet words come back from the cache.")
    page.get_by_label("Voice").select_option("espeak-en-us")
    words = page.get_by_role("group", name="Words, marked as they are spoken").get_by_role("button")
    for answers, cache in ((1, "miss (newly made)"), (2, "hit (from cache)")):
        page.get_by_role("button", name="Speak").click()
        _answered(page, answers)
        expect(page.locator("#fact-cache")).to_have_text(cache)
        expect(words).to_have_count(8, timeout=WAIT_MS)
        expect(words.first).to_have_text("Seven")


def test_a_sentence_degraded_after_the_headers_is_shown_when_the_stream_ends(page: Page) -> None:
    """The headers of a stream describe its first sentence; the page takes the verdict of the
    ``done`` event at the end, so a later sentence spoken by a fallback engine is shown degraded."""
    page.get_by_label("Text", exact=True).fill("One sentence from piper. A second one from piper too.")
    page.get_by_label("Voice").select_option("joe")
    page.get_by_role("button", name="Speak").click()
    _answered(page, 1)
    expect(page.locator("#fact-quality")).to_have_text("full quality")  # the real verdict: no fault

    def degrade_the_end(route: Route) -> None:  # fault injection: the real answer, its done event rewritten
        response = route.fetch()
        body = response.text()
        voices = '["joe@piper","espeak-en-us@espeak"]'
        done = f'"degraded":true,"fallback_reason":"piper:crashed","spoken_by":{voices}'
        rewritten = re.sub(r'"degraded":false,"fallback_reason":null,"spoken_by":\[[^\]]*\]', done, body)
        assert rewritten != body, body[-300:]
        route.fulfill(response=response, body=rewritten)

    page.route("**/api/v1/tts", degrade_the_end)
    page.get_by_label("Text", exact=True).fill("One sentence from piper. A second one, degraded this time.")
    page.get_by_role("button", name="Speak").click()
    _answered(page, 2)
    page.unroute("**/api/v1/tts")
    expect(page.locator("#fact-quality")).to_have_text("degraded")
    expect(page.locator("#fact-reason")).to_contain_text("Fallback: Piper")
    expect(page.locator("#fact-spoken-by")).to_have_text("joe@piper, espeak-en-us@espeak")
    expect(page.locator("#progress")).to_contain_text("degraded")
