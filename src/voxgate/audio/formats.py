"""What each output format is: MIME type, file extension, and the sample rates it can carry.

This module is pure metadata (no codec is touched), so the API layer can validate a request and
set ``Content-Type`` before any audio exists. :func:`parse_format` turns a client's string into
an :class:`~voxgate.types.AudioFormat`; :meth:`FormatSpec.choose_rate` picks (or validates) the
rate a file of that format will have.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxgate.errors import InvalidOption, UnsupportedFormat
from voxgate.types import AudioFormat

__all__ = [
    "G711_RATES",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "FormatSpec",
    "check_sample_rate",
    "format_spec",
    "parse_format",
]

MIN_SAMPLE_RATE = 8000
"""Lowest sample rate voxgate accepts anywhere (engine output, requested output)."""

MAX_SAMPLE_RATE = 192000
"""Highest sample rate voxgate accepts anywhere."""

_MPEG_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
"""Rates both LAME (MPEG-1/2/2.5 layer III) and FFmpeg's AAC encoder take."""

G711_RATES = (8000, 16000)
"""Rates of G.711 output: 8 kHz (telephony, the default) and 16 kHz (wideband, as Deepgram offers)."""


def check_sample_rate(rate: int, field: str = "sample_rate") -> int:
    """Check that a sample rate is an integer in voxgate's range.

    Args:
        rate: samples per second.
        field: the input name to report in the error.

    Returns:
        ``rate`` unchanged.

    Raises:
        InvalidOption: if ``rate`` is not an integer in [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE].
    """
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise InvalidOption(field, f"sample rate must be an integer, got {rate!r}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InvalidOption(
            field, f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
        )
    return rate


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """Facts about one output format.

    Attributes:
        format: the format this describes.
        mime_type: value for ``Content-Type``.
        extension: file-name extension without the dot.
        rates: the sample rates the codec accepts, ascending; empty means any rate in
            [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE].
        lossy: whether a round trip changes the samples beyond 16-bit quantisation.
        description: one human-readable line.
        preferred_rate: the rate used when the client asks for none, whatever the engine's
            (G.711: 8000, what telephony expects); ``None`` = stay near the engine's rate.
        raw: headerless samples that do not say their rate (a decoder must be told it).
    """

    format: AudioFormat
    mime_type: str
    extension: str
    rates: tuple[int, ...]
    lossy: bool
    description: str
    preferred_rate: int | None = None
    raw: bool = False

    def supports(self, rate: int) -> bool:
        """Say whether a file of this format can have this sample rate.

        Args:
            rate: samples per second.

        Returns:
            True if the format's codec accepts ``rate``.
        """
        if self.rates:
            return rate in self.rates
        return MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE

    def default_rate(self, input_rate: int) -> int:
        """The output rate used when the client asks for none.

        The input rate when the format supports it (no resampling), otherwise the nearest
        supported rate, the higher one on a tie (Opus therefore always gets 48000). A format
        with a :attr:`preferred_rate` always gets that.

        Args:
            input_rate: the rate of the audio to encode.

        Returns:
            A rate this format supports.
        """
        if self.preferred_rate is not None:
            return self.preferred_rate
        if self.supports(input_rate):
            return input_rate
        if not self.rates:
            return min(max(input_rate, MIN_SAMPLE_RATE), MAX_SAMPLE_RATE)
        return min(self.rates, key=lambda rate: (abs(rate - input_rate), -rate))

    def choose_rate(self, input_rate: int, out_rate: int | None = None) -> int:
        """Validate a requested output rate, or pick the default one.

        Args:
            input_rate: the rate of the audio to encode.
            out_rate: the rate the client asked for, or None for :meth:`default_rate`.

        Returns:
            The rate the encoded file will have.

        Raises:
            InvalidOption: ``field="sample_rate"``, if either rate is out of range or the format
                cannot carry ``out_rate``.
        """
        check_sample_rate(input_rate)
        if out_rate is None:
            return self.default_rate(input_rate)
        check_sample_rate(out_rate)
        if not self.supports(out_rate):
            allowed = ", ".join(str(rate) for rate in self.rates)
            raise InvalidOption(
                "sample_rate", f"{self.format.value} cannot have {out_rate} Hz; choose one of {allowed}"
            )
        return out_rate


_SPECS: dict[AudioFormat, FormatSpec] = {
    spec.format: spec
    for spec in (
        FormatSpec(AudioFormat.WAV, "audio/wav", "wav", (), False, "RIFF WAVE, 16-bit PCM, mono"),
        FormatSpec(
            AudioFormat.PCM, "audio/pcm", "pcm", (), False, "raw 16-bit little-endian PCM, mono", raw=True
        ),
        FormatSpec(AudioFormat.FLAC, "audio/flac", "flac", (), False, "FLAC, 16-bit, mono"),
        FormatSpec(AudioFormat.MP3, "audio/mpeg", "mp3", _MPEG_RATES, True, "MP3 (LAME), CBR, mono"),
        FormatSpec(AudioFormat.OPUS, "audio/ogg; codecs=opus", "opus", (48000,), True, "Opus in Ogg, mono"),
        FormatSpec(AudioFormat.AAC, "audio/aac", "aac", _MPEG_RATES, True, "AAC-LC in ADTS, mono"),
        # Raw G.711 bytes, no container: what Twilio media streams, Asterisk (.ulaw/.alaw files),
        # ElevenLabs' ulaw_8000 and Deepgram's container=none give and take; audio/basic is
        # RFC 2046's name for 8 kHz mono mu-law.
        FormatSpec(
            AudioFormat.MULAW, "audio/basic", "ulaw", G711_RATES, True, "G.711 mu-law, raw, mono", 8000, True
        ),
        FormatSpec(
            AudioFormat.ALAW,
            "audio/x-alaw-basic",
            "alaw",
            G711_RATES,
            True,
            "G.711 A-law, raw, mono",
            8000,
            True,
        ),
    )
}


def parse_format(value: str | AudioFormat) -> AudioFormat:
    """Turn a client's format name into an :class:`AudioFormat`.

    Args:
        value: a format name such as ``"mp3"`` (case and surrounding spaces are ignored).

    Returns:
        The matching format.

    Raises:
        UnsupportedFormat: if ``value`` names no format voxgate encodes.
    """
    if isinstance(value, AudioFormat):
        return value
    try:
        return AudioFormat(str(value).strip().lower())
    except ValueError:
        raise UnsupportedFormat(str(value)) from None


def format_spec(fmt: str | AudioFormat) -> FormatSpec:
    """Look up the facts about a format.

    Args:
        fmt: a format or its name.

    Returns:
        The format's :class:`FormatSpec`.

    Raises:
        UnsupportedFormat: if ``fmt`` names no format voxgate encodes.
    """
    return _SPECS[parse_format(fmt)]
