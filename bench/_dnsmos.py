"""DNSMOS scores through ``speechmos`` (its ONNX models ship in the wheel).

DNSMOS was trained to rate noisy, processed human speech, not synthetic speech, so treat
the scores as a rough naturalness signal: useful to compare engines with each other, not as
a mean opinion score. Two heads are reported: the P.835 overall score (``ovrl_mos``) and the
P.808 score (``p808_mos``), which is the figure quoted in ``/work/shared/ENGINES.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from speechmos import dnsmos

from voxgate.types import Audio

DNSMOS_RATE = 16000


@dataclass(frozen=True, slots=True)
class MosScores:
    """Predicted opinion scores (1-5) of one clip.

    Attributes:
        overall: P.835 OVRL.
        p808: P.808 MOS.
    """

    overall: float
    p808: float


def rate_clip(audio: Audio) -> MosScores:
    """Score one 16 kHz clip with DNSMOS.

    Clips shorter than DNSMOS's 9 s window are tiled by ``speechmos`` until they fill it.

    Args:
        audio: float32 mono samples at 16 kHz, within [-1, 1].

    Returns:
        The OVRL and P.808 scores.

    Raises:
        ValueError: if the clip is empty or leaves [-1, 1].
    """
    if audio.size == 0:
        raise ValueError("cannot rate an empty clip")
    result = dnsmos.run(np.asarray(audio, dtype=np.float32), sr=DNSMOS_RATE)
    return MosScores(overall=float(result["ovrl_mos"]), p808=float(result["p808_mos"]))
