"""Chapter and book assembly: where each sentence sits in time, and the audio files themselves.

Placement (:func:`timeline`) and rendering (:func:`render`) follow the same rules, so the
chapter index and the captions match the audio to the sample: inside a chapter a short pause
follows each sentence and a longer one each paragraph (the constants of
:mod:`voxgate.audio.assemble`), or the exact pause a segment asks for (a script's turn, an
SSML ``<break>``, also before a chapter's first words); in the book a chapter pause separates
chapters. Sentence captions show the user's words (``SegmentTiming.source``), not the normalised text.

Rendering streams segment by segment (a book of many hours never sits in memory) into a
seekable temporary file, so MP3 gets its gapless LAME header and FLAC its length and MD5.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxgate.audio.assemble import PARAGRAPH_PAUSE_S, SENTENCE_PAUSE_S
from voxgate.audio.formats import format_spec
from voxgate.audio.muxer import AvMuxer
from voxgate.audio.pcm import to_s16le, wav_header
from voxgate.audio.resample import RateAdapter
from voxgate.jobs.files import atomic_writer, read_wav
from voxgate.jobs.models import SegmentTiming
from voxgate.types import AudioFormat

__all__ = ["CHAPTER_PAUSE_S", "ChapterSpan", "Cue", "Piece", "Timeline", "render", "timeline"]

CHAPTER_PAUSE_S = 2.0
"""Silence between two chapters of the book."""

Piece = Path | int
"""One piece of a file to render: a segment's WAV file, or that many samples of silence."""


@dataclass(frozen=True, slots=True)
class Cue:
    """One sentence (segment) in time, for captions (``words``: each word's text, start and end
    in the book, when the segment was timed)."""

    chapter: int
    start_s: float
    end_s: float
    text: str
    words: tuple[tuple[str, float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ChapterSpan:
    """One chapter in the book.

    Attributes:
        n: chapter number, from 1.
        start_s: where it starts in the whole-book file.
        duration_s: its length (also the length of its own file).
        pieces: its segments (as indexes into the job's segment list) and pauses, in order.
    """

    n: int
    start_s: float
    duration_s: float
    pieces: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Timeline:
    """Every chapter and sentence of a book in time.

    Attributes:
        sample_rate: the rate the positions were counted at.
        chapters: the chapters in order.
        cues: one cue per segment, times within the whole book.
        duration_s: the whole book's length.
    """

    sample_rate: int
    chapters: tuple[ChapterSpan, ...]
    cues: tuple[Cue, ...]
    duration_s: float

    def chapter_pieces(self, n: int, segment_files: Sequence[Path]) -> list[Piece]:
        """The pieces of chapter ``n``: its segment files with the pauses between them.

        Args:
            n: the chapter number.
            segment_files: every segment file of the job, by sequence number.
        """
        span = next(s for s in self.chapters if s.n == n)
        return [segment_files[seq] if seq >= 0 else silence for seq, silence in span.pieces]

    def book_pieces(self, segment_files: Sequence[Path]) -> list[Piece]:
        """The pieces of the whole book: every chapter, a chapter pause between two."""
        gap = int(CHAPTER_PAUSE_S * self.sample_rate)
        pieces: list[Piece] = []
        for span in self.chapters:
            if pieces:
                pieces.append(gap)
            pieces.extend(self.chapter_pieces(span.n, segment_files))
        return pieces


def timeline(segments: Sequence[SegmentTiming], sample_rate: int) -> Timeline:
    """Place every segment of a job in time.

    Args:
        segments: the job's segments in order, with their lengths in samples.
        sample_rate: the rate of the segment audio.

    Returns:
        Chapter spans and sentence cues.
    """
    sentence = int(SENTENCE_PAUSE_S * sample_rate)
    paragraph = int(PARAGRAPH_PAUSE_S * sample_rate)
    chapter_gap = int(CHAPTER_PAUSE_S * sample_rate)
    by_chapter: dict[int, list[int]] = {}
    for seq, segment in enumerate(segments):
        by_chapter.setdefault(segment.chapter, []).append(seq)
    spans: list[ChapterSpan] = []
    cues: list[Cue] = []
    book_pos = 0
    for n in sorted(by_chapter):
        if spans:
            book_pos += chapter_gap
        start = book_pos
        pieces: list[tuple[int, int]] = []
        seqs = by_chapter[n]
        for i, seq in enumerate(seqs):
            segment = segments[seq]
            if i == 0 and segment.pause_before_s:  # an SSML <break> before the chapter's first words
                lead = round(segment.pause_before_s * sample_rate)
                pieces.append((-1, lead))
                book_pos += lead
            pieces.append((seq, 0))
            at = book_pos / sample_rate
            words = tuple((w, at + a, at + b) for w, a, b in segment.words)
            text = segment.source or segment.text
            cues.append(Cue(n, at, (book_pos + segment.samples) / sample_rate, text, words))
            book_pos += segment.samples
            if i < len(seqs) - 1:
                exact = segments[seqs[i + 1]].pause_before_s
                pause = paragraph if segment.paragraph_end else sentence
                if exact is not None:  # a script's pause between two turns, an SSML <break>
                    pause = round(exact * sample_rate)
                pieces.append((-1, pause))
                book_pos += pause
        spans.append(ChapterSpan(n, start / sample_rate, (book_pos - start) / sample_rate, tuple(pieces)))
    return Timeline(sample_rate, tuple(spans), tuple(cues), book_pos / sample_rate)


def _samples(pieces: Iterable[Piece], sample_rate: int) -> Iterable[np.ndarray]:
    for piece in pieces:
        if isinstance(piece, int):
            yield np.zeros(piece, dtype=np.float32)
            continue
        audio, rate = read_wav(piece)
        if rate != sample_rate:  # cannot happen with one voice per job; keep the timing honest anyway
            raise ValueError(f"{piece} is at {rate} Hz, the job at {sample_rate} Hz")
        yield audio


def render(pieces: Sequence[Piece], sample_rate: int, fmt: AudioFormat, out: Path) -> int:
    """Write segment files and pauses into one audio file, atomically.

    Args:
        pieces: segment WAV files (at ``sample_rate``) and silences, in order.
        sample_rate: the rate of the segments.
        fmt: the output format.
        out: the file to (re)place.

    Returns:
        The output file's size in bytes.

    Raises:
        OSError: a segment file cannot be read or the output written.
        ValueError: a segment file is damaged or at another rate.
    """
    out_rate = format_spec(fmt).choose_rate(sample_rate)
    with atomic_writer(out) as file:
        if fmt is AudioFormat.WAV:
            file.write(wav_header(sample_rate, 0))
            count = 0
            for audio in _samples(pieces, sample_rate):
                file.write(to_s16le(audio))
                count += len(audio)
            file.seek(0)
            file.write(wav_header(sample_rate, count))
        else:
            adapter = RateAdapter(out_rate)
            muxer = AvMuxer(fmt, out_rate, file, streaming=False)
            try:
                for audio in _samples(pieces, sample_rate):
                    muxer.write(adapter.convert(audio, sample_rate))
                muxer.write(adapter.flush())
                muxer.finish()
            finally:
                muxer.close()
    return out.stat().st_size
