"""An ``openai`` remote's chunked answer reaches voxgate's stream as it arrives.

Voxgate A (espeak, one worker, every call slowed by a fixed 0.6 s through engines/chaos, 20-character
segments) answers one sentence of B's in several pieces, 0.6 s apart. Voxgate B, with A as its
remote ``a``, streams that sentence: its first audio leaves long before A's last piece.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from voxgate.audio.encode import encode
from voxgate.audio.wav import PcmWavReader, read_pcm_wav
from voxgate.settings import Settings
from voxgate.testing import serve_in_thread
from voxgate.types import AudioFormat

CALL_S = 0.6
SENTENCE = "The birch canoe slid on the smooth planks of the old and quiet harbour"
"""One sentence for B (one segment), four or more for A (20-character segments)."""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """B in front of A; B does not cut its first sentence (first_audio_s is generous)."""
    slow = {"enabled": True, "latency_ms": CALL_S * 1000, "latency_sigma": 0.0}
    remote = Settings.load(
        data_dir=tmp_path_factory.mktemp("a"),
        engines={
            "kokoro": {"enabled": False},
            "piper": {"enabled": False},
            "espeak": {"workers": 1, "chaos": slow},
        },
        text={"max_segment_chars": 20},
        qos={"fallbacks": {"*": ["espeak"]}, "limits": {"default": "100000/minute"}},
    )
    with serve_in_thread(remote) as a_url:
        gateway_settings = Settings.load(
            data_dir=tmp_path_factory.mktemp("b"),
            engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
            qos={"fallbacks": {"*": ["espeak"]}, "first_audio_s": 60.0},
            remotes={
                "a": {
                    "kind": "openai",
                    "url": f"{a_url}/v1",
                    "model": "voxgate",
                    "languages": ["en"],
                    "voices": {"a-us": "espeak-en-us"},
                }
            },
        )
        with serve_in_thread(gateway_settings) as b_url:
            yield b_url


def test_first_audio_leaves_before_the_remote_has_finished(gateway: str) -> None:
    """B's stream of one remote sentence sends audio while A still synthesises it; the whole is intact."""
    body = {"text": SENTENCE, "voice": "a-us", "format": "wav", "stream": True, "deadline_ms": 30_000}
    started = time.monotonic()
    first_audio: float | None = None
    data = b""
    with httpx.stream("POST", f"{gateway}/api/v1/tts", json=body, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["X-Voxgate-Engine"] == "a"
        for part in response.iter_bytes():
            data += part
            if first_audio is None and len(data) > 44 + 4800:  # header and 0.1 s of audio
                first_audio = time.monotonic() - started
    total = time.monotonic() - started
    assert first_audio is not None
    # A needs four or more slowed calls (>= 2.4 s); the first piece comes after about one
    assert total - first_audio > 2 * CALL_S, (first_audio, total)
    audio, rate = read_pcm_wav(data) or (np.zeros(0, dtype=np.float32), 0)
    assert rate == 24000
    assert 2.5 < len(audio) / rate < 10


def test_wav_reader_gives_the_same_samples_whatever_the_byte_split() -> None:
    """A WAV fed in pieces of any size decodes to exactly the samples of the whole file."""
    tone = (0.5 * np.sin(np.arange(24000) / 10)).astype(np.float32)
    data = encode(tone, 24000, AudioFormat.WAV)
    whole = read_pcm_wav(data)
    assert whole is not None
    for step in (1, 7, 45, 4096):
        reader = PcmWavReader()
        pieces = [reader.feed(data[i : i + step]) for i in range(0, len(data), step)]
        assert reader.sample_rate == 24000
        assert np.array_equal(np.concatenate(pieces), whole[0])
    not_pcm = PcmWavReader()
    not_pcm.feed(b"OggS" + bytes(60))
    assert not_pcm.unsupported
