"""Planning a request: text front end, voice, output rate, cache key, deadline, first segment.

A plan is a pure function of the request fields and the configuration, apart from the deadline
(arrival time) and the primary engine's model version (reported by its workers). Preparations are
remembered per distinct request, so a repeat (the usual audio-cache hit) skips the text front end.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

from voxgate.audio.cache import cache_key
from voxgate.audio.formats import format_spec
from voxgate.chains import ChainBuilder
from voxgate.clock import Clock
from voxgate.errors import InvalidInput, InvalidOption
from voxgate.qos.router import Router
from voxgate.requests import SynthesisRequest
from voxgate.settings import DeadlineSettings
from voxgate.text import PreparedText
from voxgate.text.dialogue import DialogueTurn, prepare_dialogue
from voxgate.text.front import prepare_text
from voxgate.text.streaming import default_limit, min_limit
from voxgate.types import AudioFormat, Emotion, Priority, SynthesisOptions, VoiceInfo
from voxgate.voices import VoiceCatalog
from voxgate.workers.backend import ExecutionBackend

__all__ = [
    "DEFAULT_FIRST_AUDIO_S",
    "DEFAULT_PLAN_CACHE_SIZE",
    "MAX_SILENCE_S",
    "MAX_SPEED",
    "MIN_SPEED",
    "Plan",
    "Planner",
]

MIN_SPEED, MAX_SPEED = 0.25, 4.0
DEFAULT_PLAN_CACHE_SIZE = 1024
"""Requests whose prepared text and cache key are remembered (see ``Planner.plans_reused``)."""
DEFAULT_FIRST_AUDIO_S = 1.0
"""Streaming: the first segment is cut so the primary's P95 estimate for it fits in this."""
MAX_SILENCE_S = 300.0
"""Most exact silence (SSML ``<break>``s, dialogue ``pause_ms``) one request may ask for in all.
Each break is at most 10 s, but 16 KB of markup holds 800 of them: 2 h 13 min of silence, 2 GB
in the gateway and its event loop held for seconds while it is assembled. Five minutes is about
the speech of the longest English text a request may have (``text.max_chars``)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How one request will be answered.

    Attributes:
        prepared: normalised text and its segments.
        voice: the voice that speaks.
        opts: engine options (speed, emotion).
        out_rate: output sample rate.
        key: audio cache key.
        deadline: monotonic time by which the answer is due.
        arrived: monotonic arrival time.
    """

    prepared: PreparedText
    voice: VoiceInfo
    opts: SynthesisOptions
    out_rate: int
    key: str
    deadline: float
    arrived: float


@dataclass(frozen=True, slots=True)
class _Resolved:
    """What a request's text, voice, speed, format and rate resolve to: the same for every repeat."""

    prepared: PreparedText
    voice: VoiceInfo
    out_rate: int
    key: str
    primaries: tuple[str, ...]  # first engine of each chain; their model versions are part of ``key``
    model_version: str


_RequestFields = tuple[
    str,
    str | None,
    float,
    AudioFormat,
    int | None,
    Emotion | None,
    bool,
    tuple[DialogueTurn, ...] | None,
    str | None,
    PreparedText | None,
]


