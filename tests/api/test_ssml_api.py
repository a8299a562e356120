"""SSML over HTTP, measured on the audio: breaks, rate, volume, pitch, voices, errors, hostile input."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from voxgate.audio.decode import decode
from voxgate.settings import Settings
from voxgate.testing import serve_in_thread

ESPEAK = "espeak-en-us"
SENTENCE = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def base_url(api_settings: Callable[..., Settings]) -> Iterator[str]:
    """One real server for the module: piper and espeak, one worker each, a 10 000-character limit.

    piper speaks without noise, so two syntheses of one sentence differ only by what SSML asked
    (with its default noise the same sentence's median F0 varies by ~2 st from call to call).
    """
    piper = {"noise_scale": 0.0, "noise_w_scale": 0.0}
    with serve_in_thread(api_settings(text={"max_chars": 10_000}, engines={"piper": piper})) as url:
        yield url


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def _tts(http: httpx.Client, ssml: str, voice: str = ESPEAK, **fields: Any) -> httpx.Response:
    return http.post("/api/v1/tts", json={"text": ssml, "voice": voice, "format": "wav", **fields})


def _audio(response: httpx.Response) -> tuple[np.ndarray, int]:
    assert response.status_code == 200, response.text
    audio, rate = decode(response.content, "wav")
    return audio, rate


def _longest_silence_s(audio: np.ndarray, rate: int, threshold: float = 1e-3) -> float:
    """The longest run of samples quieter than ``threshold`` (edges excluded)."""
    loud = np.flatnonzero(np.abs(audio) >= threshold)
    if len(loud) < 2:
        return 0.0
    return float(np.max(np.diff(loud))) / rate


def _f0(audio: np.ndarray, rate: int) -> float:
    """Median F0 of the voiced 40 ms frames, by autocorrelation."""
    frame, found = int(0.04 * rate), []
    for start in range(0, len(audio) - frame, frame // 2):
        x = audio[start : start + frame] - audio[start : start + frame].mean()
        if np.sqrt((x**2).mean()) < 0.02:
            continue
        ac = np.correlate(x, x, "full")[frame - 1 :]
        lo, hi = rate // 800, rate // 60
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            found.append(rate / lag)
    return float(np.median(found))


def test_a_break_is_silence_of_the_requested_length(http: httpx.Client) -> None:
    """<break time="1200ms"/> adds 1.2 s ± 50 ms to the longest silence, measured on the audio."""
    with_break = _audio(_tts(http, '<speak>Seven apples <break time="1200ms"/> nine pears.</speak>'))
    without = _audio(_tts(http, '<speak>Seven apples <break time="0ms"/> nine pears.</speak>'))
    extra = _longest_silence_s(*with_break) - _longest_silence_s(*without)
    assert abs(extra - 1.2) <= 0.05


def test_prosody_rate_changes_the_duration(http: httpx.Client) -> None:
    """rate 50% is several times longer than rate 200% (ideally 4x; espeak is not linear)."""
    slow, _ = _audio(_tts(http, f'<speak><prosody rate="50%">{SENTENCE}</prosody></speak>'))
    fast, _ = _audio(_tts(http, f'<speak><prosody rate="200%">{SENTENCE}</prosody></speak>'))
    assert 2.0 < len(slow) / len(fast) < 6.0


def test_prosody_volume_minus_6_db_halves_the_rms(http: httpx.Client) -> None:
    """volume -6dB → RMS x0.5 (±10 %) of the same words at the default volume."""
    loud, _ = _audio(_tts(http, f"<speak>{SENTENCE}</speak>"))
    quiet, _ = _audio(_tts(http, f'<speak><prosody volume="-6dB">{SENTENCE}</prosody></speak>'))
    ratio = float(np.sqrt(np.mean(quiet**2)) / np.sqrt(np.mean(loud**2)))
    assert ratio == pytest.approx(10 ** (-6 / 20), rel=0.1)


def test_prosody_pitch_raises_espeak_f0(http: httpx.Client) -> None:
    """pitch +6st raises espeak's median F0 by 6 st ± 2 (its own pitch parameter)."""
    plain = _audio(_tts(http, f"<speak>{SENTENCE}</speak>"))
    high = _audio(_tts(http, f'<speak><prosody pitch="+6st">{SENTENCE}</prosody></speak>'))
    shift = 12 * math.log2(_f0(*high) / _f0(*plain))
    assert 4.0 <= shift <= 8.0


def test_a_voice_switch_uses_both_voices_and_engines(http: httpx.Client) -> None:
    """<voice name> switches voice and chain mid-text: piper speaks the first half, espeak the second."""
    response = _tts(
        http, f'<speak>Hello from Joe. <voice name="{ESPEAK}">And hello from espeak.</voice></speak>', "joe"
    )
    _audio(response)
    assert response.headers["x-voxgate-spoken-by"] == f"joe@piper,{ESPEAK}@espeak"


def test_unknown_tags_and_attributes_are_listed_as_ignored(http: httpx.Client) -> None:
    """An unknown element (its text still spoken) and an unknown attribute → X-Voxgate-Ignored."""
    response = _tts(http, '<speak><prosody contour="(0%,+5Hz)">One</prosody> <whisper>two</whisper></speak>')
    _audio(response)
    assert response.headers["x-voxgate-ignored"] == "ssml:prosody@contour,ssml:whisper"


def test_prosody_changes_the_cache_key(http: httpx.Client) -> None:
    """The same words with another rate are not a cache hit; the same document again is."""
    first = _tts(http, "<speak>Cache me.</speak>")
    again = _tts(http, "<speak>Cache me.</speak>")
    faster = _tts(http, '<speak><prosody rate="fast">Cache me.</prosody></speak>')
    assert [r.headers["x-voxgate-cache"] for r in (first, again, faster)] == ["miss", "hit", "miss"]


@pytest.mark.parametrize(
    ("ssml", "where"),
    [
        ("<speak>\n  Hello <b>world\n</speak>", "line 3, column 3"),
        ('<speak><voice name="nobody">x</voice></speak>', "'nobody'"),
    ],
)
def test_bad_ssml_is_a_422_naming_text_and_the_position(http: httpx.Client, ssml: str, where: str) -> None:
    """Malformed XML or an unknown voice → 422 naming ``text``, with the line and column (or the voice)."""
    response = _tts(http, ssml)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "text"
    assert where in error["message"]


HOSTILE = {
    "bomb": '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY a{i} "{"&a;" * 10}">' for i in range(10))
    + "]><speak>&a9;</speak>",
    "external": '<!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>',
    "deep": "<speak>" + "<s>" * 10_000 + "x" + "</s>" * 10_000 + "</speak>",
}


