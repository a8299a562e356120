"""Reading uploads and planning jobs: encodings, limits, voices, formats, segmentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxgate.errors import EmptyText, InvalidInput, InvalidOption, UnknownVoice
from voxgate.jobs.chapters import ChapterText
from voxgate.jobs.errors import BadUpload, JobTooLarge
from voxgate.jobs.models import NewJob
from voxgate.jobs.plan import JobSpec, decode_upload, plan_job
from voxgate.service import Synthesizer
from voxgate.settings import Settings
from voxgate.text.lexicon import Lexicon, LexiconEntry
from voxgate.types import AudioFormat
from voxgate.wiring import build_synthesizer


@pytest.fixture(scope="module")
def synth(data_dir: Path) -> Synthesizer:
    """A Synthesizer that is built but never started (catalog and chains only; no workers)."""
    return build_synthesizer(Settings.load(data_dir=data_dir))


def _plan(synth: Synthesizer, spec: JobSpec, max_total_chars: int = 10_000) -> NewJob:
    return plan_job(
        spec,
        catalog=synth.catalog,
        chains=synth.chains,
        max_total_chars=max_total_chars,
        max_segment_chars=250,
    )


def test_utf8_text_and_markdown_are_read() -> None:
    """UTF-8 (with or without BOM) is decoded; .md files are flagged Markdown, .txt not."""
    assert decode_upload("Hello 你好.".encode(), "a.txt", max_chars=100) == ("Hello 你好.", False)
    assert decode_upload(b"\xef\xbb\xbf# T\nx", "b.md", max_chars=100) == ("# T\nx", True)


@pytest.mark.parametrize(
    ("data", "name", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "book.txt", "binary"),
        ("Caf\u00e9 cr\u00e8me".encode("latin-1"), "book.txt", "not UTF-8 (byte 0xe9 at offset 3)"),
        ("Hello".encode("utf-16"), "book.txt", "UTF-16"),
        (b"%PDF-1.7 ...", "book.pdf", "not a .txt or .md file"),
    ],
)
def test_bad_uploads_name_the_problem(data: bytes, name: str, needle: str) -> None:
    """Binary, Latin-1, UTF-16 and non-text files are refused with a message that says which."""
    with pytest.raises(BadUpload) as info:
        decode_upload(data, name, max_chars=1000)
    assert info.value.field == "file"
    assert needle in info.value.message


def test_empty_and_oversized_uploads_are_refused() -> None:
    """An empty or blank file is EmptyText; one over the limit is JobTooLarge, both on field 'file'."""
    for data in (b"", b"  \n\n \t"):
        with pytest.raises(EmptyText):
            decode_upload(data, "a.txt", max_chars=100)
    with pytest.raises(JobTooLarge) as info:
        decode_upload(b"word " * 30, "a.txt", max_chars=100)
    assert (info.value.field, info.value.length, info.value.limit) == ("file", 150, 100)
    assert "150 characters" in info.value.message
    with pytest.raises(JobTooLarge) as raw:
        decode_upload(b"word " * 100, "a.txt", max_chars=100)
    assert "500 bytes, more than 4 per allowed character" in raw.value.message


def test_plan_segments_chapters_and_speaks_titles(synth: Synthesizer) -> None:
    """Each chapter is segmented by the text front end with its title read first; numbers are spoken."""
    spec = JobSpec(
        (ChapterText("Chapter 1", "It cost $3. Then we left.\n\nNew paragraph."), ChapterText("Two", "End.")),
        voice="joe",
        format="opus",
    )
    job = _plan(synth, spec)
    assert job.voice == "joe"
    assert job.engine == "piper"
    assert job.format is AudioFormat.OPUS
    assert job.sample_rate == 22050
    first = job.chapters[0].segments
    assert [s.text for s in first] == [
        "Chapter one",
        "It cost three dollars.",
        "Then we left.",
        "New paragraph.",
    ]
    assert [s.paragraph_end for s in first] == [True, False, True, False]
    assert [s.text for s in job.chapters[1].segments] == ["Two", "End."]


def test_default_voice_follows_the_book_language(synth: Synthesizer) -> None:
    """No voice: a Chinese book gets the Chinese default voice, an English one the English default."""
    zh = _plan(synth, JobSpec((ChapterText("第一章", "今天天气很好。"),)))
    en = _plan(synth, JobSpec((ChapterText("", "The weather is fine today."),)))
    assert zh.voice == synth.catalog.default_for("zh").id
    assert en.voice == "joe"


def test_titles_can_be_left_unspoken_and_empty_chapters_dropped(synth: Synthesizer) -> None:
    """speak_titles=False reads bodies only; a chapter with nothing to say is dropped."""
    spec = JobSpec((ChapterText("Title", "Body."), ChapterText("Empty", "  ...  ")), speak_titles=False)
    job = _plan(synth, spec)
    assert [[s.text for s in c.segments] for c in job.chapters] == [["Body."]]


@pytest.mark.parametrize(
    ("spec", "error", "field"),
    [
        (JobSpec((ChapterText("", "x" * 101),)), JobTooLarge, "text"),
        (JobSpec((ChapterText("", "... !!!"),)), EmptyText, "text"),
        (JobSpec((ChapterText("", "Hi."),), voice="nobody"), UnknownVoice, "voice"),
        (JobSpec((ChapterText("", "Hi."),), format="aac"), InvalidOption, "format"),
        (JobSpec((ChapterText("", "Hi."),), speed=3.0), InvalidOption, "speed"),
    ],
)
def test_invalid_jobs_are_refused_naming_the_field(
    synth: Synthesizer, spec: JobSpec, error: type[Exception], field: str
) -> None:
    """Too long, empty, unknown voice, unsupported format or speed: a typed error naming the field."""
    with pytest.raises(error) as info:
        _plan(synth, spec, max_total_chars=100)
    assert getattr(info.value, "field", None) == field


def test_digest_tells_requests_apart() -> None:
    """The same submission hashes the same; any change of text or option changes the hash."""
    base = JobSpec((ChapterText("", "Hi."),))
    assert base.digest() == JobSpec((ChapterText("", "Hi."),)).digest()
    assert base.digest() != JobSpec((ChapterText("", "Hi!"),)).digest()
    assert base.digest() != JobSpec((ChapterText("", "Hi."),), speed=1.1).digest()


SSML_CHAPTER = (
    '<speak>Dr. Smith paid $3.50.<break time="700ms"/>'
    '<prosody rate="slow" volume="+6dB">Slowly now.</prosody>'
    '<voice name="espeak-en-us">Another voice.</voice><foo>Dropped tag.</foo></speak>'
)


def test_ssml_chapters_keep_breaks_prosody_voices_and_the_users_words(synth: Synthesizer) -> None:
    """ssml: a chapter's <break>, <prosody> and <voice> are on its segments, the title stays plain text,
    dropped tags are listed, and each segment keeps the user's words ("$3.50") for captions."""
    spec = JobSpec((ChapterText("Chapter 1", SSML_CHAPTER),), voice="joe", ssml=True)
    job = _plan(synth, spec)
    segments = job.chapters[0].segments
    assert [s.text for s in segments] == [
        "Chapter one",
        "Doctor Smith paid three dollars and fifty cents.",
        "Slowly now.",
        "Another voice.",
        "Dropped tag.",
    ]
    assert segments[0].paragraph_end is True
    assert [s.source for s in segments[:2]] == ["Chapter 1", "Dr. Smith paid $3.50."]
    assert segments[2].pause_before_s == pytest.approx(0.7)
    assert segments[2].prosody.rate < 1.0
    assert segments[2].prosody.volume_db == pytest.approx(6.0)
    assert segments[3].voice == "espeak-en-us"
    assert job.ignored == ("ssml:foo",)
    assert job.request_hash != JobSpec((ChapterText("Chapter 1", SSML_CHAPTER),), voice="joe").digest()


