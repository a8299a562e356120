"""From a client's submission to a :class:`NewJob`: read the upload, split chapters, segment, pick the voice.

Everything here is synchronous and pure CPU (a 2-million-character book takes seconds):
callers on an event loop run :func:`plan_job` in a thread.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePath

from voxgate.audio.formats import format_spec, parse_format
from voxgate.chains import ChainBuilder
from voxgate.errors import EmptyText, InvalidInput, InvalidOption, UnknownVoice
from voxgate.jobs.chapters import MAX_LINE_CHARS, ChapterText, split_chapters
from voxgate.jobs.errors import BadUpload, JobTooLarge
from voxgate.jobs.models import NewChapter, NewJob, NewSegment
from voxgate.jobs.script import NARRATOR, script_turns
from voxgate.text import PreparedText, detect_language, is_speakable
from voxgate.text.dialogue import prepare_dialogue
from voxgate.text.front import prepare_text
from voxgate.text.lexicon import Lexicon
from voxgate.timestamps import WordTimer
from voxgate.types import AudioFormat, VoiceInfo
from voxgate.voices import VoiceCatalog

__all__ = [
    "JOB_FORMATS",
    "TEXT_SUFFIXES",
    "JobSpec",
    "chapters_from_list",
    "chapters_from_text",
    "decode_upload",
    "plan_job",
]

JOB_FORMATS = (
    AudioFormat.MP3,
    AudioFormat.OPUS,
    AudioFormat.FLAC,
    AudioFormat.WAV,
    AudioFormat.MULAW,
    AudioFormat.ALAW,
)
"""Formats a job's chapters and book can have."""

TEXT_SUFFIXES = {".txt": False, ".text": False, ".md": True, ".markdown": True, "": False}
"""Upload file suffixes accepted, and whether they are Markdown."""

