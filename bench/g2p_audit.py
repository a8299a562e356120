"""G2P audit: do wrong phonemes go into kokoro's Chinese voices, and which?

Every sentence of the ``zh_eval`` corpus goes through voxgate's text front end (normalisation and
language runs, as the service applies it); each Chinese run is then read twice:

* **misaki** — what the kokoro engine fed the model before voxgate's fixes: misaki's legacy G2P
  (``misaki.zh.ZHG2P()``; ``voxgate.engines.kokoro_zh.ZhG2P(fixes=False)`` reproduces it byte for
  byte, which the audit checks on every run) and, with ``--fixed``, voxgate's fixed front end;
* **reference** — pypinyin with jieba context: ``jieba.posseg`` words, pypinyin per word
  (``Style.TONE3``), the corpus' hand-written readings of polyphones (``字[pinyin]``), then the
  tone sandhi of misaki's own ``tone_sandhi.ToneSandhi`` (PaddleSpeech's rules: 一, 不, third
  tones, neutral tones of particles and reduplications) and erhua (a word-final 儿 merges into
  the syllable before it).

Both become one TONE3 syllable per Han character (misaki's phonemes come from these syllables
through its own pinyin→IPA table, so comparing syllables is comparing phonemes). Each
disagreement is put in one class, first match wins: erhua, polyphone (a listed or annotated
character whose syllable differs before sandhi), 一/不 sandhi, neutral tone, third-tone sandhi,
numbers (numeral characters), other.

Usage::

    python bench/g2p_audit.py [--split dev|test|g2p_holdout|all] [--details N] [--out FILE]

CPU only, no synthesis: a few seconds.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from _corpus import AUDIT_SPLITS, SPLITS, EvalSentence, load_eval
from voxgate.engines.kokoro_zh import ZhG2P
from voxgate.settings import Settings
from voxgate.text import prepare
from voxgate.text.language import split_language_runs

_HAN_RUN = re.compile("[\u4e00-\u9fff]+")
POLYPHONES = "行长重乐还得着了好为地都差便数看中发传调只藏称应朝"
"""The polyphones the issue names; annotated surnames (曾 单 解 查 任 ...) count as polyphones too."""
NUMERALS = "零〇一二三四五六七八九十百千万亿两点"
ERHUA_MARK = "r"
"""Reference syllable of a 儿 merged into the syllable before it."""
CLASSES = ("erhua", "polyphone", "yi/bu sandhi", "neutral tone", "third-tone sandhi", "numbers", "other")
_NOT_ERHUA = frozenset(
    {"儿子", "女儿", "儿童", "婴儿", "幼儿", "孤儿", "儿女", "儿科", "健儿", "男儿", "少儿", "胎儿", "托儿所"}
    | {"小儿", "宠儿", "混血儿", "新生儿", "孩儿", "侄儿", "儿媳", "儿时", "儿歌", "流浪儿"}
)


@dataclass(frozen=True, slots=True)
class Char:
    """One Han character as the reference reads it.

    Attributes:
        char: the character.
        lexical: its reading before sandhi (annotation, else pypinyin in its word).
        surface: the reading after sandhi and erhua (:data:`ERHUA_MARK` for a merged 儿).
        annotated: the corpus gives its reading.
    """

    char: str
    lexical: str
    surface: str
    annotated: bool


def tone(syllable: str) -> str:
    """The tone digit of a TONE3 syllable ('' for a syllable without one)."""
    return syllable[-1] if syllable[-1:].isdigit() else ""


def base(syllable: str) -> str:
    """A TONE3 syllable without its tone digit."""
    return syllable[:-1] if tone(syllable) else syllable


def classify(char: str, got: str, ref: Char) -> str | None:
    """Name the class of a disagreement between a G2P's syllable and the reference.

    Args:
        char: the character.
        got: the syllable the G2P under audit produced.
        ref: the reference reading.

    Returns:
        One of :data:`CLASSES`, or ``None`` when they agree.
    """
    if got == ref.surface:
        return None
    if ref.surface == ERHUA_MARK:
        return "erhua"
    if (char in POLYPHONES or ref.annotated) and got != ref.lexical and base(got) != base(ref.surface):
        return "polyphone"
    if (char in POLYPHONES or ref.annotated) and tone(got) != tone(ref.lexical) and got != ref.lexical:
        return "polyphone"
    if char in "一不":
        return "yi/bu sandhi"
    if "5" in (tone(got), tone(ref.surface)):
        return "neutral tone"
    if tone(got) == "3" and tone(ref.surface) == "2":
        return "third-tone sandhi"
    if char in NUMERALS:
        return "numbers"
    return "other"


class Reference:
    """Reads Han runs the reference way (see the module docstring)."""

    def __init__(self) -> None:
        import jieba
        import jieba.posseg
        from misaki.tone_sandhi import ToneSandhi
        from pypinyin import Style, lazy_pinyin

        jieba.setLogLevel(60)
        self._posseg = jieba.posseg
        self._sandhi = ToneSandhi()
        self._pinyin = lambda word: list(lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True))

    def read(self, han: str, gold: Mapping[int, str]) -> list[Char]:
        """Read one run of Han characters.

        Args:
            han: Han characters only.
            gold: index in ``han`` → annotated lexical reading.

        Returns:
            One :class:`Char` per character of ``han``.
        """
        seg = [(w.word, w.flag) for w in self._posseg.lcut(han)]
        seg = [(str(w), str(p)) for w, p in self._sandhi.pre_merge_for_modify(seg)]
        out: list[Char] = []
        start = 0
        for word, pos in seg:
            lexical = self._pinyin(word)
            if len(lexical) != len(word):  # pypinyin could not read a character: compare as is
                lexical = list(word)
            for i in range(len(word)):
                if start + i in gold:
                    lexical[i] = gold[start + i]
            surface = self._sandhi.modified_tone(word, pos, list(lexical))
            for i, char in enumerate(word):
                annotated = start + i in gold
                syllable = surface[i]
                # a hand-written reading is authoritative; only third-tone sandhi applies on top of it
                if annotated and not (tone(lexical[i]) == "3" and tone(syllable) == "2"):
                    syllable = lexical[i]
                syllable = _correct_rules(han, start + i, word, i, lexical[i], syllable)
                if char == "儿" and i == len(word) - 1 and i > 0 and word not in _NOT_ERHUA:
                    syllable = ERHUA_MARK
                out.append(Char(char, lexical[i], syllable, annotated))
            start += len(word)
        return out


def _correct_rules(han: str, at: int, word: str, i: int, lexical: str, surface: str) -> str:
    """Undo two known slips of PaddleSpeech's rules: 地 ending a noun (当地, 各地) is not neutral,
    and 一 read as a numeral (十一, 一九四九, 一月一日) keeps its first tone."""
    if word[i] == "地" and len(word) > 1 and i == len(word) - 1 and lexical == "di4":
        return lexical
    if word[i] == "一" and lexical == "yi1":
        before = han[at - 1] if at else ""
        after = han[at + 1] if at + 1 < len(han) else ""
        if before in NUMERALS or after in "零〇一二三四五六七八九月日号":
            return lexical
    return surface


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One character read differently from the reference."""

    sentence: str
    char: str
    context: str
    got: str
    expected: str
    kind: str


