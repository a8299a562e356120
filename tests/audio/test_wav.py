"""The numpy WAV reader agrees with FFmpeg on the WAVs TTS servers send and declines the rest."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np

from voxgate.audio.decode import decode
from voxgate.audio.encode import encode
from voxgate.audio.pcm import wav_header
from voxgate.audio.wav import read_pcm_wav

RATE = 22050
TONE = (0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE // 4) / RATE)).astype(np.float32)


def test_reads_voxgate_wav_as_ffmpeg_does() -> None:
    """A 16-bit mono WAV decodes to the same samples and rate as through FFmpeg."""
    data = encode(TONE, RATE, "wav")
    parsed = read_pcm_wav(data)
    assert parsed is not None
    expected, rate = decode(data, "wav")
    assert parsed[1] == rate == RATE
    np.testing.assert_allclose(parsed[0], expected, atol=1e-6)


def test_reads_a_streamed_wav_to_the_end() -> None:
    """A streamed WAV (sizes 0xFFFFFFFF) is read to the end of the data."""
    body = encode(TONE, RATE, "wav")[44:]
    parsed = read_pcm_wav(wav_header(RATE, None) + body)
    assert parsed is not None
    assert len(parsed[0]) == len(TONE)


def test_mixes_float_stereo_down() -> None:
    """A 32-bit float stereo WAV (format 3, with a LIST chunk first) is mixed down to mono."""
    stereo = np.stack([TONE, TONE * 0]).T.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 2, 24000, 24000 * 8, 8, 32)
    chunks = b"LIST" + struct.pack("<I", 3) + b"abc\0" + b"fmt " + struct.pack("<I", 16) + fmt
    chunks += b"data" + struct.pack("<I", len(stereo)) + stereo
    parsed = read_pcm_wav(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    assert parsed is not None
    assert parsed[1] == 24000
    np.testing.assert_allclose(parsed[0], TONE / 2, atol=1e-6)


def test_declines_what_it_does_not_read() -> None:
    """24-bit PCM and non-WAV data are left to FFmpeg (None)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(3)
        out.setframerate(RATE)
        out.writeframes(b"\0\0\0" * 100)
    assert read_pcm_wav(buffer.getvalue()) is None
    assert read_pcm_wav(b"ID3 not a wav file at all") is None
