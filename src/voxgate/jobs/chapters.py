"""Split a book's text into chapters: at Markdown headings, or at lines like "Chapter 3" / "第三章".

Markdown (``markdown=True``): the shallowest heading level used in the document starts a
chapter (``#`` in a book with ``#`` and ``##``; ``##`` in one that only has ``##``); ATX
(``# Title``) and setext (``Title`` over ``===`` / ``---``) headings both count. Deeper
headings stay in the text as their own paragraphs. Markup that should not be read aloud
(emphasis marks, link targets, images, code fences, HTML tags, list bullets, quote marks,
rules) is removed.

Plain text: a short line on its own that reads like a chapter heading starts a chapter:
``Chapter 3``, ``CHAPTER XII. The Return``, ``Chapter Three``, ``Prologue``, ``Epilogue``,
``第三章 归来``, ``第12回``, ``序章``, ``尾声``.

Text before the first heading becomes an untitled chapter when it has something to say.
Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voxgate.text import is_speakable

__all__ = [
    "MAX_LINE_CHARS",
    "MAX_TITLE_CHARS",
    "ChapterText",
    "split_chapters",
    "strip_markdown",
    "wrap_long_lines",
]

_MAX_HEADING_CHARS = 80
MAX_LINE_CHARS = 10_000
"""Default line cap (``text.max_line_chars``): longer lines are wrapped before splitting."""
MAX_TITLE_CHARS = 500
"""Longest chapter title kept (as long as a title the API accepts); a longer heading is cut."""
_SPACES = re.compile(r"\s++")
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundred|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last"
)
_EN_HEADING = re.compile(
    rf"^(?:(?:chapter|chap\.|book|part)\s+(?:\d+|[ivxlcdm]+|(?:{_NUMBER_WORDS})(?:[\s-]+(?:{_NUMBER_WORDS}))*)"
    r"\b(?:\s*[.:—–-]\s*\S.*|\s*[.:]?)$|(?:prologue|epilogue|preface|introduction|afterword)\b\s*(?:[.:—–-]\s*\S.*)?$)",
    re.IGNORECASE,
)
_ZH_HEADING = re.compile(
    r"^(?:第[0-9零〇一二三四五六七八九十百千两]+[章回节卷部篇](?:[\s:：、.．—-]*\S.*)?|(?:序章|序言|楔子|引子|尾声|后记)(?:[\s:：]+\S.*)?)$"
)
_SETEXT = re.compile(r"^ {0,3}(=++|-++)[ \t]*+$")
_FENCE = re.compile(r"^ {0,3}(`{3,}+|~{3,}+)")
_RULE = re.compile(r"^ {0,3}(?:(?:\*[ \t]*+){3,}+|(?:-[ \t]*+){3,}+|(?:_[ \t]*+){3,}+)$")
# Linear time (issue 11): the body of each construct cannot contain its own opener, so the scans
# started at two different openers never overlap and every character is read a bounded number of
# times, however the line is built ("**a " * 4000, 30 000 "[" or "<"). Quantifiers are possessive
# where giving characters back can never help the match.
_TARGET = r"\((?:[^()\n]|\([^()\n]*+\))*+\)"
"""A link target: up to its closing parenthesis, allowing one level of balanced ones (``Foo_(bar)``)."""
_INLINE = [
    (re.compile(rf"!\[[^\[\]\n]*+\]{_TARGET}"), ""),  # images are not read
    (re.compile(rf"\[([^\[\]\n]++)\]{_TARGET}"), r"\1"),  # links: their text
    (re.compile(r"\[([^\[\]\n]++)\]\[[^\[\]\n]*+\]"), r"\1"),
    (re.compile(r"<[^<>\n]++>"), ""),  # HTML tags and autolinks
    (re.compile(r"`([^`]*+)`"), r"\1"),
    # Strong: the body holds no second delimiter pair, so it ends at the next ``**`` / ``__``.
    (re.compile(r"(\*\*|__)(?=\S)((?:(?!\1).)+?)(?<=\S)\1"), r"\2"),
    # Emphasis: the delimiter appears in the body only between two word characters (snake_case).
    (re.compile(r"(?<![\w*])([*_])(?=\S)((?:(?!\1).|(?<=\w)\1(?=\w))+?)(?<=\S)\1(?![\w*])"), r"\2"),
    (re.compile(r"~~((?:(?!~~).)+?)~~"), r"\1"),
    # Delimiters left unmatched are markup too; an engine would read each "*" as "asterisk".
    (re.compile(r"(?<!\w)[*_]++|[*_]++(?!\w)|~~"), ""),
]
_LINE_PREFIX = re.compile(r"^ {0,3}(?:>[ \t]?+)++|^[ \t]*+(?:[-*+]|\d{1,3}+[.)])[ \t]++")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]++\]:\s++\S")


@dataclass(frozen=True, slots=True)
class ChapterText:
    """A chapter as the author wrote it.

    Attributes:
        title: the heading without markup (``""`` for text before the first heading).
        text: the chapter's body, without its heading.
    """

    title: str
    text: str


def _is_chapter_line(line: str) -> bool:
    stripped = line.strip()
    if not stripped or len(stripped) > _MAX_HEADING_CHARS:
        return False
    return bool(_EN_HEADING.match(stripped) or _ZH_HEADING.match(stripped))


def _atx_heading(line: str) -> tuple[int, str] | None:
    """An ATX heading line (``## Title ##``) as (level, title with markup), else None.

    Written out rather than as a regex: the pattern ``(.*?)[ \t]*#*[ \t]*$`` backtracks
    cubically on a line like ``"# a" + " " * 3000 + "#" + " " * 3000 + "b"`` (issue 11);
    this reads the line a fixed number of times.
    """
    rest = line.lstrip(" ")
    if len(line) - len(rest) > 3:
        return None
    hashes = len(rest) - len(rest.lstrip("#"))
    if not 1 <= hashes <= 6 or rest[hashes : hashes + 1] not in (" ", "\t"):
        return None
    return hashes, rest[hashes:].strip(" \t").rstrip("#").rstrip(" \t")


def strip_markdown(line: str) -> str:
    """Remove the inline Markdown of one line, keeping what would be read aloud.

    Args:
        line: one line of Markdown.

    Returns:
        The line without emphasis marks, link targets, images, tags, bullets and quote marks.
    """
    out = _LINE_PREFIX.sub("", line)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return out


def _markdown_lines(text: str) -> list[tuple[int, str]]:
    """Each line as (heading level or 0, text without markup); code blocks and rules are dropped."""
    lines = text.split("\n")
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for i, raw in enumerate(lines):
        fence_match = _FENCE.match(raw)
        if fence is not None:
            if (
                fence_match
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
            ):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            continue
        atx = _atx_heading(raw)
        if atx:
            out.append((atx[0], _title(strip_markdown(atx[1]))))
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if raw.strip() and _SETEXT.match(following) and not _LINE_PREFIX.match(raw):
            out.append((1 if following.strip()[0] == "=" else 2, _title(strip_markdown(raw))))
            continue
        if _SETEXT.match(raw) and out and out[-1][0]:
            continue  # the underline of the setext heading just added
        if _RULE.match(raw) or _REFERENCE.match(raw):
            out.append((0, ""))
            continue
        out.append((0, strip_markdown(raw)))
    return out


def wrap_long_lines(text: str, max_chars: int) -> str:
    """Wrap every line longer than ``max_chars``: at its last space within the limit, else at it.

    Args:
        text: text with ``"\\n"`` line breaks.
        max_chars: the longest line kept.

    Returns:
        The text with no line longer than ``max_chars`` (unchanged when none was).

    Raises:
        ValueError: ``max_chars`` is below 1.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")
    lines: list[str] = []
    for line in text.split("\n"):
        start = 0
        while len(line) - start > max_chars:
            cut = line.rfind(" ", start + 1, start + max_chars + 1)
            cut = cut if cut > start else start + max_chars
            lines.append(line[start:cut])
            start = cut + 1 if line[cut : cut + 1] == " " else cut
        lines.append(line[start:])
    return "\n".join(lines)


def _title(heading: str) -> str:
    """A heading as a chapter title: whitespace runs collapsed, at most ``MAX_TITLE_CHARS``."""
    return _SPACES.sub(" ", heading).strip()[:MAX_TITLE_CHARS].rstrip()


def _collect(lines: list[tuple[bool, str, str]]) -> list[ChapterText]:
    """Group (starts chapter?, title, body line) triples into chapters."""
    chapters: list[tuple[str, list[str]]] = [("", [])]
    for starts, title, body in lines:
        if starts:
            chapters.append((title, []))
        else:
            chapters[-1][1].append(body)
    result = []
    for n, (title, body_lines) in enumerate(chapters):
        body = "\n".join(body_lines).strip("\n")
        if n > 0 or is_speakable(body):  # text before the first heading only if it says something
            result.append(ChapterText(title, body))
    return result


def split_chapters(
    text: str, *, markdown: bool = False, max_line_chars: int = MAX_LINE_CHARS
) -> list[ChapterText]:
    """Split a book into chapters, in time linear in its length.

    Args:
        text: the whole book (any line endings).
        markdown: the text is Markdown: split at its shallowest headings and remove markup.
            Otherwise split at chapter lines ("Chapter 3", "第三章").
        max_line_chars: longer lines are wrapped first (see :func:`wrap_long_lines`).

    Returns:
        The chapters in order; one untitled chapter if the text has no headings. Chapters may
        have an empty body (a heading followed directly by the next heading); the caller
        decides whether the title alone is worth speaking.
    """
    text = wrap_long_lines(text.replace("\r\n", "\n").replace("\r", "\n"), max_line_chars)
    if markdown:
        parsed = _markdown_lines(text)
        levels = [level for level, _ in parsed if level]
        top = min(levels) if levels else 0
        triples = [(bool(top) and level == top, line, "" if level == top else line) for level, line in parsed]
        # Deeper headings stay in the body as paragraphs of their own.
        triples = [
            (starts, title, f"\n{body}\n" if level and level != top else body)
            for (starts, title, body), (level, _) in zip(triples, parsed, strict=True)
        ]
    else:
        triples = [
            (True, line.strip(), "") if _is_chapter_line(line) else (False, "", line)
            for line in text.split("\n")
        ]
    return _collect(triples)
