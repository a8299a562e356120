"""Pronunciation lexicons: words spoken as other text (``say``) or from phonemes (``ipa``, ``pinyin``).

Applied in the text front end before number reading and G2P. Matching is on whole words
(letters and digits, with inner apostrophes; an entry may be a phrase of up to
:data:`MAX_PHRASE_WORDS` words separated by whitespace or hyphens: ``New York``, ``COVID-19``)
and on substrings of CJK text (which has no spaces between words); the longest entry wins, left
to right, without overlaps. Case-insensitive unless an entry says otherwise.

Linear time: a dict lookup per word (for each phrase length up to :data:`MAX_PHRASE_WORDS`) and
per CJK position (for each entry length up to :data:`MAX_WORD_CHARS`); no regex alternation over
the entries.

A ``say`` entry is plain text substitution; an ``ipa`` / ``pinyin`` entry becomes a phoneme piece,
as SSML's ``<phoneme>`` (engines without phoneme input speak the word itself).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from voxgate.errors import InvalidInput
from voxgate.text.ssml import SsmlBoundary, SsmlDocument, SsmlItem, SsmlText, Style

__all__ = [
    "MAX_PHRASE_WORDS",
    "MAX_SAY_CHARS",
    "MAX_WORD_CHARS",
    "Lexicon",
    "LexiconEntry",
    "check_entry",
]

MAX_WORD_CHARS = 64
"""Longest ``word`` of an entry."""
MAX_SAY_CHARS = 256
"""Longest ``say``, ``ipa`` or ``pinyin`` of an entry."""
MAX_PHRASE_WORDS = 4
"""Most words in one entry's ``word``."""

