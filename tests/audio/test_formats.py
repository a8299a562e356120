"""The format table: names, MIME types, extensions, sample-rate choice and validation."""

from __future__ import annotations

import av
import pytest

from voxgate.audio.formats import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    check_sample_rate,
    format_spec,
    parse_format,
)
from voxgate.audio.muxer import AV_CODECS
from voxgate.errors import InvalidOption, UnsupportedFormat
from voxgate.types import AudioFormat


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("wav", AudioFormat.WAV),
        ("MP3", AudioFormat.MP3),
        (" opus ", AudioFormat.OPUS),
        ("pcm", AudioFormat.PCM),
    ],
)
def test_parse_format_accepts_names_in_any_case(name: str, expected: AudioFormat) -> None:
    """Format names are matched case-insensitively, ignoring surrounding spaces."""
    assert parse_format(name) is expected


@pytest.mark.parametrize("name", ["ogg", "m4a", "", "wave", "mp4"])
def test_parse_format_rejects_unknown_names(name: str) -> None:
    """An unknown format name raises UnsupportedFormat carrying the name."""
    with pytest.raises(UnsupportedFormat) as caught:
        parse_format(name)
    assert caught.value.format == name
    assert caught.value.field == "format"


@pytest.mark.parametrize(
    ("fmt", "mime", "extension"),
    [
        (AudioFormat.WAV, "audio/wav", "wav"),
        (AudioFormat.PCM, "audio/pcm", "pcm"),
        (AudioFormat.FLAC, "audio/flac", "flac"),
        (AudioFormat.MP3, "audio/mpeg", "mp3"),
        (AudioFormat.OPUS, "audio/ogg; codecs=opus", "opus"),
        (AudioFormat.AAC, "audio/aac", "aac"),
        (AudioFormat.MULAW, "audio/basic", "ulaw"),
        (AudioFormat.ALAW, "audio/x-alaw-basic", "alaw"),
    ],
)
def test_every_format_has_mime_type_and_extension(fmt: AudioFormat, mime: str, extension: str) -> None:
    """Each format maps to the MIME type and extension clients expect."""
    spec = format_spec(fmt.value)
    assert (spec.format, spec.mime_type, spec.extension) == (fmt, mime, extension)


@pytest.mark.parametrize(
    ("fmt", "input_rate", "expected"),
    [
        (AudioFormat.WAV, 22050, 22050),
        (AudioFormat.PCM, 24000, 24000),
        (AudioFormat.FLAC, 16000, 16000),
        (AudioFormat.OPUS, 22050, 48000),
        (AudioFormat.OPUS, 48000, 48000),
        (AudioFormat.MP3, 22050, 22050),
        (AudioFormat.MP3, 24000, 24000),
        (AudioFormat.MP3, 20000, 22050),
        (AudioFormat.MP3, 96000, 48000),
        (AudioFormat.AAC, 24000, 24000),
        (AudioFormat.AAC, 23000, 22050),
        (AudioFormat.AAC, 17000, 16000),
        (AudioFormat.MULAW, 22050, 8000),
        (AudioFormat.MULAW, 16000, 8000),
        (AudioFormat.ALAW, 24000, 8000),
    ],
)
def test_default_rate_prefers_input_rate_else_nearest(
    fmt: AudioFormat, input_rate: int, expected: int
) -> None:
    """Without a requested rate, the input rate is kept when possible, else the nearest one (G.711: 8 kHz)."""
    assert format_spec(fmt).choose_rate(input_rate) == expected


@pytest.mark.parametrize(
    ("fmt", "out_rate"),
    [
        (AudioFormat.OPUS, 24000),
        (AudioFormat.MP3, 96000),
        (AudioFormat.AAC, 22000),
        (AudioFormat.WAV, 4000),
        (AudioFormat.MULAW, 22050),
        (AudioFormat.ALAW, 48000),
    ],
)
def test_unsupported_output_rate_is_invalid_option(fmt: AudioFormat, out_rate: int) -> None:
    """Asking for a rate the format cannot carry raises InvalidOption on the sample_rate field."""
    with pytest.raises(InvalidOption) as caught:
        format_spec(fmt).choose_rate(22050, out_rate)
    assert caught.value.field == "sample_rate"


@pytest.mark.parametrize("rate", [0, -22050, MIN_SAMPLE_RATE - 1, MAX_SAMPLE_RATE + 1, 22050.0, True])
def test_check_sample_rate_rejects_out_of_range_or_non_integer(rate: object) -> None:
    """Sample rates must be integers within voxgate's range."""
    with pytest.raises(InvalidOption):
        check_sample_rate(rate)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", list(AV_CODECS))
def test_listed_rates_are_accepted_by_the_pyav_encoder(fmt: AudioFormat) -> None:
    """Every rate the table promises for a compressed format is one PyAV's encoder lists."""
    codec_rates = av.Codec(AV_CODECS[fmt].codec, "w").audio_rates
    spec = format_spec(fmt)
    if codec_rates is not None:
        assert spec.rates
        assert set(spec.rates) <= set(codec_rates)
    else:  # the codec takes any rate: lossless ones offer every rate, G.711 its two usual ones
        assert not spec.rates or spec.format in (AudioFormat.MULAW, AudioFormat.ALAW)
