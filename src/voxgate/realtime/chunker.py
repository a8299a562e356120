"""Cutting a stream of text fragments (LLM tokens) into pieces worth synthesising on their own.

A piece ends at a clause boundary as soon as the boundary has arrived:

- after Chinese and Japanese sentence and clause marks (。！？；，、：…) at once (no spaces follow
  them, and they are never part of a number);
- after ``!`` and ``?`` at once, after ``, ; :`` once whitespace follows (``1,000`` and ``10:30``
  are not cut), after ``.`` once whitespace and then anything but a lowercase letter follows, and
  not after an abbreviation or initial (``Dr. Smith``, ``J. Smith``, ``e.g. this``); closing quotes
  and brackets stay with their clause.
- ``eager`` (the default): a ``. , ; :`` that ends the text received so far (with its closing
  quotes) is cut at once when the word before it is plainly a word: two letters or more, not a
  number, initial or abbreviation (``end.`` ``thanks,`` ``Note:``; not ``3.`` ``1,`` ``J.``
  ``Dr.`` ``e.g.`` ``https:``). An LLM's next token carries the whitespace that would confirm the
  boundary, and waiting for it costs a token's time (~33 ms at 30 tokens/s, more when the model
  pauses). The price: a ``.`` inside a name that continues without a space (``example.com``) is
  cut there when the name happens to arrive in two fragments.

Without a boundary, text is cut at its last word boundary (a trailing fragment may be half a
word: ``"Hel"`` of ``"Hello"``) once no fragment has arrived for ``max_delay_s`` (the model
paused: speak what has come), or once it has waited ``max_delay_s`` and holds
:data:`LONG_RUN_WORDS` words (a long run without punctuation). While fragments keep coming, a
sentence of ordinary length is never cut inside: at 30 tokens/s a ten-word sentence takes ~0.35
s to arrive, and a cut at a fixed time after its first word would put a pause in the middle of
it. A piece is never one or two words (each CJK character counts as a word): a shorter clause
waits for the next one, and only :meth:`TextChunker.flush` hands out less.

Time is read from the injected clock when fragments arrive and when :meth:`TextChunker.on_timer`
is called; the chunker runs no timer of its own (its owner wakes up at :meth:`TextChunker.due_at`).
"""

from __future__ import annotations

import re

from voxgate.clock import Clock
from voxgate.text.pace import WIDE_CHARS, count_words

__all__ = ["LONG_RUN_WORDS", "MIN_PIECE_WORDS", "TextChunker", "count_words"]

MIN_PIECE_WORDS = 3
"""The fewest words a piece has unless flushed (one or two words alone sound clipped)."""
LONG_RUN_WORDS = 15
"""Words without a clause boundary that are cut (at a word boundary) once they have waited
``max_delay_s``, though fragments still come: longer than most sentences' clauses."""

_WIDE_RE = re.compile(f"[{WIDE_CHARS}]")
_CJK_BREAKS = frozenset("。！？；，、：…")
_AT_ONCE = frozenset("!?")
_BEFORE_SPACE = frozenset(",;:")
_CLOSERS = frozenset("\"'”’」』）)】》]}〉»›")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "mt", "rev", "gen", "capt", "sgt", "lt", "col", "gov", "sen"}
    | {"rep", "jr", "sr", "vs", "cf", "fig", "approx", "al", "etc", "eg", "ie", "no", "vol", "inc", "ltd"}
)
_OPENERS = "\"'“‘「『（(【《[{〈«‹"
_JOINERS = re.compile(r"(?<=\w)['’\-](?=\w)")
_SCHEMES = frozenset({"http", "https", "ftp", "mailto", "tel", "sip", "file"})
"""Words that a ``:`` follows inside a URL (``https://``): never an eager cut."""
_WORD_BEFORE_RE = re.compile(r"([A-Za-z.]+)$")


def _is_wide(char: str) -> bool:
    """Whether ``char`` is a CJK character (a word of its own, written without spaces)."""
    return _WIDE_RE.match(char) is not None


def _period_ends_clause(text: str, index: int) -> bool:
    """Whether the ``.`` at ``index`` (followed by whitespace) ends a sentence."""
    rest = text[index + 1 :].lstrip()
    if rest and rest[0].islower():
        return False
    match = _WORD_BEFORE_RE.search(text, max(0, index - 20), index)
    word = match.group(1) if match else ""
    bare = word.replace(".", "").lower()
    return not (bare in _ABBREVIATIONS or "." in word or (len(word) == 1 and word.isupper()))


def _plain_word_before(text: str, index: int) -> bool:
    """Whether a plain word ends right before ``index``: two letters or more, not glued to digits,
    dots, slashes or ``@`` (numbers, initials, URLs, addresses), not an abbreviation or a URL
    scheme (what an eager cut may follow)."""
    tail = text[max(0, index - 40) : index].split()
    run = tail[-1].lstrip(_OPENERS).rstrip("".join(_CLOSERS)) if tail else ""  # since the last space
    word = run.lower()
    if word in _ABBREVIATIONS or word in _SCHEMES:
        return False
    return len(word) >= 2 and _JOINERS.sub("", word).isalpha()


