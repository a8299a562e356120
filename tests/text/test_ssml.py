"""SSML parsing and its front end: items, say-as, pauses, errors with positions, hostile documents."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxgate.errors import InvalidInput, TextTooLong
from voxgate.text import prepare
from voxgate.text.say_as import say_as
from voxgate.text.ssml import SsmlBreak, SsmlText, is_ssml, parse_ssml
from voxgate.text.ssml_prepare import prepare_ssml
from voxgate.types import Prosody

VOICES = {"joe", "espeak-en-us"}


def _parse(text: str, field: str = "text"):
    return parse_ssml(text, known_voice=VOICES.__contains__, field=field)


def _prepare(text: str, max_chars: int = 4096):
    return prepare_ssml(_parse(text), max_chars=max_chars, max_segment_chars=250)


@pytest.mark.parametrize(
    ("kind", "text", "language", "fmt", "expected"),
    [
        ("cardinal", "1234", "en", None, "one thousand two hundred thirty-four"),
        ("cardinal", "-12", "en", None, "minus twelve"),
        ("ordinal", "21", "en", None, "twenty-first"),
        ("digits", "2026", "en", None, "two zero two six"),
        ("characters", "AB1", "en", None, "A B one"),
        ("telephone", "555-1234", "en", None, "five five five, one two three four"),
        ("date", "3/5/2026", "en", "mdy", "March fifth, twenty twenty-six"),
        ("date", "5/3/2026", "en", "dmy", "March fifth, twenty twenty-six"),
        ("date", "2026-03-05", "en", "ymd", "March fifth, twenty twenty-six"),
        ("fraction", "3/4", "en", None, "three quarters"),
        ("currency", "$3.50", "en", None, "three dollars and fifty cents"),
        ("cardinal", "1234", "zh", None, "一千二百三十四"),
        ("ordinal", "3", "zh", None, "第三"),
        ("telephone", "138-0013", "zh", None, "幺三八，零零幺三"),
        ("date", "2026-03-05", "zh", None, "二零二六年三月五号"),
        ("fraction", "3/4", "zh", None, "四分之三"),
        ("cardinal", "not a number", "en", None, "not a number"),
    ],
)
def test_say_as_reads_each_interpretation_in_english_and_chinese(kind, text, language, fmt, expected) -> None:
    """say-as cardinal, ordinal, digits, characters, telephone, date, fraction, currency read as expected."""
    assert say_as(kind, text, language, date_format=fmt) == expected


def test_is_ssml_needs_a_leading_speak() -> None:
    """Only a text starting with <speak (after whitespace) is SSML."""
    assert is_ssml("  \n<speak>hi</speak>")
    assert not is_ssml("Say <speak> aloud")


def test_parse_gives_styled_text_breaks_and_lists_what_it_ignored() -> None:
    """Prosody combines, breaks carry seconds, unknown tags/attributes are listed, their text kept."""
    doc = _parse(
        '<speak>Hi <break time="250ms"/><prosody rate="50%" contour="(0%,+20Hz)">'
        '<prosody rate="x-fast" volume="-6dB">nested</prosody></prosody> <foo bar="1">kept</foo></speak>'
    )
    texts = [i for i in doc.items if isinstance(i, SsmlText)]
    assert [t.text.strip() for t in texts] == ["Hi", "nested", "kept"]
    assert texts[1].style.prosody == Prosody(rate=1.0, pitch_st=0.0, volume_db=-6.0)  # 0.5 x 2.0
    assert SsmlBreak(0.25) in doc.items
    assert doc.ignored == ("ssml:prosody@contour", "ssml:foo")


def test_prepare_puts_exact_pauses_voices_and_prosody_on_segments() -> None:
    """A break is an exact pause; a voice switch is its own segment; sub and say-as are read."""
    prepared = _prepare(
        '<speak xml:lang="en-US">The <sub alias="World Wide Web">WWW</sub> has '
        '<say-as interpret-as="cardinal">42</say-as> pages.<break time="1.5s"/>'
        '<voice name="espeak-en-us"><prosody pitch="+3st">Bye.</prosody></voice><break time="300ms"/></speak>'
    )
    first, second = prepared.segments
    assert first.text == "The World Wide Web has forty-two pages."
    assert (first.voice, first.pause_before_s) == (None, None)
    assert (second.voice, second.pause_before_s, second.prosody.pitch_st) == ("espeak-en-us", 1.5, 3.0)
    assert prepared.trailing_s == pytest.approx(0.3)
    assert prepared.ssml


def test_style_change_mid_sentence_has_no_pause_and_phonemes_are_their_own_segment() -> None:
    """Emphasis mid-sentence: no pause; a phoneme segment keeps its text for engines without phonemes."""
    prepared = _prepare(
        '<speak>I am <emphasis level="strong">very</emphasis> sure about '
        '<phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme>.</speak>'
    )
    texts = [(s.text, s.pause_before_s, s.phonemes) for s in prepared.segments]
    assert texts[1] == ("very", 0.0, None)
    assert ("tomato", 0.0, "təˈmɑːtoʊ") in texts


def test_the_cache_text_covers_prosody_voice_and_pauses() -> None:
    """Same words with other prosody, voice or break → another cache text; plain text keys as before."""
    plain = "<speak>Hello there.</speak>"
    variants = [
        plain,
        '<speak><prosody rate="fast">Hello there.</prosody></speak>',
        '<speak><prosody pitch="+2st">Hello there.</prosody></speak>',
        '<speak><voice name="joe">Hello there.</voice></speak>',
        '<speak>Hello <break time="1s"/>there.</speak>',
    ]
    assert len({_prepare(v).key_text() for v in variants}) == len(variants)
    assert prepare("Hello there.", max_chars=100, max_segment_chars=250).key_text() == "Hello there."


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ("<speak>Hello <b>world</speak>", "line 1, column 24"),
        ("<speak>\n  one\n  <break time='5 parsecs'/></speak>", "line 3, column 3"),
        ("<speak>a &nbsp; b</speak>", "line 1, column 10"),
        ("<notspeak>x</notspeak>", "line 1, column 1"),
    ],
)
def test_malformed_or_invalid_ssml_names_the_field_line_and_column(document: str, where: str) -> None:
    """Malformed XML, a bad value, an undefined entity or a wrong root → InvalidInput with the position."""
    with pytest.raises(InvalidInput) as caught:
        _parse(document, field="input")
    assert caught.value.field == "input"
    assert where in caught.value.message


def test_an_unknown_voice_is_refused_by_name() -> None:
    """<voice name> must be a voxgate voice id; the error names it."""
    with pytest.raises(InvalidInput, match="'nobody'"):
        _parse('<speak><voice name="nobody">hi</voice></speak>')


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]><speak>&lol9;</speak>"
)
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>'
DEEP = "<speak>" + "<s>" * 10_000 + "x" + "</s>" * 10_000 + "</speak>"


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL, DEEP], ids=["bomb", "external", "deep"])
def test_hostile_documents_are_refused_quickly(document: str) -> None:
    """A billion-laughs bomb, an external entity and 10 000-deep nesting are refused in under a second."""
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match="line 1"):
        _parse(document)
    assert time.perf_counter() - started < 1.0


def test_the_spoken_length_limit_counts_words_not_markup() -> None:
    """max_chars applies to the spoken text summed over blocks."""
    with pytest.raises(TextTooLong):
        _prepare("<speak>" + "<s>abcdefghij</s>" * 5 + "</speak>", max_chars=40)
    assert _prepare('<speak><prosody rate="slow">' + "abc " * 5 + "</prosody></speak>", max_chars=40)


def test_an_xml_declaration_or_doctype_in_front_still_means_ssml() -> None:
    """<?xml ...?><speak> is SSML, and so is a DOCTYPE (so a bomb is refused, not read aloud)."""
    assert is_ssml('<?xml version="1.0" encoding="UTF-8"?>\n<speak>hi</speak>')
    assert is_ssml(BILLION_LAUGHS)
    assert is_ssml(EXTERNAL)


def test_text_in_a_voice_takes_the_voices_language_when_it_cannot_read_the_detected_one() -> None:
    """<voice name="espeak-de">Guten Tag</voice> is German (Latin script alone would say English)."""
    languages = {"espeak-de": ("de",), "joe": ("en",)}
    document = parse_ssml(
        '<speak>Hello. <voice name="espeak-de">Guten Tag, 3 Äpfel.</voice> '
        '<voice name="joe">Bye.</voice></speak>',
        known_voice=languages.__contains__,
    )
    prepared = prepare_ssml(
        document, max_chars=100, max_segment_chars=250, voice_languages=languages.__getitem__
    )
    assert [(s.text, s.language) for s in prepared.segments] == [
        ("Hello.", "en"),
        ("Guten Tag, 3 Äpfel.", "de"),  # espeak reads German digits itself
        ("Bye.", "en"),
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/=\"' abc&;!?[]-speakbrtimoydu0123456789中")), max_size=80))
def test_any_document_parses_or_is_refused_as_bad_input(body: str) -> None:
    """Whatever follows <speak, the front end answers a PreparedText or an InvalidInput, nothing else."""
    with contextlib.suppress(InvalidInput):
        prepare_ssml(_parse("<speak" + body), max_chars=500, max_segment_chars=100)
