"""Sanitising: control characters, Unicode forms, whitespace, and the length limit.

:func:`clean_text` is the first step for every text voxgate speaks. Its output uses only
``" "``, ``"\\n"`` (a line break) and ``"\\n\\n"`` (a paragraph break) as whitespace, has no
control or format characters, folds compatibility forms (fullwidth ``ＡＢＣ１２３``, ``℃``,
``㎏``, ligatures) and every decimal digit to plain ASCII, and keeps the CJK punctuation that
carries prosody (``，。！？：；（）``).
"""

from __future__ import annotations

import re
import unicodedata

from voxgate.errors import EmptyText, InvalidInput, TextTooLong

_KEEP_AS_IS = frozenset("！（），：；？［］｛｝～｟｠｡｢｣､²³")
"""Characters NFKC would fold but that we keep: fullwidth punctuation that Chinese engines use
for prosody, and the superscripts of ``m²``/``m³`` that unit rules read."""

_LINE_BREAKS = {
    "\r\n": "\n",
    "\r": "\n",
    "\u2028": "\n",
    "\u2029": "\n\n",
    "\x85": "\n",
    "\v": "\n",
    "\f": "\n",
}
_LINE_BREAK_RE = re.compile("|".join(re.escape(k) for k in _LINE_BREAKS))
_SPACES_RE = re.compile(r"[^\S\n]+")
_PARAGRAPH_RE = re.compile(r"\n{2,}")


def is_speakable(text: str) -> bool:
    """Whether the text has anything to say: at least one letter or digit.

    Args:
        text: any text.

    Returns:
        True if some character is a letter or a number (Unicode categories L* and N*).
    """
    return any(unicodedata.category(c)[0] in "LN" for c in text)


def _fold(char: str) -> str:
    """Fold one character: drop controls and format characters, NFKC the rest, ASCII digits."""
    category = unicodedata.category(char)
    if char == "\n":
        return char
    if category == "Cc" or category == "Zs":
        return " " if char == "\t" or category == "Zs" else ""
    if category in ("Cf", "Cn", "Co"):
        return ""
    if category == "Nd":
        return str(unicodedata.decimal(char))
    if char.isascii() or char in _KEEP_AS_IS:
        return char
    folded = "".join(_fold(c) if c != char else c for c in unicodedata.normalize("NFKC", char))
    return folded.replace("\u2044", "/")  # ½ → 1⁄2 → 1/2


def clean_text(text: str, *, max_chars: int, field: str = "text") -> str:
    """Sanitise user text and enforce the length limit.

    Args:
        text: the text as received.
        max_chars: the largest allowed length, counted in characters after cleaning (so
            padding whitespace and control characters do not count).
        field: the request field to name in errors.

    Returns:
        The cleaned text: NFC/NFKC-folded, no control or format characters, spaces collapsed,
        lines stripped, at most one blank line between paragraphs, no leading or trailing
        whitespace.

    Raises:
        InvalidInput: the text holds a lone surrogate (not valid Unicode).
        TextTooLong: the cleaned text is longer than ``max_chars``.
        EmptyText: nothing speakable (no letter or digit) remains.
        ValueError: ``max_chars`` is below 1 (a programming error, not bad input).
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")
    for index, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            raise InvalidInput(
                field, f"text holds a lone surrogate U+{ord(char):04X} at position {index}; send valid UTF-8"
            )
    text = _LINE_BREAK_RE.sub(lambda m: _LINE_BREAKS[m.group(0)], unicodedata.normalize("NFC", text))
    text = "".join(_fold(c) for c in text)
    lines = [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]
    text = _PARAGRAPH_RE.sub("\n\n", "\n".join(lines)).strip()
    if len(text) > max_chars:
        raise TextTooLong(len(text), max_chars, field=field)
    if not is_speakable(text):
        raise EmptyText(field=field)
    return text
