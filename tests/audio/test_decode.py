"""Decoding: typed errors for bad input, PCM needs its rate, channels are mixed down."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from voxgate.audio.decode import decode
from voxgate.audio.encode import encode
from voxgate.audio.formats import format_spec
from voxgate.errors import InvalidInput, InvalidOption, UnsupportedFormat
from voxgate.types import AudioFormat


@pytest.mark.parametrize("fmt", [f for f in AudioFormat if not format_spec(f).raw])
def test_decode_of_garbage_raises_invalid_input(fmt: AudioFormat) -> None:
    """Bytes that are not a file of the format raise InvalidInput on the audio field."""
    with pytest.raises(InvalidInput) as caught:
        decode(b"this is not audio at all" * 10, fmt)
    assert caught.value.field == "audio"


@pytest.mark.parametrize("fmt", [AudioFormat.MULAW, AudioFormat.ALAW])
def test_g711_needs_a_rate_and_round_trips_a_tone(fmt: AudioFormat) -> None:
    """Raw G.711 carries no rate; told it, a 22.05 kHz tone comes back 8 kHz, as long and as loud."""
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)).astype(np.float32)
    data = encode(tone, 22050, fmt)
    assert len(data) == 8000  # one byte per sample, 8 kHz by default, no header
    with pytest.raises(InvalidOption):
        decode(data, fmt)
    audio, rate = decode(data, fmt, sample_rate=8000)
    assert rate == 8000
    assert len(audio) == 8000
    assert float(np.sqrt(np.mean(audio**2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_decode_of_pcm_needs_a_sample_rate() -> None:
    """Raw PCM carries no rate, so decoding it without one raises InvalidOption."""
    data = encode(np.zeros(100, dtype=np.float32), 22050, AudioFormat.PCM)
    with pytest.raises(InvalidOption):
        decode(data, AudioFormat.PCM)
    audio, rate = decode(data, "pcm", sample_rate=16000)
    assert (len(audio), rate) == (100, 16000)


def test_decode_rejects_unknown_format() -> None:
    """An unknown format name raises UnsupportedFormat."""
    with pytest.raises(UnsupportedFormat):
        decode(b"", "webm")


def test_decode_mixes_stereo_down_to_mono() -> None:
    """A stereo WAV (left tone, right silence) decodes to one channel carrying the tone."""
    rate = 16000
    left = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="stereo")
        planes = np.stack([left, np.zeros_like(left)])
        frame = av.AudioFrame.from_ndarray(
            (planes.T.reshape(1, -1) * 32767).astype(np.int16), format="s16", layout="stereo"
        )
        frame.sample_rate = rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    audio, decoded_rate = decode(buffer.getvalue(), AudioFormat.WAV)
    assert audio.ndim == 1
    assert decoded_rate == rate
    assert len(audio) == rate
    assert 0.1 < float(np.sqrt(np.mean(audio**2))) < 0.36