class Planner:
    """Turns requests into plans.

    Args:
        backend: reports each engine's model version (part of the cache key).
        catalog: every voice.
        chains: fallback chains per voice and language.
        router: service-time estimates (for the streaming first segment).
        clock: monotonic time.
        deadlines: default deadlines.
        max_chars: per-request text limit.
        max_segment_chars: longest segment sent to an engine.
        plan_cache_size: how many distinct requests keep their preparation.
        first_audio_s: streaming first-audio budget.

    Attributes:
        texts_prepared: requests whose text went through the front end (``prepare``).
        plans_reused: requests answered with a remembered preparation instead.
    """

    def __init__(
        self,
        *,
        backend: ExecutionBackend,
        catalog: VoiceCatalog,
        chains: ChainBuilder,
        router: Router,
        clock: Clock,
        deadlines: DeadlineSettings,
        max_chars: int,
        max_segment_chars: int,
        plan_cache_size: int = DEFAULT_PLAN_CACHE_SIZE,
        first_audio_s: float = DEFAULT_FIRST_AUDIO_S,
    ) -> None:
        self.backend = backend
        self.catalog = catalog
        self.chains = chains
        self.router = router
        self._clock = clock
        self._deadlines = deadlines
        self._max_chars = max_chars
        self._max_segment_chars = max_segment_chars
        self._resolved: OrderedDict[_RequestFields, _Resolved] = OrderedDict()
        self._resolved_max = plan_cache_size
        self._first_audio_s = first_audio_s
        self.texts_prepared = 0
        self.plans_reused = 0

    def plan(self, request: SynthesisRequest) -> Plan:
        """Plan ``request`` (its deadline counts from now).

        Raises:
            InvalidInput: bad text, voice, format, speed, sample rate or deadline.
        """
        arrived = self._clock.monotonic()
        self._check_speed(request)
        return self._finish(request, arrived, self._resolve(request))

    async def plan_async(self, request: SynthesisRequest) -> Plan:
        """Like :meth:`plan`, but a text not planned before goes through the front end in a thread.

        The front end is linear but not free: 4 096 adversarial characters (``"a中"`` repeated,
        one language run per character) take ~0.5-0.9 s here, which must not hold the event
        loop. A remembered plan (the usual audio-cache hit) is answered on the loop.

        Raises:
            InvalidInput: bad text, voice, format, speed, sample rate or deadline.
        """
        arrived = self._clock.monotonic()
        self._check_speed(request)
        resolved = self._known(request)
        if resolved is None:
            prepared = await asyncio.to_thread(self._prepare, request)
            resolved = self._resolve(request, prepared)
        return self._finish(request, arrived, resolved)

    def _prepare(self, request: SynthesisRequest) -> PreparedText:
        """The text front end: plain text, an SSML document (``request.ssml``) or a dialogue
        (:func:`voxgate.text.front.prepare_text`, :func:`voxgate.text.dialogue.prepare_dialogue`).

        Raises:
            InvalidInput: bad text or SSML (naming ``request.text_field``), or more exact silence
                than :data:`MAX_SILENCE_S` (naming it, or ``dialogue``).
        """
        if request.prepared is not None:  # a job's segment, through the front end at submission
            return request.prepared
        prepared = self._front_end(request)
        silence = prepared.trailing_s + sum(s.pause_before_s or 0.0 for s in prepared.segments)
        if silence > MAX_SILENCE_S:
            field = "dialogue" if request.dialogue is not None else request.text_field
            message = f"breaks and pauses add up to {silence:g} s of silence; at most {MAX_SILENCE_S:g} s"
            raise InvalidInput(field, message)
        return prepared

    def _front_end(self, request: SynthesisRequest) -> PreparedText:
        """:meth:`_prepare` without the bound on silence."""
        if request.dialogue is not None:
            lexicon = request.lexicon if request.lexicon is not None and len(request.lexicon) else None
            return prepare_dialogue(
                request.dialogue,
                max_chars=self._max_chars,
                max_segment_chars=self._max_segment_chars,
                known_voice=self.catalog.has,
                voice_languages=lambda voice: self.catalog.get(voice).languages,
                lexicon=lexicon,
            )
        return prepare_text(
            request.text,
            ssml=request.ssml,
            lexicon=request.lexicon,
            max_chars=self._max_chars,
            max_segment_chars=self._max_segment_chars,
            known_voice=self.catalog.has,
            voice_languages=lambda voice: self.catalog.get(voice).languages,
            field=request.text_field,
        )

    @staticmethod
    def _check_speed(request: SynthesisRequest) -> None:
        if not MIN_SPEED <= request.speed <= MAX_SPEED:
            raise InvalidOption("speed", f"speed must be between {MIN_SPEED} and {MAX_SPEED}")

    def _finish(self, request: SynthesisRequest, arrived: float, resolved: _Resolved) -> Plan:
        deadline_s = (
            request.deadline_s
            if request.deadline_s is not None
            else self._default_deadline(request, resolved.prepared)
        )
        if deadline_s <= 0:
            raise InvalidOption("deadline_ms", "deadline must be positive")
        opts = SynthesisOptions(speed=request.speed, emotion=request.emotion)
        r = resolved
        return Plan(r.prepared, r.voice, opts, r.out_rate, r.key, arrived + deadline_s, arrived)

    @staticmethod
    def _fields(request: SynthesisRequest) -> _RequestFields:
        return (
            request.text,
            request.voice,
            request.speed,
            request.format,
            request.sample_rate,
            request.emotion,
            request.ssml,
            request.dialogue,
            request.lexicon.version if request.lexicon is not None else None,
            request.prepared,
        )

    def _known(self, request: SynthesisRequest) -> _Resolved | None:
        """The remembered resolution of an identical request, if its primary's model is unchanged."""
        if not request.use_cache:
            return None
        fields = self._fields(request)
        known = self._resolved.get(fields)
        if known is None or self._versions(known.primaries) != known.model_version:
            return None
        self._resolved.move_to_end(fields)
        self.plans_reused += 1
        return known

    def _resolve(self, request: SynthesisRequest, prepared: PreparedText | None = None) -> _Resolved:
        """Prepare the text, pick the voice and rate, compute the cache key; remembered for repeats.

        The preparation is a pure function of the request fields and the configuration; only the
        primary engine's model version (reported by its workers) can change, so it is checked on
        reuse. Requests that bypass the cache (job segments) are not remembered.

        Args:
            request: the request.
            prepared: its text, already through the front end (else it is prepared here).
        """
        fields = self._fields(request)
        if prepared is None:
            known = self._known(request)
            if known is not None:
                return known
            prepared = self._prepare(request)
        self.texts_prepared += 1
        voice = (
            self.catalog.get(request.voice) if request.voice else self.catalog.default_for(prepared.language)
        )
        spec = format_spec(request.format)
        out_rate = spec.choose_rate(voice.sample_rate, request.sample_rate)
        chains = [self.chains.chain(voice, prepared.language)]
        if prepared.ssml:  # every voice and language a segment uses has its own chain
            pairs = {(s.voice or voice.id, s.language): None for s in prepared.segments}
            chains += [self.chains.chain(self.catalog.get(v), lang) for v, lang in pairs]
        primaries = tuple(dict.fromkeys(c[0].engine for c in chains))
        model_version = self._versions(primaries)
        key = cache_key(
            normalized_text=prepared.key_text(),
            voice=voice.id,
            speed=request.speed,
            fmt=request.format.value,
            sample_rate=out_rate,
            engine="|".join(dict.fromkeys(">".join(s.engine for s in c) for c in chains)),
            model_version=model_version,
            emotion=request.emotion.key() if request.emotion is not None else None,
        )
        resolved = _Resolved(prepared, voice, out_rate, key, primaries, model_version)
        if request.use_cache and self._resolved_max > 0:
            self._resolved[fields] = resolved
            self._resolved.move_to_end(fields)
            while len(self._resolved) > self._resolved_max:
                self._resolved.popitem(last=False)
        return resolved

    def _versions(self, primaries: tuple[str, ...]) -> str:
        return "|".join(self.backend.model_version(engine) for engine in primaries)

    def _default_deadline(self, request: SynthesisRequest, prepared: PreparedText) -> float:
        base = {
            Priority.INTERACTIVE: self._deadlines.interactive_s,
            Priority.API: self._deadlines.api_s,
            Priority.BATCH: self._deadlines.batch_s,
        }[request.priority]
        extra = max(0, len(prepared.text) - self._deadlines.per_char_after) * self._deadlines.per_char_s
        return base + extra

    def first_segment_chars(self, plan: Plan) -> int:
        """The longest first segment the primary engine speaks within the first-audio budget (P95).

        Searches lengths from the language's default limit down to its minimum; the estimate is
        the router's (learned per engine and language, a prior until then).
        """
        language = plan.prepared.segments[0].language
        engine = self.chains.chain(plan.voice, language)[0].engine
        low, high = min_limit(language), default_limit(language)
        if self.router.estimate(engine, high, language) <= self._first_audio_s:
            return high
        while low < high:  # the largest n in [low, high) whose estimate fits (low if none does)
            mid = (low + high + 1) // 2
            if self.router.estimate(engine, mid, language) <= self._first_audio_s:
                low = mid
            else:
                high = mid - 1
        return low