def test_hostile_documents_get_a_fast_4xx_while_healthz_answers(http: httpx.Client, base_url: str) -> None:
    """A billion-laughs bomb, an external entity, 10 000-deep nesting → fast 4xx; /healthz keeps answering."""
    statuses: dict[str, int] = {}
    health: list[int] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=base_url, timeout=10) as client:
            while not stop.is_set():
                health.append(client.get("/healthz").status_code)
                time.sleep(0.05)

    def wait_for(count: int) -> None:
        limit = time.monotonic() + 10
        while len(health) < count and time.monotonic() < limit:
            time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        wait_for(1)
        started = time.perf_counter()
        for name, document in HOSTILE.items():
            statuses[name] = _tts(http, document).status_code
        elapsed = time.perf_counter() - started
        wait_for(len(health) + 2)
    finally:
        stop.set()
        prober.join()
    assert elapsed < 10  # a huge margin: each is refused at parse time
    assert all(400 <= s < 500 for s in statuses.values()), statuses
    assert len(health) >= 3
    assert set(health) == {200}


@pytest.mark.parametrize("stream", [False, True])
def test_breaks_adding_up_past_five_minutes_are_a_fast_422(http: httpx.Client, stream: bool) -> None:
    """31 ten-second breaks (310 s of silence) → 422 naming ``text`` at once, whole or streamed.

    16 KB of markup holds 800 such breaks: over two hours of silence, 2 GB in the gateway and its
    event loop held for seconds (bench/input_load.py ``ssml-breaks``) before the bound.
    """
    document = "<speak>Hello." + '<break time="10s"/>' * 31 + "</speak>"
    started = time.perf_counter()
    response = _tts(http, document, stream=stream)
    assert time.perf_counter() - started < 10  # a huge margin: refused before any synthesis
    assert response.status_code == 422, response.status_code
    error = response.json()["error"]
    assert error["field"] == "text"
    assert "310 s of silence" in error["message"]


def test_openai_input_takes_ssml(http: httpx.Client) -> None:
    """OpenAI ``input`` starting with <speak is SSML; its errors name ``input``."""
    body = {"model": "tts-1", "voice": ESPEAK, "response_format": "wav"}
    response = http.post("/v1/audio/speech", json={**body, "input": "<speak>One <foo>two</foo></speak>"})
    assert response.status_code == 200
    assert response.headers["x-voxgate-ignored"] == "ssml:foo"
    bad = http.post("/v1/audio/speech", json={**body, "input": "<speak>One <b>two</speak>"})
    assert bad.status_code == 422
    assert bad.json()["error"]["param"] == "input"
    assert "line 1, column" in bad.json()["error"]["message"]


def test_phonemes_reach_piper_and_are_reported_ignored_by_espeak(http: httpx.Client) -> None:
    """<phoneme alphabet="ipa"> is spoken by piper from its phonemes; espeak speaks the text and says so."""
    ssml = '<speak>Say <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme>.</speak>'
    by_piper = _tts(http, ssml, "joe")
    _audio(by_piper)
    assert "x-voxgate-ignored" not in by_piper.headers
    by_espeak = _tts(http, ssml)
    _audio(by_espeak)
    assert by_espeak.headers["x-voxgate-ignored"] == "ssml:phoneme"


def test_prosody_pitch_shifts_piper_by_resampling(http: httpx.Client) -> None:
    """piper has no pitch control: +5st is a resample shift, median F0 up 5 st ± 2, duration within 10 %."""
    plain, rate = _audio(_tts(http, f"<speak>{SENTENCE}</speak>", "joe"))
    high, _ = _audio(_tts(http, f'<speak><prosody pitch="+5st">{SENTENCE}</prosody></speak>', "joe"))
    assert 3.0 <= 12 * math.log2(_f0(high, rate) / _f0(plain, rate)) <= 7.0
    assert len(high) / len(plain) == pytest.approx(1.0, rel=0.1)


def test_streamed_ssml_has_the_same_exact_pauses(http: httpx.Client) -> None:
    """Leading, inner and trailing breaks: streamed and whole answers are equally long, 1.0 s over plain."""
    breaks = '<speak><break time="300ms"/>One. <break time="700ms"/>Two.<break time="200ms"/></speak>'
    plain = "<speak>One. Two.</speak>"
    fields = {"format": "pcm", "sample_rate": 16000}

    def samples(ssml: str, stream: bool) -> int:
        response = _tts(http, ssml, **fields, stream=stream)
        assert response.status_code == 200, response.text
        return len(response.content) // 2

    whole, streamed = samples(breaks, False), samples(breaks, True)
    assert whole == streamed
    assert (whole - samples(plain, False)) / 16000 == pytest.approx(1.0, abs=0.01)
