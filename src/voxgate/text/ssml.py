"""SSML parsing: a hardened XML parse into a flat sequence of styled text, breaks and marks.

The parser is defusedxml's (expat underneath): no DTD (so no entity declarations, no billion
laughs), no external references, at most :data:`MAX_DEPTH` nested elements and
:data:`MAX_ELEMENTS` elements, linear in the input. The caller bounds the input's length.
Malformed or forbidden input raises :class:`~voxgate.errors.InvalidInput` naming the request
field and the line and column.

Supported: ``speak``, ``p``, ``s``, ``break`` (``time``, ``strength``), ``prosody`` (``rate``,
``pitch``, ``volume``), ``say-as`` (``interpret-as``, ``format``), ``sub`` (``alias``),
``phoneme`` (``alphabet`` ipa / pinyin, ``ph``), ``voice`` (``name``), ``lang`` and ``xml:lang``,
``emphasis`` (``level``, mapped to prosody), ``mark`` (``name``). Any other element is dropped
(its text is still spoken) and any other attribute is dropped; both are listed in
:attr:`SsmlDocument.ignored` as ``ssml:<tag>`` / ``ssml:<tag>@<attribute>``.

Whitespace is XML's: any run of spaces, tabs and line breaks is one space; paragraphs come
only from ``<p>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from voxgate.errors import InvalidInput
from voxgate.text.say_as import INTERPRETATIONS
from voxgate.types import LanguageCode, Prosody

__all__ = [
    "MAX_BREAK_S",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "SsmlBoundary",
    "SsmlBreak",
    "SsmlDocument",
    "SsmlItem",
    "SsmlMark",
    "SsmlText",
    "Style",
    "is_ssml",
    "language_tag",
    "parse_ssml",
    "rough_text",
]

MAX_DEPTH = 64
"""Deepest element nesting accepted (a 10 000-deep document is refused at element 65)."""
MAX_ELEMENTS = 10_000
"""Most elements in one document."""
MAX_BREAK_S = 10.0
"""Longest single ``<break>``."""
MAX_PITCH_ST = 12.0
"""Pitch changes are clamped to one octave either way."""

_SSML_NS = "{http://www.w3.org/2001/10/synthesis}"
_XML_NS = "{http://www.w3.org/XML/1998/namespace}"
_SPACE_RE = re.compile(r"\s+")
_SAFE_RE = re.compile(r"[^A-Za-z0-9:._=@-]")
_STRENGTH_S = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.4, "strong": 0.75, "x-strong": 1.2}
_RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.5, "x-fast": 2.0}
_PITCHES = {"x-low": -6.0, "low": -3.0, "medium": 0.0, "default": 0.0, "high": 3.0, "x-high": 6.0}
_VOLUMES = {"silent": -math.inf, "x-soft": -12.0, "soft": -6.0, "medium": 0.0, "default": 0.0}
_VOLUMES |= {"loud": 4.0, "x-loud": 8.0}
_EMPHASIS = {
    "strong": Prosody(rate=0.85, pitch_st=1.0, volume_db=3.0),
    "moderate": Prosody(rate=0.92, pitch_st=0.5, volume_db=2.0),
    "none": Prosody(),
    "reduced": Prosody(rate=1.1, pitch_st=-0.5, volume_db=-3.0),
}
_ATTRIBUTES: dict[str, frozenset[str]] = {
    "speak": frozenset({"version", "xml:lang", "xml:base"}),
    "p": frozenset({"xml:lang"}),
    "s": frozenset({"xml:lang"}),
    "break": frozenset({"time", "strength"}),
    "prosody": frozenset({"rate", "pitch", "volume"}),
    "say-as": frozenset({"interpret-as", "format"}),
    "sub": frozenset({"alias"}),
    "phoneme": frozenset({"alphabet", "ph"}),
    "voice": frozenset({"name", "xml:lang"}),
    "lang": frozenset({"xml:lang"}),
    "emphasis": frozenset({"level"}),
    "mark": frozenset({"name"}),
}
_ALPHABETS = frozenset({"ipa", "pinyin"})


@dataclass(frozen=True, slots=True)
class Style:
    """How a piece of text is spoken.

    Attributes:
        voice: a voxgate voice id from ``<voice name>``; ``None`` = the request's voice.
        language: from ``xml:lang`` / ``<lang>`` (``en``, ``zh``, ``de``...); ``None`` = detect.
        prosody: rate, pitch and volume, nested elements combined.
    """

    voice: str | None = None
    language: LanguageCode | None = None
    prosody: Prosody = field(default_factory=Prosody)


@dataclass(frozen=True, slots=True)
class SsmlText:
    """Text to speak in a style.

    Attributes:
        text: the words (whitespace collapsed; ``sub``'s alias in place of its content).
        style: voice, language, prosody.
        say_as: ``(interpret-as, format)`` of a ``say-as`` element, read by the text front end.
        phonemes: a ``phoneme`` element's ``ph``; ``text`` is what engines without phoneme input say.
        alphabet: ``ipa`` or ``pinyin`` when ``phonemes`` is set.
    """

    text: str
    style: Style
    say_as: tuple[str, str | None] | None = None
    phonemes: str | None = None
    alphabet: str | None = None


@dataclass(frozen=True, slots=True)
class SsmlBreak:
    """Exactly ``seconds`` of silence."""

    seconds: float


@dataclass(frozen=True, slots=True)
class SsmlBoundary:
    """The end of a sentence (``</s>``) or paragraph (``</p>``): the usual pause follows."""

    paragraph: bool


@dataclass(frozen=True, slots=True)
class SsmlMark:
    """A ``<mark name>`` at this point of the text."""

    name: str


SsmlItem = SsmlText | SsmlBreak | SsmlBoundary | SsmlMark


@dataclass(frozen=True, slots=True)
class SsmlDocument:
    """A parsed SSML document.

    Attributes:
        items: text, breaks, boundaries and marks in document order.
        ignored: ``ssml:<tag>`` and ``ssml:<tag>@<attribute>`` dropped, each once, in order.
    """

    items: tuple[SsmlItem, ...]
    ignored: tuple[str, ...]


_PROLOG_RE = re.compile(r"\s*(?:<\?xml[^<>]{0,200}\?>\s*)?(?:<speak|<!DOCTYPE)")


def is_ssml(text: str) -> bool:
    """Whether ``text`` is an SSML document: it starts with ``<speak`` after whitespace (and an
    optional ``<?xml ...?>`` declaration), or with a ``<!DOCTYPE`` (which the parser refuses)."""
    return _PROLOG_RE.match(text) is not None


_TAG_RE = re.compile(r"<[^<>]*>")


def rough_text(text: str) -> str:
    """``text`` with anything that looks like markup removed: for guessing its language only."""
    return _TAG_RE.sub(" ", text)


class _Refused(Exception):  # noqa: N818 (internal, never escapes parse_ssml)
    """Raised inside a parser callback; turned into ``InvalidInput`` with the parser's position."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: tuple[int, int] | None = None  # (line, 0-based column) of the offending tag


def language_tag(value: str) -> LanguageCode:
    """voxgate's language for an ``xml:lang`` value (``en-US`` → ``en``, ``zh-CN``/``cmn`` → ``zh``)."""
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return "zh" if primary in ("cmn", "zho", "chi") else primary


def _seconds(value: str) -> float:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\s*", value)
    if m is None:
        raise _Refused(f"break time {value!r} is not a duration such as 500ms or 1.5s")
    seconds = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    if seconds > MAX_BREAK_S:
        raise _Refused(f"break time {value!r} is longer than {MAX_BREAK_S:g} s")
    return seconds


def _rate(value: str) -> float:
    value = value.strip().lower()
    if value in _RATES:
        return _RATES[value]
    m = re.fullmatch(r"([+-]?)([0-9]+(?:\.[0-9]+)?)(%?)", value)
    if m is None:
        raise _Refused(f"prosody rate {value!r} is not x-slow...x-fast, a percentage or a number")
    amount = float(m.group(2))
    if m.group(3) and m.group(1):  # "+20%": relative change
        factor = 1 + (amount if m.group(1) == "+" else -amount) / 100
    elif m.group(3):  # "150%": of the normal rate
        factor = amount / 100
    elif m.group(1) == "-":
        raise _Refused(f"prosody rate {value!r} must be positive")
    else:
        factor = amount
    if factor <= 0:
        raise _Refused(f"prosody rate {value!r} must be positive")
    return factor


def _pitch(value: str) -> float:
    value = value.strip().lower()
    if value in _PITCHES:
        return _PITCHES[value]
    m = re.fullmatch(r"([+-])([0-9]+(?:\.[0-9]+)?)(st|%)", value)
    if m is None:
        raise _Refused(f"prosody pitch {value!r} is not x-low...x-high, ±Nst or ±N%")
    amount = float(m.group(2)) * (1 if m.group(1) == "+" else -1)
    if m.group(3) == "st":
        return amount
    if amount <= -100:
        raise _Refused(f"prosody pitch {value!r} must stay above -100%")
    return 12 * math.log2(1 + amount / 100)


def _volume(value: str) -> float:
    value = value.strip().lower()
    if value in _VOLUMES:
        return _VOLUMES[value]
    m = re.fullmatch(r"([+-]?)([0-9]+(?:\.[0-9]+)?)db", value)
    if m is None:
        raise _Refused(f"prosody volume {value!r} is not silent...x-loud or ±NdB")
    return float(m.group(2)) * (-1 if m.group(1) == "-" else 1)


def _combine(outer: Prosody, inner: Prosody) -> Prosody:
    """Nested prosody: rates multiply, pitch and volume changes add (pitch clamped to ±1 octave)."""
    pitch = max(-MAX_PITCH_ST, min(MAX_PITCH_ST, outer.pitch_st + inner.pitch_st))
    return Prosody(outer.rate * inner.rate, pitch, outer.volume_db + inner.volume_db)


@dataclass(slots=True)
class _Frame:
    tag: str
    style: Style
    capture: list[str] | None = None  # say-as, sub, phoneme: their text is collected here
    attrs: dict[str, str] = field(default_factory=dict)


class _Builder:
    """The parser's target: turns start/end/data callbacks into :class:`SsmlItem` s."""

    def __init__(self, known_voice: Callable[[str], bool]) -> None:
        self._known_voice = known_voice
        self._stack: list[_Frame] = []
        self._elements = 0
        self._items: list[SsmlItem] = []
        self._ignored: dict[str, None] = {}
        self._text: list[str] = []  # text of the current style, not yet emitted
        self.locate: Callable[[], tuple[int, int]] = lambda: (0, 0)  # the parser's position

    # ---- helpers ----
    def _ignore(self, name: str) -> None:
        if len(self._ignored) < 32:
            self._ignored[_SAFE_RE.sub("", name)[:60]] = None

    def _flush(self) -> None:
        text = "".join(self._text)
        self._text = []
        if text.strip():
            self._items.append(SsmlText(text, self._stack[-1].style))

    def _emit(self, item: SsmlItem) -> None:
        self._flush()
        self._items.append(item)

    @property
    def style(self) -> Style:
        return self._stack[-1].style if self._stack else Style()

    # ---- parser callbacks ----
    def start(self, tag: str, attrib: dict[str, str]) -> None:
        try:
            self._start(tag, attrib)
        except _Refused as exc:  # the position now, at the tag (after the abort it is further on)
            exc.where = self.locate()
            raise

    def _start(self, tag: str, attrib: dict[str, str]) -> None:
        self._elements += 1
        if len(self._stack) >= MAX_DEPTH:
            raise _Refused(f"elements nest deeper than {MAX_DEPTH}")
        if self._elements > MAX_ELEMENTS:
            raise _Refused(f"more than {MAX_ELEMENTS} elements")
        name = tag.removeprefix(_SSML_NS)
        if "}" in name:
            name = name.rsplit("}", 1)[1]
            known = False
        else:
            known = name in _ATTRIBUTES
        if not self._stack and name != "speak":
            raise _Refused(f"the root element must be <speak>, not <{name}>")
        attrs = {key.replace(_XML_NS, "xml:"): value for key, value in attrib.items()}
        if not known:
            self._ignore(f"ssml:{name}")
        else:
            for key in attrs:
                if key not in _ATTRIBUTES[name]:
                    self._ignore(f"ssml:{name}@{key.rsplit('}', 1)[-1]}")
        if self._stack and self._stack[-1].capture is not None:  # inside say-as / sub / phoneme
            self._stack.append(_Frame(name, self.style, self._stack[-1].capture, attrs))
            return
        style = self.style
        if "xml:lang" in attrs and known:
            style = replace(style, language=language_tag(attrs["xml:lang"]))
        frame = _Frame(name, style, None, attrs)
        if known:
            frame = self._open(name, attrs, frame)
        self._stack.append(frame)

    def _open(self, name: str, attrs: dict[str, str], frame: _Frame) -> _Frame:
        """Apply a known element's attributes to its frame (and emit breaks, marks)."""
        style = frame.style
        if name in ("p", "s", "voice", "prosody", "lang", "emphasis", "say-as", "sub", "phoneme"):
            self._flush()
        if name in ("p", "s"):
            self._emit(SsmlBoundary(paragraph=name == "p"))
        elif name == "break":
            seconds = _seconds(attrs["time"]) if "time" in attrs else None
            if seconds is None:
                strength = attrs.get("strength", "medium").strip().lower()
                if strength not in _STRENGTH_S:
                    raise _Refused(f"break strength {strength!r} is not none, x-weak...x-strong")
                seconds = _STRENGTH_S[strength]
            self._emit(SsmlBreak(seconds))
        elif name == "mark":
            self._emit(SsmlMark(attrs.get("name", "")[:200]))
        elif name == "voice" and "name" in attrs:
            voice = attrs["name"].strip()
            if not self._known_voice(voice):
                raise _Refused(f"unknown voice {voice!r} in <voice name>; see GET /api/v1/voices")
            style = replace(style, voice=voice)
        elif name == "prosody":
            inner = Prosody(
                rate=_rate(attrs["rate"]) if "rate" in attrs else 1.0,
                pitch_st=_pitch(attrs["pitch"]) if "pitch" in attrs else 0.0,
                volume_db=_volume(attrs["volume"]) if "volume" in attrs else 0.0,
            )
            style = replace(style, prosody=_combine(style.prosody, inner))
        elif name == "emphasis":
            level = attrs.get("level", "moderate").strip().lower()
            if level not in _EMPHASIS:
                raise _Refused(f"emphasis level {level!r} is not strong, moderate, none or reduced")
            style = replace(style, prosody=_combine(style.prosody, _EMPHASIS[level]))
        elif name in ("say-as", "sub", "phoneme"):
            frame.capture = []
            if name == "say-as" and attrs.get("interpret-as", "").strip().lower() not in INTERPRETATIONS:
                self._ignore(f"ssml:say-as@interpret-as={attrs.get('interpret-as', '')}")
            if name == "phoneme" and attrs.get("alphabet", "ipa").strip().lower() not in _ALPHABETS:
                self._ignore(f"ssml:phoneme@alphabet={attrs.get('alphabet', '')}")
        frame.style = style
        return frame

    def end(self, tag: str) -> None:
        frame = self._stack[-1]
        if frame.capture is not None and (len(self._stack) < 2 or self._stack[-2].capture is None):
            self._close_capture(frame)
        elif frame.tag in ("p", "s") and frame.capture is None:
            self._emit(SsmlBoundary(paragraph=frame.tag == "p"))
        elif frame.capture is None:
            self._flush()
        self._stack.pop()

    def _close_capture(self, frame: _Frame) -> None:
        content = _SPACE_RE.sub(" ", "".join(frame.capture or ())).strip()
        attrs = frame.attrs
        if frame.tag == "sub":
            alias = _SPACE_RE.sub(" ", attrs.get("alias", content)).strip()
            if alias:
                self._text.append(f" {alias} ")
            return
        if not content:
            return
        if frame.tag == "say-as":
            interpret = attrs.get("interpret-as", "").strip().lower()
            if interpret in INTERPRETATIONS:
                self._emit(SsmlText(content, frame.style, say_as=(interpret, attrs.get("format"))))
            else:
                self._text.append(f" {content} ")
            return
        alphabet = attrs.get("alphabet", "ipa").strip().lower()
        phonemes = _SPACE_RE.sub(" ", attrs.get("ph", "")).strip()
        if alphabet in _ALPHABETS and phonemes:
            self._emit(SsmlText(content, frame.style, phonemes=phonemes[:500], alphabet=alphabet))
        else:
            self._text.append(f" {content} ")

    def data(self, text: str) -> None:
        if not self._stack:
            return
        target = self._stack[-1].capture
        (target if target is not None else self._text).append(_SPACE_RE.sub(" ", text))

    def close(self) -> SsmlDocument:
        return SsmlDocument(tuple(self._items), tuple(self._ignored))


def parse_ssml(text: str, *, known_voice: Callable[[str], bool], field: str = "text") -> SsmlDocument:
    """Parse an SSML document.

    Args:
        text: the document (its length is the caller's to bound).
        known_voice: whether a ``<voice name>`` is a voxgate voice id.
        field: the request field to name in errors (``text``, ``input``).

    Returns:
        Its items and what was ignored.

    Raises:
        InvalidInput: malformed XML, a DTD or entity, nesting deeper than :data:`MAX_DEPTH`, a
            root other than ``<speak>``, a bad attribute value; the message names the line and
            column.
    """
    builder = _Builder(known_voice)
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    expat = parser.parser
    builder.locate = lambda: (expat.CurrentLineNumber, expat.CurrentColumnNumber)
    try:
        parser.feed(text)
        parser.close()
    except ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        raise InvalidInput(field, f"malformed SSML at line {line}, column {column + 1}: {reason}") from exc
    except (_Refused, DefusedXmlException) as exc:
        line, column = (exc.where if isinstance(exc, _Refused) else None) or builder.locate()
        where = f"line {line}, column {column + 1}"
        message = exc.message if isinstance(exc, _Refused) else "DTDs, entities and external references"
        if isinstance(exc, DefusedXmlException):
            message += " are not allowed in SSML"
        raise InvalidInput(field, f"SSML at {where}: {message}") from exc
    except RecursionError as exc:  # pragma: no cover - MAX_DEPTH refuses long before
        raise InvalidInput(field, "SSML nests too deeply") from exc
    return builder.close()
