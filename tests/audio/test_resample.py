"""Resampling keeps frequency and length, is seamless in pieces, and follows rate changes."""

from __future__ import annotations

import numpy as np
import pytest

from voxgate.audio.resample import RateAdapter, Resampler, resample
from voxgate.errors import InvalidOption
from voxgate.types import Audio


def _tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> Audio:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(audio: Audio, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


def _rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


RATE_PAIRS = [(22050, 48000), (24000, 22050), (22050, 16000), (16000, 44100), (48000, 24000), (24000, 8000)]


@pytest.mark.parametrize(("from_rate", "to_rate"), RATE_PAIRS)
def test_resample_keeps_a_1khz_tone_and_the_duration(from_rate: int, to_rate: int) -> None:
    """A 1 kHz tone stays at 1 kHz with its level, and the sample count scales with the rate ratio."""
    tone = _tone(1000, from_rate, 1.0)
    out = resample(tone, from_rate, to_rate)
    assert out.dtype == np.float32
    assert len(out) == round(len(tone) * to_rate / from_rate)
    assert _peak_hz(out, to_rate) == pytest.approx(1000, abs=2)
    assert _rms(out[100:-100]) == pytest.approx(_rms(tone), rel=0.02)


def test_resample_suppresses_aliases_when_downsampling() -> None:
    """A 9 kHz tone, above the 8 kHz Nyquist limit of 16 kHz output, is attenuated by more than 50 dB."""
    out = resample(_tone(9000, 22050, 1.0), 22050, 16000)
    assert 20 * np.log10(_rms(out[200:-200]) / _rms(_tone(9000, 22050, 1.0))) < -50


def test_resample_with_equal_rates_returns_an_independent_copy() -> None:
    """Same-rate resampling returns equal samples that do not alias the input."""
    tone = _tone(440, 22050, 0.1)
    out = resample(tone, 22050, 22050)
    np.testing.assert_array_equal(out, tone)
    out[0] = 1.0
    assert tone[0] == 0.0


def test_resample_of_empty_audio_is_empty() -> None:
    """An empty clip resamples to an empty float32 array."""
    out = resample(np.zeros(0, dtype=np.float32), 22050, 48000)
    assert out.dtype == np.float32
    assert len(out) == 0


@pytest.mark.parametrize(("from_rate", "to_rate"), [(0, 48000), (22050, 1000), (22050, 10**6)])
def test_resample_rejects_bad_rates(from_rate: int, to_rate: int) -> None:
    """Out-of-range rates raise InvalidOption on the sample_rate field."""
    with pytest.raises(InvalidOption) as caught:
        resample(_tone(440, 22050, 0.1), from_rate, to_rate)
    assert caught.value.field == "sample_rate"


def test_stateful_resampler_in_pieces_equals_one_shot() -> None:
    """Feeding a stream in uneven pieces gives exactly the one-shot result (no seams)."""
    tone = _tone(1000, 22050, 1.0)
    converter = Resampler(22050, 48000)
    pieces = [converter.push(piece) for piece in np.split(tone, [1000, 1001, 7000, 15000])]
    streamed = np.concatenate([*pieces, converter.flush()])
    np.testing.assert_allclose(streamed, resample(tone, 22050, 48000), atol=1e-6)
    assert len(converter.flush()) == 0
    with pytest.raises(RuntimeError):
        converter.push(tone)


def test_rate_adapter_joins_pieces_of_mixed_rates_in_order() -> None:
    """Pieces at 24 kHz, 22.05 kHz and 24 kHz again come out at 24 kHz, in order, each at 1 kHz."""
    adapter = RateAdapter(24000)
    pieces = [
        (_tone(1000, 24000, 0.5), 24000),
        (_tone(1000, 22050, 0.5), 22050),
        (_tone(1000, 24000, 0.5), 24000),
    ]
    out = [adapter.convert(audio, rate) for audio, rate in pieces]
    out.append(adapter.flush())
    joined = np.concatenate(out)
    assert len(joined) == 3 * 12000
    for segment in np.split(joined, 3):
        assert _peak_hz(segment, 24000) == pytest.approx(1000, abs=3)
    np.testing.assert_array_equal(out[0], pieces[0][0])  # the stream's own rate passes through


def test_rate_adapter_marks_silence_where_it_was() -> None:
    """A loud piece at another rate followed by silence at the stream rate keeps its place in time."""
    adapter = RateAdapter(48000)
    loud = adapter.convert(_tone(440, 22050, 0.5), 22050)
    rest = adapter.convert(np.zeros(24000, dtype=np.float32), 48000)
    joined = np.concatenate([loud, rest, adapter.flush()])
    assert len(joined) == 48000
    assert _rms(joined[:23900]) > 0.3
    assert _rms(joined[24100:]) < 1e-3