@dataclass(frozen=True, slots=True)
class Audit:
    """Counts of one G2P against the reference over a corpus.

    Attributes:
        chars: Han characters compared.
        opportunities: characters per class that the class could apply to.
        disagreements: every disagreement.
        mismatched_runs: runs where the replica of misaki's path differed from misaki itself.
    """

    chars: int
    opportunities: Mapping[str, int]
    disagreements: tuple[Disagreement, ...]
    mismatched_runs: int

    def count(self, kind: str) -> int:
        """Disagreements of one class."""
        return sum(d.kind == kind for d in self.disagreements)

    def by_char(self, kind: str) -> Counter[str]:
        """Disagreements of one class per character."""
        return Counter(d.char for d in self.disagreements if d.kind == kind)


def opportunity_classes(char: str, ref: Char) -> list[str]:
    """The classes a character could fall in (the denominators of the table)."""
    kinds = []
    if ref.surface == ERHUA_MARK:
        kinds.append("erhua")
    if char in POLYPHONES or ref.annotated:
        kinds.append("polyphone")
    if char in "一不":
        kinds.append("yi/bu sandhi")
    if tone(ref.surface) == "5":
        kinds.append("neutral tone")
    if tone(ref.lexical) == "3" and tone(ref.surface) == "2":
        kinds.append("third-tone sandhi")
    if char in NUMERALS:
        kinds.append("numbers")
    return kinds


def han_runs(text: str) -> list[str]:
    """The Chinese language runs of a sentence after voxgate's text front end."""
    limits = Settings().text
    prepared = prepare(
        text, max_chars=limits.max_chars, max_segment_chars=limits.max_segment_chars, default_language="zh"
    ).text
    return [run.text for run in split_language_runs(prepared, default_language="zh") if run.language == "zh"]


def map_gold(sentence: EvalSentence, normalised: str) -> dict[int, str]:
    """Carry the corpus' annotated readings over to the normalised text.

    An annotation is the k-th occurrence of its character in the sentence; it goes to the k-th
    occurrence of the character in ``normalised`` (normalisation rewrites numbers and symbols,
    never the annotated characters), or is dropped if that occurrence does not exist.

    Args:
        sentence: a corpus sentence.
        normalised: its Han characters after the front end, concatenated over runs.

    Returns:
        Index in ``normalised`` → reading.
    """
    gold: dict[int, str] = {}
    for index, reading in sentence.readings:
        char = sentence.text[index]
        k = sentence.text[:index].count(char)
        positions = [i for i, c in enumerate(normalised) if c == char]
        if k < len(positions) and sentence.text.count(char) == len(positions):
            gold[positions[k]] = reading
    return gold


