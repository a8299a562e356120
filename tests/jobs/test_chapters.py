"""Chapter splitting of English, Chinese and Markdown books (pure functions)."""

from __future__ import annotations

import pytest

from voxgate.jobs.chapters import (
    MAX_TITLE_CHARS,
    ChapterText,
    split_chapters,
    strip_markdown,
    wrap_long_lines,
)

ENGLISH = """The Voyage
by A. Writer

Chapter 1

It was a dark night.
The wind rose.

CHAPTER II. The Return

He came back at dawn.

Chapter Twenty-One: The End

I read chapter 3 of another book yesterday.
Part of the plan was simple.
"""

CHINESE = """序言
这是一本书的序言。

第一章 开始

今天天气很好。我们去了北京。

第2章

我们回家了。第三章不是标题，因为它在句子中。

尾声
完。
"""


def test_english_chapter_lines_start_chapters_and_front_matter_is_kept() -> None:
    """'Chapter 1', 'CHAPTER II. The Return', 'Chapter Twenty-One: ...' open chapters; front matter stays."""
    chapters = split_chapters(ENGLISH)
    assert [c.title for c in chapters] == [
        "",
        "Chapter 1",
        "CHAPTER II. The Return",
        "Chapter Twenty-One: The End",
    ]
    assert chapters[0].text == "The Voyage\nby A. Writer"
    assert chapters[1].text == "It was a dark night.\nThe wind rose."
    assert "chapter 3 of another book" in chapters[3].text
    assert "Part of the plan was simple." in chapters[3].text


def test_chinese_chapter_lines_start_chapters() -> None:
    """第一章 / 第2章 / 序言 / 尾声 on their own line open chapters; 第三章 inside a sentence does not."""
    chapters = split_chapters(CHINESE)
    assert [c.title for c in chapters] == ["序言", "第一章 开始", "第2章", "尾声"]
    assert chapters[0].text == "这是一本书的序言。"
    assert chapters[2].text == "我们回家了。第三章不是标题，因为它在句子中。"
    assert chapters[3].text == "完。"


def test_text_without_headings_is_one_untitled_chapter() -> None:
    """A text with no chapter lines is one chapter with an empty title."""
    assert split_chapters("Just a story.\n\nWith two paragraphs.") == [
        ChapterText("", "Just a story.\n\nWith two paragraphs.")
    ]


def test_windows_line_endings_are_handled() -> None:
    """CRLF files split the same as LF files."""
    assert [c.title for c in split_chapters(ENGLISH.replace("\n", "\r\n"))] == [
        c.title for c in split_chapters(ENGLISH)
    ]


def test_markdown_splits_at_the_shallowest_heading_level() -> None:
    """# headings open chapters; ## headings stay inside as paragraphs; markup is not read."""
    book = (
        "Intro with **bold** and a [link](https://example.com).\n\n"
        "# Part One\n\nSome *emphasis* here.\n\n## A Section\n\n- item one\n- item two\n\n"
        "```\ncode = 1\n```\n\n"
        "# Part Two\n> quoted text\n![an image](a.png)\n"
    )
    chapters = split_chapters(book, markdown=True)
    assert [c.title for c in chapters] == ["", "Part One", "Part Two"]
    assert chapters[0].text == "Intro with bold and a link."
    assert "Some emphasis here." in chapters[1].text
    assert "\nA Section\n" in chapters[1].text
    assert "item one\nitem two" in chapters[1].text
    assert "code" not in chapters[1].text
    assert chapters[2].text.strip() == "quoted text"


def test_markdown_with_only_second_level_and_setext_headings() -> None:
    """A book using only ## headings splits at them; setext headings (=== underline) count too."""
    assert [c.title for c in split_chapters("## A\ntext a\n## B\ntext b", markdown=True)] == ["A", "B"]
    setext = split_chapters("First\n=====\nbody one\n\nSecond\n======\nbody two", markdown=True)
    assert [(c.title, c.text) for c in setext] == [("First", "body one"), ("Second", "body two")]


@pytest.mark.parametrize(
    ("line", "spoken"),
    [
        ("**bold** and __strong__", "bold and strong"),
        ("see [the docs](http://x.y/z) now", "see the docs now"),
        ("> a quote", "a quote"),
        ("1. first", "first"),
        ("`code` span", "code span"),
        ("snake_case_name stays", "snake_case_name stays"),
    ],
)
def test_strip_markdown_keeps_what_is_read_aloud(line: str, spoken: str) -> None:
    """Inline markup is removed; words with underscores are left alone."""
    assert strip_markdown(line) == spoken


def test_issue_11_heading_lines_become_short_titles() -> None:
    """The issue's heading line (3 000 spaces around a '#') is a heading titled 'a # b', not a hang."""
    line = "# a" + " " * 3000 + "#" + " " * 3000 + "b"
    chapters = split_chapters(f"{line}\nbody one\n{line}\nbody two", markdown=True)
    assert [(c.title, c.text) for c in chapters] == [("a # b", "body one"), ("a # b", "body two")]


def test_heading_titles_are_capped() -> None:
    """A heading longer than MAX_TITLE_CHARS is cut to it (titles are shown and spoken)."""
    chapters = split_chapters("# " + "word " * 1000 + "\ntext", markdown=True)
    assert len(chapters[0].title) <= MAX_TITLE_CHARS
    assert chapters[0].title.startswith("word word")


def test_long_lines_are_wrapped_at_spaces() -> None:
    """A line over the line cap is wrapped at its last space within it, else cut at the cap."""
    assert wrap_long_lines("aaaa bbbb cccc", 6) == "aaaa\nbbbb\ncccc"
    assert wrap_long_lines("abcdefghij", 4) == "abcd\nefgh\nij"
    book = "Chapter 1\n" + "word " * 5000 + "\n" + "x" * 25_000
    chapters = split_chapters(book, max_line_chars=1000)
    assert chapters[0].title == "Chapter 1"
    assert max(len(line) for line in chapters[0].text.split("\n")) <= 1000
    assert chapters[0].text.replace("\n", " ").split() == (["word"] * 5000) + ["x" * 1000] * 25


@pytest.mark.parametrize(
    ("line", "spoken"),
    [
        ("see [Foo](https://en.wikipedia.org/wiki/Foo_(bar)) now", "see Foo now"),
        ("**a **a **a", "a a a"),
        ("an *unclosed emphasis", "an unclosed emphasis"),
        ("~~gone", "gone"),
        ("2*3 = 6 and snake_case", "2*3 = 6 and snake_case"),
        ("_snake_case_ word", "snake_case word"),
        ("**bold *and italic***", "bold and italic"),
    ],
)
def test_strip_markdown_handles_parentheses_and_unmatched_delimiters(line: str, spoken: str) -> None:
    """Link targets may hold balanced parentheses; delimiters left unmatched are not read as 'asterisk'."""
    assert strip_markdown(line) == spoken
