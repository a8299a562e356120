"""kokoro's voices in English, measured as ``zh_voices.py`` measures them in Chinese (issue 16).

The same stages, store and report as ``bench/zh_voices.py`` (whose options all apply) on the
English corpus ``bench/data/en_eval`` (dev for choices, test to confirm), scored as WER against the
spoken form voxgate's normaliser gives each sentence, with a bootstrap 95 % CI over sentences.
Each language and engine has its own store (default ``bench/out/en_voices``), resumable in the
same way: kill the run at any moment and start it again to go on::

    cd bench && PYTHONPATH=../src:. nohup nice -n 19 ../.venv/bin/python en_voices.py \\
        --store /work/en_runs >> /work/en_runs/run.log 2>&1 &
    PYTHONPATH=../src:. ../.venv/bin/python en_voices.py --store /work/en_runs --stage report

``--engine piper --stage dev`` (then ``--stage test``) gives piper's joe, voxgate's default English
voice, as the reference line; piper samples noise, so it reads every sentence 3 times by default
(kokoro repeats itself exactly: 1). The Chinese-only ``variants`` stage is skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import zh_voices


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - needs models
    """``zh_voices.main`` with ``--language en``."""
    return zh_voices.main(["--language", "en", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