def audit(sentences: Iterable[EvalSentence], g2p: ZhG2P, reference: Reference, *, check: bool) -> Audit:
    """Compare ``g2p`` with the reference on every Han character of ``sentences``.

    Args:
        sentences: corpus sentences.
        g2p: the front end under audit.
        reference: the reference reader.
        check: also check that ``g2p`` reproduces misaki's own output (for ``fixes=False``).

    Returns:
        The counts.
    """
    misaki = _misaki() if check else None
    opportunities: Counter[str] = Counter()
    found: list[Disagreement] = []
    chars = mismatched = 0
    for sentence in sentences:
        runs = han_runs(sentence.text)
        hans = [h for run in runs for h in _han_segments(g2p.prepare(run))]
        gold = map_gold(sentence, "".join(hans))
        offset = 0
        for han in hans:
            got = [s for word in g2p.words(han) for s in word.pinyin]
            refs = reference.read(han, {i - offset: p for i, p in gold.items() if 0 <= i - offset < len(han)})
            for i, (char, syllable, ref) in enumerate(zip(han, got, refs, strict=True)):
                chars += 1
                opportunities.update(opportunity_classes(char, ref))
                kind = classify(char, syllable, ref)
                if kind is not None:
                    context = han[max(0, i - 3) : i + 4]
                    found.append(Disagreement(sentence.id, char, context, syllable, ref.surface, kind))
            offset += len(han)
        if misaki is not None:
            mismatched += sum(g2p(run) != misaki(run) for run in runs)
    return Audit(chars, dict(opportunities), tuple(found), mismatched)


def _han_segments(text: str) -> list[str]:
    return _HAN_RUN.findall(text)


def _misaki() -> Callable[[str], str]:
    """misaki's own Chinese G2P as the kokoro engine used to call it."""
    from misaki.zh import ZHG2P

    zh = ZHG2P()
    return lambda text: str(zh(text)[0])


def render(audits: Sequence[tuple[str, Audit]], *, split: str, sentences: int) -> str:
    """The Markdown report: counts per class for each G2P, then polyphones per character.

    Args:
        audits: (column label, audit) pairs; the first is the baseline.
        split: which split was audited.
        sentences: how many sentences.
    """
    first = audits[0][1]
    rows = [
        "| class | characters | " + " | ".join(label for label, _ in audits) + " |",
        "|---|---:|" + "---:|" * len(audits),
    ]
    for kind in CLASSES:
        counts = " | ".join(str(a.count(kind)) for _, a in audits)
        rows.append(f"| {kind} | {first.opportunities.get(kind, 0)} | {counts} |")
    totals = " | ".join(f"**{len(a.disagreements)}**" for _, a in audits)
    rows.append(f"| **all** | {first.chars} | {totals} |")
    chars: Counter[str] = Counter()
    for _, a in audits:
        chars += a.by_char("polyphone")
    per_char = ", ".join(
        f"{c} " + "→".join(str(a.by_char("polyphone")[c]) for _, a in audits) for c, _ in chars.most_common()
    )
    lines = [
        f"Split: {split} ({sentences} sentences, {first.chars} Han characters after normalisation).",
        "",
        *rows,
        "",
        "characters: how many the class could apply to (polyphones: listed or annotated characters; "
        "erhua, 一/不, neutral and third-tone: where the reference applies the rule). The other columns "
        "count characters whose syllable (with tone) differs from the reference, each in its first "
        "matching class.",
        "",
        "Polyphone disagreements per character ("
        + " → ".join(label for label, _ in audits)
        + "): "
        + (per_char or "none"),
    ]
    if first.mismatched_runs:
        lines.append(f"\nWARNING: {first.mismatched_runs} runs where the replica differs from misaki.")
    return "\n".join(lines)


def render_details(result: Audit, limit: int) -> str:
    """The first ``limit`` disagreements of each class, one line each."""
    out = []
    for kind in CLASSES:
        items = [d for d in result.disagreements if d.kind == kind][:limit]
        if items:
            out.append(f"\n{kind}:")
            out.extend(f"  {d.sentence} {d.char} in {d.context}: {d.got} ≠ {d.expected}" for d in items)
    return "\n".join(out)


def _load(split: str) -> list[EvalSentence]:
    splits: Sequence[str] = SPLITS if split == "all" else (split,)
    return [s for name in splits for s in load_eval("zh_eval", name)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the audit, print the table (and details), optionally write it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--split", choices=[*AUDIT_SPLITS, "all"], default="all", help="all: dev and test")
    parser.add_argument("--details", type=int, default=0, help="list up to N disagreements per class")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    sentences = _load(args.split)
    reference = Reference()
    audits = [
        ("misaki (before)", audit(sentences, ZhG2P(fixes=False), reference, check=True)),
        ("voxgate fixes (default)", audit(sentences, ZhG2P(), reference, check=False)),
        ("fixes + tone sandhi", audit(sentences, ZhG2P(sandhi=True), reference, check=False)),
    ]
    table = render(audits, split=args.split, sentences=len(sentences))
    print(table)
    if args.details:
        for label, result in audits:
            print(f"\n## {label}" + render_details(result, args.details))
    if args.out is not None:
        args.out.write_text(table + "\n", encoding="utf-8")
    return 1 if audits[0][1].mismatched_runs else 0


if __name__ == "__main__":
    sys.exit(main())
