"""``merge_partials``: each run of streamed pieces becomes the one chunk a whole answer has."""

from __future__ import annotations

import numpy as np

from voxgate.types import AudioChunk, merge_partials


def _chunk(value: float, n: int, *, final: bool = True, text: str = "") -> AudioChunk:
    return AudioChunk(
        np.full(n, value, np.float32), 22050, text, ((0, 1, 0.0, 0.1),) if text else None, final
    )


def test_pieces_and_their_final_chunk_merge_into_one() -> None:
    """Two pieces + a final: one chunk, the audio in order, the final's text and words."""
    merged = merge_partials(
        [
            _chunk(1, 2, final=False),
            _chunk(2, 3, final=False),
            _chunk(3, 1, text="Hi."),
            _chunk(4, 2, text="Yo."),
        ]
    )
    assert [c.text for c in merged] == ["Hi.", "Yo."]
    assert merged[0].audio.tolist() == [1, 1, 2, 2, 2, 3]
    assert merged[0].words == ((0, 1, 0.0, 0.1),)
    assert merged[0].final
    assert merged[1].audio.tolist() == [4, 4]


def test_whole_chunks_pass_unchanged_and_a_cut_run_keeps_its_audio() -> None:
    """Final chunks are the same objects; pieces with no final after them become one textless chunk."""
    whole = _chunk(1, 2, text="A.")
    merged = merge_partials([whole, _chunk(2, 2, final=False)])
    assert merged[0] is whole
    assert merged[1].audio.tolist() == [2, 2]
    assert merged[1].text == ""
    assert merged[1].final
