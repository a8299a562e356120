"""Sample-rate conversion with libswresample (through PyAV).

libswresample's default windowed-sinc filter keeps the pass band flat to ~0.9 of the lower
Nyquist frequency and attenuates aliases by 60 dB right past it and ~95 dB further out, which is
ample for speech, and it runs in C at hundreds of times real time.

- :func:`resample` converts a whole clip.
- :class:`Resampler` converts a continuous stream in pieces (no clicks at piece boundaries).
- :class:`RateAdapter` brings pieces of *varying* input rates to one output rate, as a stream
  that falls back from a 24 kHz engine to a 22.05 kHz one needs.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from voxgate.audio.formats import check_sample_rate
from voxgate.types import Audio

__all__ = ["RateAdapter", "Resampler", "resample"]

_EMPTY: Audio = np.zeros(0, dtype=np.float32)


def _join(frames: list[av.AudioFrame]) -> Audio:
    """Concatenate mono float frames into one new array."""
    if not frames:
        return _EMPTY.copy()
    return np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames]).astype(np.float32, copy=False)


class Resampler:
    """Stateful converter of one mono float32 stream from ``from_rate`` to ``to_rate``.

    Output lags input by a few samples (the filter's half length); :meth:`flush` returns the
    rest. The total output of a stream equals :func:`resample` of the whole stream.
    Not thread-safe; use one per stream.

    Args:
        from_rate: input samples per second.
        to_rate: output samples per second.

    Raises:
        InvalidOption: ``field="sample_rate"``, if a rate is out of range.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = check_sample_rate(from_rate)
        self.to_rate = check_sample_rate(to_rate)
        self._swr = av.AudioResampler(format="flt", layout="mono", rate=to_rate)
        self._time_base = Fraction(1, from_rate)
        self._pts = 0
        self._flushed = False

    def push(self, audio: Audio) -> Audio:
        """Convert the next piece of the stream.

        Args:
            audio: mono float32 samples at ``from_rate``.

        Returns:
            The output samples ready so far (possibly none).

        Raises:
            RuntimeError: if called after :meth:`flush`.
        """
        if self._flushed:
            raise RuntimeError("Resampler.push() after flush()")
        if len(audio) == 0:
            return _EMPTY.copy()
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = self.from_rate
        frame.time_base = self._time_base
        frame.pts = self._pts
        self._pts += samples.shape[1]
        return _join(self._swr.resample(frame))

    def flush(self) -> Audio:
        """End the stream.

        Returns:
            The output samples still held in the filter. Calling it again returns nothing.
        """
        if self._flushed:
            return _EMPTY.copy()
        self._flushed = True
        return _join(self._swr.resample(None))


def resample(audio: Audio, from_rate: int, to_rate: int) -> Audio:
    """Convert a whole mono clip to another sample rate.

    Args:
        audio: mono float32 samples at ``from_rate``.
        from_rate: input samples per second.
        to_rate: output samples per second.

    Returns:
        ``round(len(audio) * to_rate / from_rate)`` float32 samples (a copy when the rates match).

    Raises:
        InvalidOption: ``field="sample_rate"``, if a rate is out of range.
    """
    check_sample_rate(from_rate)
    check_sample_rate(to_rate)
    if from_rate == to_rate:
        return np.array(audio, dtype=np.float32)
    converter = Resampler(from_rate, to_rate)
    head = converter.push(audio)
    return np.concatenate([head, converter.flush()])


class RateAdapter:
    """Brings pieces of any input rate to one output rate, keeping each run of equal rates seamless.

    Pieces at the output rate pass through untouched. When the input rate changes, the filter
    of the previous rate is flushed first, so sample order is kept.

    Args:
        out_rate: the rate every output sample has.

    Raises:
        InvalidOption: ``field="sample_rate"``, if ``out_rate`` is out of range.
    """

    def __init__(self, out_rate: int) -> None:
        self.out_rate = check_sample_rate(out_rate)
        self._current: Resampler | None = None

    def convert(self, audio: Audio, sample_rate: int) -> Audio:
        """Convert the next piece.

        Args:
            audio: mono float32 samples.
            sample_rate: the rate of ``audio``.

        Returns:
            Output samples ready so far, at ``out_rate``.

        Raises:
            InvalidOption: ``field="sample_rate"``, if ``sample_rate`` is out of range.
        """
        check_sample_rate(sample_rate)
        current = self._current
        if current is not None and current.from_rate == sample_rate:
            return current.push(audio)
        tail = self.flush()
        if sample_rate == self.out_rate:
            body = np.asarray(audio, dtype=np.float32)
        else:
            self._current = Resampler(sample_rate, self.out_rate)
            body = self._current.push(audio)
        return np.concatenate([tail, body]) if len(tail) else body

    def flush(self) -> Audio:
        """Return what the current filter still holds and forget it.

        Returns:
            Output samples at ``out_rate`` (often a few dozen; none after a pass-through piece).
        """
        current, self._current = self._current, None
        return current.flush() if current is not None else _EMPTY.copy()