_CJK = "\u2e80-\u9fff\uf900-\ufaff"
_W = rf"[^\W_{_CJK}]++(?:['’][^\W_{_CJK}]++)*+"
_WORD = re.compile(_W)
_PHRASE = re.compile(rf"{_W}(?:(?:\s++|-){_W})*+")
_SPACES = re.compile(r"\s++")
_CJK_RUN = re.compile(rf"[{_CJK}]++")
_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*+\n\s*+")


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    """One entry: exactly one of ``say``, ``ipa`` and ``pinyin``.

    Attributes:
        word: the word or phrase (or CJK word) to match.
        say: replacement text, read by the front end as if it had been written.
        ipa: IPA phonemes, for engines that take phonemes.
        pinyin: pinyin with tone numbers, for Chinese engines that take it.
        case_sensitive: match ``word`` exactly (default: ignoring case).
    """

    word: str
    say: str | None = None
    ipa: str | None = None
    pinyin: str | None = None
    case_sensitive: bool = False

    def to_dict(self) -> dict[str, object]:
        """JSON form: only the fields that are set."""
        out: dict[str, object] = {"word": self.word}
        for name in ("say", "ipa", "pinyin"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.case_sensitive:
            out["case_sensitive"] = True
        return out


def _is_cjk(text: str) -> bool:
    return _CJK_RUN.fullmatch(text) is not None


def check_entry(entry: LexiconEntry, field: str) -> None:
    """Refuse an entry that cannot match or says nothing.

    Raises:
        InvalidInput: naming ``<field>.word`` (empty, too long, not words or CJK characters, too
            many words) or ``<field>`` (not exactly one of say / ipa / pinyin, or one too long).
    """
    word = entry.word.strip()
    if not word or len(word) > MAX_WORD_CHARS:
        raise InvalidInput(f"{field}.word", f"a word has 1 to {MAX_WORD_CHARS} characters")
    if not _is_cjk(word):
        if _PHRASE.fullmatch(word) is None:
            raise InvalidInput(
                f"{field}.word",
                f"{word!r} is not whole words (letters, digits, inner apostrophes; separated by spaces or "
                "hyphens) or CJK characters",
            )
        if len(_WORD.findall(word)) > MAX_PHRASE_WORDS:
            raise InvalidInput(f"{field}.word", f"at most {MAX_PHRASE_WORDS} words in one entry")
    given = [
        (n, v) for n, v in (("say", entry.say), ("ipa", entry.ipa), ("pinyin", entry.pinyin)) if v is not None
    ]
    if len(given) != 1:
        raise InvalidInput(field, "give exactly one of say, ipa or pinyin")
    name, value = given[0]
    if not value.strip() or len(value) > MAX_SAY_CHARS:
        raise InvalidInput(f"{field}.{name}", f"{name} has 1 to {MAX_SAY_CHARS} characters")


def _key(word: str, case_sensitive: bool) -> str:
    word = word.strip()
    key = _SPACES.sub(" ", word)
    return key if case_sensitive else key.casefold()


def _phrase_key(text: str, words: Sequence[tuple[int, int]]) -> str | None:
    """The words at ``words`` (spans) joined as an entry's key, or None if something else is between them."""
    key = text[words[0][0] : words[0][1]]
    for (_s, end), (start, stop) in pairwise(words):
        gap = text[end:start]
        if gap.isspace():
            key += " "
        elif gap == "-":
            key += "-"
        else:
            return None
        key += text[start:stop]
    return key


class Lexicon:
    """A compiled lexicon.

    Args:
        entries: checked entries (see :func:`check_entry`); a later entry for the same word wins.

    Attributes:
        entries: the entries, as given.
        version: a content hash (part of the audio cache key).
    """

    def __init__(self, entries: Iterable[LexiconEntry]) -> None:
        self.entries = tuple(entries)
        canonical = json.dumps([e.to_dict() for e in self.entries], ensure_ascii=False, sort_keys=True)
        self.version = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        self._exact: dict[str, LexiconEntry] = {}
        self._folded: dict[str, LexiconEntry] = {}
        self._max_words = 0
        self._max_cjk = 0
        for entry in self.entries:
            key = _key(entry.word, entry.case_sensitive)
            (self._exact if entry.case_sensitive else self._folded)[key] = entry
            if _is_cjk(key):
                self._max_cjk = max(self._max_cjk, len(key))
            else:
                self._max_words = max(self._max_words, len(_WORD.findall(key)))

    def __len__(self) -> int:
        return len(self.entries)

    def _lookup(self, key: str) -> LexiconEntry | None:
        return self._exact.get(key) or self._folded.get(key.casefold())

    def matches(self, text: str) -> list[tuple[int, int, LexiconEntry]]:
        """Where entries match in ``text``: ``(start, end, entry)``, in order, never overlapping."""
        found: list[tuple[int, int, LexiconEntry]] = []
        if self._max_words:
            spans = [m.span() for m in _WORD.finditer(text)]
            i = 0
            while i < len(spans):
                hit = None
                for k in range(min(self._max_words, len(spans) - i), 0, -1):
                    words = spans[i : i + k]
                    key = _phrase_key(text, words)
                    if key is None:
                        continue  # a phrase's words are separated by whitespace or one hyphen only
                    entry = self._lookup(key)
                    if entry is not None:
                        hit = (words[0][0], words[-1][1], entry)
                        i += k
                        break
                if hit is None:
                    i += 1
                else:
                    found.append(hit)
        if self._max_cjk:
            for run in _CJK_RUN.finditer(text):
                p, end = run.start(), run.end()
                while p < end:
                    for length in range(min(self._max_cjk, end - p), 0, -1):
                        entry = self._lookup(text[p : p + length])
                        if entry is not None:
                            found.append((p, p + length, entry))
                            p += length
                            break
                    else:
                        p += 1
            found.sort(key=lambda m: m[0])
        return found

    def has_phonemes(self, text: str) -> bool:
        """Whether an ``ipa`` or ``pinyin`` entry matches in ``text``."""
        return any(e.say is None for _s, _e, e in self.matches(text))

    def substitute(self, text: str) -> str:
        """``text`` with every ``say`` entry replaced (phoneme entries left as they are)."""
        out: list[str] = []
        last = 0
        for start, end, entry in self.matches(text):
            if entry.say is not None:
                out += [text[last:start], entry.say]
                last = end
        out.append(text[last:])
        return "".join(out)

    def rewrite(self, items: Sequence[SsmlItem], *, paragraphs: bool = False) -> list[SsmlItem]:
        """Apply the lexicon to a document: ``say`` substituted, ``ipa`` / ``pinyin`` as phoneme pieces.

        Text that is already a phoneme or a ``say-as`` is left alone.

        Args:
            items: a document's items.
            paragraphs: blank lines in the text are paragraph ends (plain text and dialogue turns;
                SSML has ``<p>`` for that).
        """
        out: list[SsmlItem] = []
        for item in items:
            if not isinstance(item, SsmlText) or item.phonemes is not None or item.say_as is not None:
                out.append(item)
                continue
            pieces = _PARAGRAPH.split(item.text) if paragraphs else [item.text]
            for n, piece in enumerate(pieces):
                if n:
                    out.append(SsmlBoundary(paragraph=True))
                out.extend(self._rewrite_text(piece, item.style))
        return out

    def _rewrite_text(self, text: str, style: Style) -> list[SsmlItem]:
        out: list[SsmlItem] = []
        last = 0
        plain: list[str] = []
        for start, end, entry in self.matches(text):
            plain.append(text[last:start])
            last = end
            if entry.say is not None:
                plain.append(entry.say)
                continue
            if "".join(plain).strip():
                out.append(SsmlText("".join(plain), style))
            plain = []
            alphabet = "ipa" if entry.ipa is not None else "pinyin"
            out.append(
                SsmlText(text[start:end], style, phonemes=entry.ipa or entry.pinyin, alphabet=alphabet)
            )
        plain.append(text[last:])
        if "".join(plain).strip():
            out.append(SsmlText("".join(plain), style))
        return out

    def document(self, text: str) -> SsmlDocument:
        """A plain text as a document with the lexicon applied (paragraphs kept)."""
        return SsmlDocument(tuple(self.rewrite([SsmlText(text, Style())], paragraphs=True)), ())