MIN_SPEED, MAX_SPEED = 0.5, 2.0


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A submission, validated for shape but not yet for content.

    Attributes:
        chapters: the book, already split into chapters.
        voice: voice id, or ``None`` for the default voice of the book's language.
        speed: speaking rate.
        format: output format name.
        title: a name for the book.
        speak_titles: read each chapter's title before its text.
        script: chapters are scripts (see :mod:`voxgate.jobs.script`).
        speakers: a script's speaker names and their voice ids.
        ssml: every chapter's text is an SSML document (titles stay plain text).
    """

    chapters: tuple[ChapterText, ...]
    voice: str | None = None
    speed: float = 1.0
    format: str = "mp3"
    title: str = ""
    speak_titles: bool = True
    script: bool = False
    speakers: tuple[tuple[str, str], ...] = ()
    ssml: bool = False

    def digest(self) -> str:
        """A hash of everything that shapes the result (to recognise a retried submission)."""
        fields: dict[str, object] = {
            "chapters": [[c.title, c.text] for c in self.chapters],
            "voice": self.voice,
            "speed": self.speed,
            "format": self.format,
            "title": self.title,
            "speak_titles": self.speak_titles,
        }
        if self.script:  # only then, so the digest of every other job is what it was
            fields |= {"script": True, "speakers": [list(pair) for pair in self.speakers]}
        if self.ssml:
            fields["ssml"] = True
        body = json.dumps(fields, ensure_ascii=False)
        return hashlib.sha256(body.encode()).hexdigest()


def check_ssml_markdown(ssml: bool, markdown: bool, field: str) -> None:
    """Markdown clean-up would strip SSML's tags: the two do not mix.

    Raises:
        InvalidInput: both, naming ``field``.
    """
    if ssml and markdown:
        raise InvalidInput(field, "SSML chapters cannot be Markdown: send plain text (a .txt file) with ssml")


def decode_upload(data: bytes, filename: str | None, *, max_chars: int) -> tuple[str, bool]:
    """Read an uploaded book file.

    Args:
        data: the file's bytes.
        filename: its name as uploaded (decides Markdown or plain text).
        max_chars: the job character limit (the file may have at most 4 bytes per character).

    Returns:
        The text and whether it is Markdown.

    Raises:
        BadUpload: the file's type is not text or Markdown, it is binary, or not UTF-8.
        JobTooLarge: the file is larger than the job limit allows.
        EmptyText: the file is empty or has nothing to read.
    """
    suffix = PurePath(filename or "").suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise BadUpload(
            "file", f"{filename!r} is not a .txt or .md file; upload UTF-8 plain text or Markdown"
        )
    if len(data) > 4 * max_chars:
        raise JobTooLarge(len(data), max_chars, field="file", in_bytes=True)
    if not data.strip():
        raise EmptyText("file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadUpload("file", f"{filename!r} is UTF-16 text; save it as UTF-8 and upload it again")
    if b"\x00" in data[:65536]:
        raise BadUpload("file", f"{filename!r} is a binary file, not text; upload a UTF-8 .txt or .md file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadUpload(
            "file",
            f"{filename!r} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 and upload it again",
        ) from exc
    if len(text) > max_chars:
        raise JobTooLarge(len(text), max_chars, field="file")
    if not is_speakable(text):
        raise EmptyText("file")
    return text, TEXT_SUFFIXES[suffix]


def plan_job(
    spec: JobSpec,
    *,
    catalog: VoiceCatalog,
    chains: ChainBuilder,
    max_total_chars: int,
    max_segment_chars: int,
    field: str = "text",
    lexicon: Lexicon | None = None,
) -> NewJob:
    """Validate a submission and segment it.

    Every chapter goes through the front end the native route uses
    (:func:`voxgate.text.front.prepare_text`; a script's turns through
    :func:`voxgate.text.dialogue.prepare_dialogue`), so SSML and every lexicon entry (``say``,
    ``ipa``, ``pinyin``) act as they do there. Each segment keeps its voice, prosody, exact
    pause and phonemes, and the user's words it speaks (for captions). A job with one bad
    chapter is refused whole: nothing is stored.

    Args:
        spec: the submission.
        catalog: every voice (to resolve and check the voice).
        chains: fallback chains (the voice's first engine is the one whose capacity the job shares).
        max_total_chars: the job character limit.
        max_segment_chars: the longest segment handed to an engine.
        field: the input to blame for text problems (``"text"``, ``"chapters"`` or ``"file"``).
        lexicon: the owner's pronunciation lexicon, as it is now (a later change does not
            alter a submitted job).

    Returns:
        The job, ready to insert.

    Raises:
        JobTooLarge: more than ``max_total_chars`` characters.
        EmptyText: nothing speakable in any chapter.
        InvalidInput: malformed SSML in a chapter: naming ``chapters[i].text`` (from 0) or, for a
            whole text or file, the chapter's number in the message; and the line and column.
        UnknownVoice, UnsupportedFormat, InvalidOption: bad options.
    """
    total = sum(len(c.title) + len(c.text) for c in spec.chapters)
    if total > max_total_chars:
        raise JobTooLarge(total, max_total_chars, field=field)
    fmt = parse_format(spec.format)
    if fmt not in JOB_FORMATS:
        raise InvalidOption("format", f"jobs are rendered as {', '.join(f.value for f in JOB_FORMATS)}")
    if not MIN_SPEED <= spec.speed <= MAX_SPEED:
        raise InvalidOption("speed", f"speed must be between {MIN_SPEED} and {MAX_SPEED}")
    voice = catalog.get(spec.voice) if spec.voice else None
    if spec.speakers and not spec.script:
        raise InvalidOption("speakers", "speakers are for scripts: set script to true")
    if spec.ssml and spec.script:
        raise InvalidOption("ssml", "a script is plain text: set ssml or script, not both")
    if spec.script:
        return _plan_script(
            spec, voice, catalog, chains, max_total_chars, max_segment_chars, fmt, field, lexicon
        )
    chapters: list[NewChapter] = []
    languages: Counter[str] = Counter()
    ignored: dict[str, None] = {}

    def front(text: str, *, ssml: bool, where: str) -> list[NewSegment]:
        prepared = prepare_text(
            text,
            ssml=ssml,
            lexicon=lexicon,
            max_chars=max_total_chars,
            max_segment_chars=max_segment_chars,
            known_voice=catalog.has,
            voice_languages=lambda v: catalog.get(v).languages,
            field=where,
        )
        ignored.update(dict.fromkeys(prepared.ignored))
        return _new_segments(prepared, WordTimer(text, prepared, ssml=ssml))

    for n, chapter in enumerate(spec.chapters, start=1):
        speak_title = spec.speak_titles and bool(chapter.title)
        try:
            if spec.ssml:
                segments = _ssml_chapter(chapter, n, speak_title, field, front)
            else:
                spoken = f"{chapter.title}\n\n{chapter.text}" if speak_title else chapter.text
                segments = front(spoken, ssml=False, where=field) if is_speakable(spoken) else []
        except EmptyText:
            continue
        if not segments:
            continue
        chapters.append(NewChapter(chapter.title, tuple(segments)))
        languages.update({s.language: len(s.text) for s in segments})
    if not chapters:
        raise EmptyText(field)
    if voice is None:
        voice = catalog.default_for(languages.most_common(1)[0][0])
    engine = chains.chain(voice, voice.languages[0])[0].engine
    return NewJob(
        title=spec.title,
        voice=voice.id,
        speed=spec.speed,
        format=fmt,
        sample_rate=format_spec(AudioFormat.WAV).choose_rate(voice.sample_rate),
        engine=engine,
        chapters=tuple(chapters),
        request_hash=spec.digest(),
        ignored=tuple(ignored),
    )


def _ssml_chapter(
    chapter: ChapterText,
    n: int,
    speak_title: bool,
    field: str,
    front: Callable[..., list[NewSegment]],
) -> list[NewSegment]:
    """An SSML chapter's segments: its title (plain text) then its document, a paragraph apart.

    Raises:
        InvalidInput: malformed SSML, naming ``chapters[n-1].text``, or ``field`` with the
            chapter's number in the message.
        EmptyText: nothing speakable in the chapter.
    """
    title: list[NewSegment] = []
    if speak_title and is_speakable(chapter.title):
        title = front(chapter.title, ssml=False, where=field)
        title[-1] = replace(title[-1], paragraph_end=True)
    where = f"chapters[{n - 1}].text" if field == "chapters" else field
    try:
        body = front(chapter.text, ssml=True, where=where)
    except EmptyText:
        return title
    except InvalidInput as exc:
        if type(exc) is not InvalidInput or field == "chapters":
            raise
        raise InvalidInput(field, f"chapter {n}: {exc.message}") from exc
    return title + body


def _new_segments(prepared: PreparedText, timer: WordTimer) -> list[NewSegment]:
    """The front end's segments as a job stores them, each with the user's words it speaks."""
    out = []
    for i, s in enumerate(prepared.segments):
        source = timer.source_text(i)
        out.append(
            NewSegment(
                s.text,
                s.language,
                s.paragraph_end,
                s.voice,
                s.pause_before_s,
                source=source if source and source != s.text else None,
                prosody=s.prosody,
                phonemes=s.phonemes,
                alphabet=s.alphabet,
            )
        )
    return out


def _plan_script(
    spec: JobSpec,
    voice: VoiceInfo | None,
    catalog: VoiceCatalog,
    chains: ChainBuilder,
    max_total_chars: int,
    max_segment_chars: int,
    fmt: AudioFormat,
    field: str,
    lexicon: Lexicon | None,
) -> NewJob:
    """:func:`plan_job` for a script: each chapter's turns through the dialogue front end.

    The job's voice (and engine and sample rate) are the narrator's: the ``narrator`` speaker,
    else ``spec.voice``, else the default voice of the book's language. Every segment carries
    its speaker's voice and the exact pause before its turn.
    """
    if not spec.speakers:
        raise InvalidOption("speakers", "a script needs speakers: a map of names to voice ids")
    for name, voice_id in spec.speakers:
        if not catalog.has(voice_id):
            raise UnknownVoice(voice_id, field=f"speakers.{name}")
    narrator_id = next((v for n, v in spec.speakers if n.casefold() == NARRATOR), None)
    if narrator_id is not None:
        voice = catalog.get(narrator_id)
    if voice is None:
        sample = " ".join(c.text[:2000] for c in spec.chapters[:8])
        voice = catalog.default_for(detect_language(sample) if is_speakable(sample) else "en")
    chapters: list[NewChapter] = []
    for n, chapter in enumerate(spec.chapters, start=1):
        title = chapter.title if spec.speak_titles else ""
        turns = script_turns(
            chapter.text, dict(spec.speakers), narrator=voice.id, title=title, chapter=n, field=field
        )
        if not turns:
            continue
        prepared = prepare_dialogue(
            turns,
            max_chars=max_total_chars,
            max_segment_chars=max_segment_chars,
            known_voice=catalog.has,
            voice_languages=lambda v: catalog.get(v).languages,
            field=field,
            max_turns=max_total_chars,
            lexicon=lexicon if lexicon is not None and len(lexicon) else None,
        )
        timer = WordTimer("", prepared, ssml=False, dialogue=turns)
        chapters.append(NewChapter(chapter.title, tuple(_new_segments(prepared, timer))))
    if not chapters:
        raise EmptyText(field)
    return NewJob(
        title=spec.title,
        voice=voice.id,
        speed=spec.speed,
        format=fmt,
        sample_rate=format_spec(AudioFormat.WAV).choose_rate(voice.sample_rate),
        engine=chains.chain(voice, voice.languages[0])[0].engine,
        chapters=tuple(chapters),
        request_hash=spec.digest(),
    )


def chapters_from_text(
    text: str, *, markdown: bool, max_line_chars: int = MAX_LINE_CHARS
) -> tuple[ChapterText, ...]:
    """Split a whole-book text into chapters (see :func:`split_chapters`); CPU-bound, linear."""
    return tuple(split_chapters(text, markdown=markdown, max_line_chars=max_line_chars))


def chapters_from_list(items: Sequence[tuple[str, str]]) -> tuple[ChapterText, ...]:
    """Chapters a client listed as (title, text) pairs.

    Raises:
        InvalidInput: ``field="chapters"`` if the list is empty.
    """
    if not items:
        raise InvalidInput("chapters", "give at least one chapter")
    return tuple(ChapterText(title.strip(), text) for title, text in items)
