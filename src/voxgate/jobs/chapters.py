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

__all__ = ["ChapterText", "split_chapters", "strip_markdown"]

_MAX_HEADING_CHARS = 80
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
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_RULE = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_INLINE = [
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), ""),  # images are not read
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: their text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<[^>\n]+>"), ""),  # HTML tags and autolinks
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])"), r"\2"),
    (re.compile(r"~~(.+?)~~"), r"\1"),
]
_LINE_PREFIX = re.compile(r"^ {0,3}(?:>[ \t]?)+|^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+.*$")


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
        atx = _ATX.match(raw)
        if atx:
            out.append((len(atx.group(1)), strip_markdown(atx.group(2)).strip()))
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if raw.strip() and _SETEXT.match(following) and not _LINE_PREFIX.match(raw):
            out.append((1 if following.strip()[0] == "=" else 2, strip_markdown(raw).strip()))
            continue
        if _SETEXT.match(raw) and out and out[-1][0]:
            continue  # the underline of the setext heading just added
        if _RULE.match(raw) or _REFERENCE.match(raw):
            out.append((0, ""))
            continue
        out.append((0, strip_markdown(raw)))
    return out


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


def split_chapters(text: str, *, markdown: bool = False) -> list[ChapterText]:
    """Split a book into chapters.

    Args:
        text: the whole book (any line endings).
        markdown: the text is Markdown: split at its shallowest headings and remove markup.
            Otherwise split at chapter lines ("Chapter 3", "第三章").

    Returns:
        The chapters in order; one untitled chapter if the text has no headings. Chapters may
        have an empty body (a heading followed directly by the next heading); the caller
        decides whether the title alone is worth speaking.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
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
