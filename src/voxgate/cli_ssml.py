"""``voxgate say --ssml``: speak an SSML document in this process (no server, no fallback chain)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from voxgate.audio.assemble import assemble
from voxgate.audio.gain import apply_gain
from voxgate.engines.base import Engine
from voxgate.planning import MAX_SPEED, MIN_SPEED
from voxgate.settings import Settings
from voxgate.text.ssml import parse_ssml
from voxgate.text.ssml_prepare import prepare_ssml
from voxgate.types import Audio, AudioChunk, SynthesisOptions
from voxgate.voices import VoiceCatalog


@dataclass(frozen=True, slots=True)
class Spoken:
    """An SSML document spoken: the audio, and who spoke it and what they ignored."""

    audio: Audio
    sample_rate: int
    voices: tuple[str, ...]
    engines: tuple[str, ...]
    ignored: tuple[str, ...]


def speak_ssml(
    document: str,
    *,
    settings: Settings,
    engines: Mapping[str, Engine],
    catalog: VoiceCatalog,
    voice: str | None,
    speed: float,
) -> Spoken:
    """Speak ``document`` segment by segment, each with its own voice, prosody and pauses.

    Raises:
        InvalidInput: bad SSML, text or voice.
        EngineError: an engine failed (there is no fallback here).
    """
    parsed = parse_ssml(document, known_voice=catalog.has)
    prepared = prepare_ssml(
        parsed,
        max_chars=settings.text.max_chars,
        max_segment_chars=settings.text.max_segment_chars,
        voice_languages=lambda name: catalog.get(name).languages,
    )
    default = catalog.get(voice) if voice else catalog.default_for(prepared.language)
    pieces: list[list[AudioChunk]] = []
    used: dict[str, None] = {}
    ignored: dict[str, None] = {}
    for segment in prepared.segments:
        chosen = catalog.get(segment.voice) if segment.voice else default
        if segment.language not in chosen.languages:
            chosen = catalog.default_for(segment.language)
        engine = engines[chosen.engine]
        engine.load()
        used[f"{chosen.id}:{engine.name}"] = None
        opts = SynthesisOptions(
            speed=min(MAX_SPEED, max(MIN_SPEED, speed * segment.prosody.rate)),
            language=segment.language,
            pitch_st=segment.prosody.pitch_st,
            phonemes=segment.phonemes,
            alphabet=segment.alphabet,
        )
        if segment.prosody.pitch_st and "pitch" not in chosen.honours:
            ignored["ssml:pitch"] = None
        if segment.phonemes is not None and "phoneme" not in chosen.honours:
            ignored["ssml:phoneme"] = None
        chunks = list(engine.synthesize(segment.text, chosen.id, opts))
        gain = segment.prosody.volume_db
        pieces.append([AudioChunk(apply_gain(c.audio, gain), c.sample_rate, c.text) for c in chunks])
    rate = default.sample_rate
    audio = assemble(
        pieces,
        rate,
        paragraph_ends=[s.paragraph_end for s in prepared.segments],
        pauses_before=[s.pause_before_s for s in prepared.segments],
        trailing_s=prepared.trailing_s,
    )
    voices = tuple(u.split(":")[0] for u in used)
    names = tuple(dict.fromkeys(u.split(":")[1] for u in used))
    return Spoken(audio, rate, voices, names, (*ignored, *prepared.ignored))
