"""Chapter and book assembly: placement in time, rendered files in every job format, index and captions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voxgate.audio.assemble import PARAGRAPH_PAUSE_S, SENTENCE_PAUSE_S
from voxgate.audio.decode import decode
from voxgate.audio.encode import encode
from voxgate.jobs.assemble import CHAPTER_PAUSE_S, render, timeline
from voxgate.jobs.captions import chapter_index, srt, webvtt
from voxgate.jobs.files import JobFiles, atomic_writer, read_wav
from voxgate.jobs.models import ChapterRecord, JobRecord, JobState, SegmentTiming
from voxgate.jobs.plan import JOB_FORMATS
from voxgate.types import AudioFormat

RATE = 16000
LENGTHS = [8000, 4000, 16000, 2000]  # samples: chapter 1 has three segments, chapter 2 one
TIMINGS = [
    SegmentTiming(1, "One.", LENGTHS[0], False),
    SegmentTiming(1, "Two & <three>.", LENGTHS[1], True),
    SegmentTiming(1, "Four.", LENGTHS[2], False),
    SegmentTiming(2, "Five.", LENGTHS[3], False),
]


@pytest.fixture
def segment_files(tmp_path: Path) -> list[Path]:
    """Four WAV segment files of distinct tones, written like the runner writes them."""
    files = JobFiles(tmp_path, "job")
    paths = []
    for seq, n in enumerate(LENGTHS):
        tone = (0.3 * np.sin(2 * np.pi * (220 + 110 * seq) * np.arange(n) / RATE)).astype(np.float32)
        with atomic_writer(files.segment(seq)) as file:
            file.write(encode(tone, RATE, AudioFormat.WAV))
        paths.append(files.segment(seq))
    return paths


def test_timeline_places_sentences_with_sentence_paragraph_and_chapter_pauses() -> None:
    """Short pause after a sentence, long after a paragraph, chapter pause between chapters; none at ends."""
    line = timeline(TIMINGS, RATE)
    sentence, paragraph = int(SENTENCE_PAUSE_S * RATE), int(PARAGRAPH_PAUSE_S * RATE)
    chapter_one = LENGTHS[0] + sentence + LENGTHS[1] + paragraph + LENGTHS[2]
    assert line.chapters[0].duration_s == pytest.approx(chapter_one / RATE)
    assert line.chapters[1].start_s == pytest.approx((chapter_one + CHAPTER_PAUSE_S * RATE) / RATE)
    assert line.duration_s == pytest.approx((chapter_one + CHAPTER_PAUSE_S * RATE + LENGTHS[3]) / RATE)
    starts = [c.start_s for c in line.cues]
    assert starts[1] == pytest.approx((LENGTHS[0] + sentence) / RATE)
    assert starts[2] == pytest.approx((LENGTHS[0] + sentence + LENGTHS[1] + paragraph) / RATE)
    assert all(
        c.end_s - c.start_s == pytest.approx(n / RATE) for c, n in zip(line.cues, LENGTHS, strict=True)
    )


def test_an_ssml_break_before_a_chapters_first_words_is_kept_and_cues_show_the_users_words() -> None:
    """A first segment's exact pause opens its chapter with that much silence (the chapter index does
    not count it as a sentence); a cue shows the segment's source words, not its normalised text."""
    timings = [
        SegmentTiming(1, "Doctor Who.", 8000, False, 0.5, source="Dr. Who."),
        SegmentTiming(1, "Bye.", 4000, False, 0.25),
    ]
    line = timeline(timings, RATE)
    assert line.cues[0].start_s == pytest.approx(0.5)
    assert line.cues[1].start_s == pytest.approx(0.5 + 0.5 + 0.25)
    assert line.chapters[0].duration_s == pytest.approx(0.5 + 0.5 + 0.25 + 0.25)
    assert [c.text for c in line.cues] == ["Dr. Who.", "Bye."]
    assert sum(1 for seq, _ in line.chapters[0].pieces if seq >= 0) == 2


@pytest.mark.parametrize(
    "fmt",
    JOB_FORMATS,
)
def test_rendered_book_and_chapter_last_as_long_as_the_timeline(
    tmp_path: Path, segment_files: list[Path], fmt: AudioFormat
) -> None:
    """Book and chapter files decode to the timeline's durations in every format (lossless: exact samples)."""
    line = timeline(TIMINGS, RATE)
    book = tmp_path / f"book.{fmt.value}"
    render(line.book_pieces(segment_files), RATE, fmt, book)
    audio, rate = decode(book.read_bytes(), fmt, sample_rate=8000)  # the rate is read only for raw G.711
    assert len(audio) / rate == pytest.approx(line.duration_s, abs=0.03)
    chapter = tmp_path / f"chapter.{fmt.value}"
    render(line.chapter_pieces(1, segment_files), RATE, fmt, chapter)
    chapter_audio, chapter_rate = decode(chapter.read_bytes(), fmt, sample_rate=8000)
    assert len(chapter_audio) / chapter_rate == pytest.approx(line.chapters[0].duration_s, abs=0.03)
    if fmt in (AudioFormat.WAV, AudioFormat.FLAC):
        first, _ = read_wav(segment_files[0])
        assert np.array_equal(audio[: len(first)], first)
        gap = audio[len(first) : len(first) + int(SENTENCE_PAUSE_S * RATE)]
        assert not gap.any()
    assert not list(tmp_path.rglob("*.part"))


def test_a_failed_render_leaves_no_file(tmp_path: Path, segment_files: list[Path]) -> None:
    """A damaged segment aborts the render; neither a partial output nor a temporary file is left."""
    segment_files[2].write_bytes(b"RIFF junk")
    out = tmp_path / "book.mp3"
    with pytest.raises(ValueError, match="WAV"):
        render(timeline(TIMINGS, RATE).book_pieces(segment_files), RATE, AudioFormat.MP3, out)
    assert not out.exists()
    assert not list(tmp_path.rglob("*.part"))


def test_index_and_captions_follow_the_timeline() -> None:
    """The index lists chapters with start times and file names; VTT and SRT have one cue per sentence."""
    line = timeline(TIMINGS, RATE)
    job = JobRecord(
        "j1", "me", "My Book", JobState.DONE, "joe", 1.0, AudioFormat.MP3, RATE, "piper",
        None, 0.0, 1.0, 2, 4, 40, True,
    )  # fmt: skip
    chapters = [
        ChapterRecord(1, "Opening", 3, 3, 30, 30, True),
        ChapterRecord(2, "Closing", 1, 1, 5, 5, True),
    ]
    index = chapter_index(job, chapters, line)
    assert index["file"] == "book.mp3"
    assert [(c["n"], c["title"], c["file"], c["sentences"]) for c in index["chapters"]] == [
        (1, "Opening", "chapter-001.mp3", 3),
        (2, "Closing", "chapter-002.mp3", 1),
    ]
    assert index["chapters"][1]["start_s"] == pytest.approx(line.chapters[1].start_s, abs=0.001)
    vtt = webvtt(line)
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:00.500\nOne.\n")
    assert "Two &amp; &lt;three&gt;." in vtt
    subrip = srt(line)
    assert subrip.startswith("1\n00:00:00,000 --> 00:00:00,500\nOne.\n\n2\n00:00:00,700 --> 00:00:00,950\n")
    assert subrip.count(" --> ") == vtt.count(" --> ") == 4