def _boundaries(text: str, eager: bool = False) -> list[int]:
    """Positions right after each clause boundary that has fully arrived, in order.

    With ``eager``, a ``. , ; :`` ending ``text`` (closers aside) after a plain word counts too.
    """
    cuts: list[int] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        end = i + 1
        if char in _CJK_BREAKS or char in _AT_ONCE:
            while end < n and (text[end] in _CJK_BREAKS or text[end] in _AT_ONCE or text[end] == "."):
                end += 1
        elif char in _BEFORE_SPACE or char == ".":
            while char == "." and end < n and text[end] == ".":
                end += 1
            stop = end  # after the mark (or the run of dots)
            while end < n and text[end] in _CLOSERS:
                end += 1
            if end >= n:  # the mark ends what has arrived: the next token is due
                if not (eager and stop == i + 1 and _plain_word_before(text, i)):  # not "..."
                    i = end
                    continue
            elif not text[end].isspace():  # "1,000", "10:30", "3.14", "example.com"
                i = stop
                continue
            elif char == "." and not _period_ends_clause(text, stop - 1):
                i = end
                continue
        else:
            i = end
            continue
        while end < n and text[end] in _CLOSERS:
            end += 1
        cuts.append(end)
        i = end
    return cuts


class TextChunker:
    """Buffers text fragments and hands out pieces at clause boundaries (see the module docstring).

    Not thread-safe; one per connection.

    Args:
        clock: monotonic time.
        max_delay_s: how long without a new fragment (or, for :data:`LONG_RUN_WORDS` words, since
            the oldest buffered text) text without a boundary waits before a word-boundary cut.
        min_words: the fewest words of a piece that is not flushed.
        eager: cut at a ``. , ; :`` that ends the text so far after a plain word, without waiting
            for the whitespace of the next fragment (see the module docstring).
    """

    def __init__(
        self, clock: Clock, max_delay_s: float, min_words: int = MIN_PIECE_WORDS, *, eager: bool = True
    ) -> None:
        self._clock = clock
        self._max_delay_s = max_delay_s
        self._min_words = min_words
        self._eager = eager
        self._buffer = ""
        self._since: float | None = None  # when the oldest text still buffered arrived
        self._last: float | None = None  # when the latest fragment with text arrived

    @property
    def buffered(self) -> str:
        """The text not yet handed out."""
        return self._buffer

    def push(self, fragment: str) -> list[str]:
        """Add a fragment; return the pieces it completes (possibly none).

        Args:
            fragment: any text, e.g. one LLM token with its leading space.

        Returns:
            Finished pieces, stripped, in order.
        """
        if not fragment:
            return []
        if fragment.strip():
            now = self._clock.monotonic()
            self._last = now
            if self._since is None:
                self._since = now
        self._buffer += fragment
        return self._cut_clauses()

    def due_at(self) -> float | None:
        """Monotonic time at which :meth:`on_timer` will cut the buffer, or None if it would not."""
        cut = self._word_cut()
        if self._since is None or self._last is None or cut is None:
            return None
        idle = self._last + self._max_delay_s
        if count_words(self._buffer[:cut]) >= LONG_RUN_WORDS:
            return min(idle, self._since + self._max_delay_s)
        return idle

    def on_timer(self) -> list[str]:
        """Cut the buffer at its last word boundary if :meth:`due_at` has come.

        Returns:
            One piece, or none (not due yet, or fewer than ``min_words`` whole words).
        """
        due = self.due_at()
        if due is None or self._clock.monotonic() < due:
            return []
        cut = self._word_cut()
        if cut is None:  # pragma: no cover - due_at() checked it
            return []
        return self._take(cut)

    def flush(self) -> str | None:
        """Hand out everything buffered, however short.

        Returns:
            The text, stripped, or None when nothing but whitespace was buffered.
        """
        text, self._buffer, self._since, self._last = self._buffer.strip(), "", None, None
        return text or None

    def clear(self) -> None:
        """Drop everything buffered."""
        self._buffer, self._since, self._last = "", None, None

    def _cut_clauses(self) -> list[str]:
        pieces: list[str] = []
        start = 0
        for cut in _boundaries(self._buffer, self._eager):
            if count_words(self._buffer[start:cut]) >= self._min_words:
                pieces.append(self._buffer[start:cut].strip())
                start = cut
        if start:
            self._rest_from(start)
        return pieces

    def _word_cut(self) -> int | None:
        """Where a timer cut would go: after the last whole word, if ``min_words`` precede it."""
        text = self._buffer.rstrip()
        if not text:
            return None
        if self._buffer[-1].isspace() or _is_wide(text[-1]) or not text[-1].isalnum():
            cut = len(self._buffer)  # the last word is complete
        else:
            space = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
            if space < 0:
                return None
            cut = space + 1
        return cut if count_words(self._buffer[:cut]) >= self._min_words else None

    def _take(self, cut: int) -> list[str]:
        piece = self._buffer[:cut].strip()
        self._rest_from(cut)
        return [piece] if piece else []

    def _rest_from(self, start: int) -> None:
        self._buffer = self._buffer[start:]
        # The rest arrived at some point up to now; counting it from now errs towards waiting.
        # Its latest fragment is still the latest one (``_last`` stands) unless nothing is left.
        rest = bool(self._buffer.strip())
        self._since = self._clock.monotonic() if rest else None
        self._last = self._last if rest else None