@pytest.mark.parametrize(
    ("field", "expected_field", "needle"),
    [
        ("chapters", "chapters[1].text", "line 2, column"),
        ("text", "text", "chapter 2: malformed SSML at line 2"),
    ],
)
def test_a_malformed_ssml_chapter_refuses_the_whole_job_naming_it(
    synth: Synthesizer, field: str, expected_field: str, needle: str
) -> None:
    """A bad second chapter → InvalidInput naming chapters[1].text (a list) or the chapter's number (a
    whole text), with the line and column inside that chapter's document."""
    spec = JobSpec(
        (ChapterText("", "<speak>Fine.</speak>"), ChapterText("", "<speak>Broken\n<p>here</speak>")),
        ssml=True,
    )
    with pytest.raises(InvalidInput) as info:
        plan_job(
            spec,
            catalog=synth.catalog,
            chains=synth.chains,
            max_total_chars=10_000,
            max_segment_chars=250,
            field=field,
        )
    assert info.value.field == expected_field
    assert needle in info.value.message


def test_ssml_and_script_together_are_refused(synth: Synthesizer) -> None:
    """A script is plain 'Name: text' lines: asking for SSML too is an InvalidOption naming ssml."""
    spec = JobSpec((ChapterText("", "Alice: Hi."),), script=True, speakers=(("Alice", "joe"),), ssml=True)
    with pytest.raises(InvalidOption) as info:
        _plan(synth, spec)
    assert info.value.field == "ssml"


def test_lexicon_phoneme_entries_reach_job_segments(synth: Synthesizer) -> None:
    """ipa and pinyin entries become the segment's phonemes in plain and script chapters (not only say
    entries), as on the native route."""
    lexicon = Lexicon(
        [
            LexiconEntry("Zork", ipa="zɔɹk"),
            LexiconEntry("行", pinyin="hang2"),
            LexiconEntry("NASA", say="nasa"),
        ]
    )

    def plan(spec: JobSpec) -> NewJob:
        return plan_job(
            spec,
            catalog=synth.catalog,
            chains=synth.chains,
            max_total_chars=10_000,
            max_segment_chars=250,
            lexicon=lexicon,
        )

    plain = plan(JobSpec((ChapterText("", "NASA met Zork today."),), voice="joe")).chapters[0].segments
    assert ("Zork", "zɔɹk", "ipa") in [(s.text, s.phonemes, s.alphabet) for s in plain]
    assert "nasa met" in " ".join(s.text for s in plain)
    assert plain[0].source == "NASA met"
    script = (
        plan(JobSpec((ChapterText("", "Ann: 银行 and Zork."),), script=True, speakers=(("Ann", "joe"),)))
        .chapters[0]
        .segments
    )
    assert {(s.phonemes, s.alphabet) for s in script if s.phonemes} == {("hang2", "pinyin"), ("zɔɹk", "ipa")}
