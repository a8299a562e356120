"""No text path stalls: adversarial inputs per regex family run in time linear in their size.

The cases run in one subprocess with a hard timeout (a backtracking regex holds the GIL inside C,
where no in-process timeout can stop it) and must finish well inside a generous bound. The
sizes are chosen so that the quadratic or cubic code before issue 11 took minutes to hours on
each of them (e.g. the heading line took ~6 s at 1 000 spaces and grows with the cube).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.long  # fault drills: run by CI after the default suite (`-m long`)

BOUND_S = 10.0
"""Each call must finish within this (linear code takes well under a second here)."""
HARD_TIMEOUT_S = 120.0
"""For the whole run of every case in one subprocess."""

_CHAPTERS_MD = "lambda s: split_chapters(s, markdown=True)"
_CHAPTERS = "split_chapters"
_PREPARE = "lambda s: prepare(s, max_chars=10**9, max_segment_chars=250)"

CASES: list[tuple[str, str, str]] = [
    # (id, function, input expression)
    ("atx-spaces", _CHAPTERS_MD, '"\\n".join(["# a" + " " * 3000 + "#" + " " * 3000 + "b"] * 10)'),
    ("atx-hashes", _CHAPTERS_MD, '"# a" + "#" * 100_000 + " b"'),
    ("atx-tabs", _CHAPTERS_MD, '"## x" + "\\t #" * 50_000 + "y"'),
    ("strong-stars", _CHAPTERS_MD, '"**a " * 50_000'),
    ("strong-underscores", _CHAPTERS_MD, '"__a " * 50_000'),
    ("em-stars", _CHAPTERS_MD, '"*a " * 70_000'),
    ("em-underscores", _CHAPTERS_MD, '"_a " * 70_000'),
    ("em-intraword", _CHAPTERS_MD, '"*a_" + "b_" * 100_000'),
    ("strike", _CHAPTERS_MD, '"~~a " * 50_000'),
    ("brackets", _CHAPTERS_MD, '"[" * 200_000'),
    ("images", _CHAPTERS_MD, '"![" * 100_000'),
    ("link-targets", _CHAPTERS_MD, '"[a](" * 50_000'),
    ("link-parens", _CHAPTERS_MD, '"[a](" + "(b)" * 70_000'),
    ("tags", _CHAPTERS_MD, '"<" * 200_000'),
    ("backticks", _CHAPTERS_MD, '"`a" * 100_000'),
    ("rules-and-setext", _CHAPTERS_MD, '"* " * 50_000 + "x\\n" + "=" * 100_000 + " x"'),
    ("quote-prefixes", _CHAPTERS_MD, '"> " * 100_000 + "x"'),
    ("references", _CHAPTERS_MD, '"[" + "a" * 100_000 + "]:" + " " * 100_000'),
    ("many-short-lines", _CHAPTERS_MD, '"a\\n=\\n" * 60_000'),
    ("plain-chapter-lines", _CHAPTERS, '"Chapter " + "one-" * 50_000'),
    ("sentences-periods", "split_sentences", '". " * 100_000'),
    ("sentences-stray", "split_sentences", '"a" + ". " * 300_000'),
    ("paragraph-lines", "lambda s: segment(s, 250)", '"\\n\\n" + "a\\n" * 300_000'),
    ("ampersand-spaces", "normalize_en", '"\\n" * 100_000 + "x"'),
    ("ja-percent-digits", "normalize_ja", '"0" * 100_000'),
    ("prepare-punctuation", _PREPARE, '"!?" * 20_000 + "a"'),
    ("prepare-digits", _PREPARE, '"1." * 10_000 + "#" + "1," * 10_000'),
    ("prepare-cjk-run", _PREPARE, '"中" * 20_000'),
    ("prepare-mixed", _PREPARE, '"a中1 ." * 5_000'),
]

_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from voxgate.jobs.chapters import split_chapters
    from voxgate.text import prepare
    from voxgate.text.normalize_en import normalize_en
    from voxgate.text.normalize_ja import normalize_ja
    from voxgate.text.segment import segment, split_sentences

    for case_id, function, expression in json.loads(sys.argv[1]):
        text = eval(expression)
        started = time.perf_counter()
        eval(function)(text)
        seconds = time.perf_counter() - started
        print(json.dumps({"id": case_id, "seconds": seconds, "chars": len(text)}), flush=True)
    """
)


@pytest.fixture(scope="module")
def timings() -> dict[str, dict[str, float]]:
    """Every case run in order in one subprocess (one import of the text front end, not 29).

    A case that hangs stops the run at the hard timeout; the cases after it have no timing and
    their tests fail naming the case that did not finish.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT, json.dumps(CASES)],
            capture_output=True,
            text=True,
            timeout=HARD_TIMEOUT_S,
            check=True,
        )
        output = done.stdout
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout or b""
        output = partial.decode() if isinstance(partial, bytes) else partial
    results = [json.loads(line) for line in output.splitlines() if line.strip()]
    return {result.pop("id"): result for result in results}


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_adversarial_input_does_not_hang(case_id: str, timings: dict[str, dict[str, float]]) -> None:
    """An input built to make a regex backtrack is processed within a generous bound."""
    if case_id not in timings:
        unfinished = next(c[0] for c in CASES if c[0] not in timings)
        pytest.fail(f"{unfinished} did not finish within {HARD_TIMEOUT_S:.0f} s (all cases share that bound)")
    assert timings[case_id]["seconds"] < BOUND_S, timings[case_id]
