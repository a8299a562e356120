"""Segment shaping for streaming: a short first segment so the first audio leaves sooner."""

from __future__ import annotations

from dataclasses import replace

from voxgate.text import PreparedSegment, PreparedText
from voxgate.text.language import split_language_runs
from voxgate.text.segment import fit

# Characters of the first segment beyond which it is split at its first clause boundary.
# A CJK character is ~3-4x the speech of a Latin one, hence the smaller limit.
FIRST_SEGMENT_CHARS = {"zh": 12, "ja": 12}
DEFAULT_FIRST_SEGMENT_CHARS = 60
_CLAUSE_END = ",，、;；:："


def quick_start(prepared: PreparedText) -> PreparedText:
    """Split a long first segment at its first clause boundary (never mid-clause).

    Time to first audio is the time to synthesise the first segment; a clause of a long
    opening sentence is enough to start playback while the rest is synthesised.

    Returns:
        ``prepared`` unchanged, or with its first segment split in two.
    """
    first = prepared.segments[0]
    limit = FIRST_SEGMENT_CHARS.get(first.language, DEFAULT_FIRST_SEGMENT_CHARS)
    if len(first.text) <= limit:
        return prepared
    pieces = fit(first.text, limit)
    head = pieces[0].strip()
    if len(pieces) < 2 or not head or head[-1] not in _CLAUSE_END:
        return prepared
    tail = first.text[first.text.index(head) + len(head) :].strip()
    if not tail:
        return prepared
    segments = (
        PreparedSegment(
            head, first.language, False, tuple(split_language_runs(head, default_language=first.language))
        ),
        replace(first, text=tail, runs=tuple(split_language_runs(tail, default_language=first.language))),
        *prepared.segments[1:],
    )
    return replace(prepared, segments=segments)
