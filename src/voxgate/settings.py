"""Configuration: ``VOXGATE_*`` environment variables and an optional TOML file.

Precedence (highest first): explicit keyword arguments, environment variables
(nested with ``__``, e.g. ``VOXGATE_ENGINES__KOKORO__THREADS=1``), the TOML file named by
``VOXGATE_CONFIG`` (or passed to :meth:`Settings.load`), then the defaults written here.
Nothing reads settings at import time: build a ``Settings`` and pass it down.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from voxgate.errors import InvalidInput
from voxgate.types import Priority
from voxgate.voices import is_blend, parse_blend


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "voxgate"


class ChaosSettings(BaseModel):
    """Fault injection around a real engine, for tests, benchmarks and game days. Off by default."""

    enabled: bool = False
    """Wrap the engine in the chaos wrapper (inside its worker processes)."""
    latency_ms: float = Field(default=0.0, ge=0)
    """Median added latency per call; drawn from a log-normal distribution."""
    latency_sigma: float = Field(default=0.5, ge=0)
    """Log-normal shape of the added latency (0 = fixed)."""
    error_rate: float = Field(default=0.0, ge=0, le=1)
    """Probability that a call raises an engine error."""
    hang_rate: float = Field(default=0.0, ge=0, le=1)
    """Probability that a call never returns."""
    crash_rate: float = Field(default=0.0, ge=0, le=1)
    """Probability that a call kills its worker process (SIGKILL to itself)."""
    leak_mb_per_call: float = Field(default=0.0, ge=0)
    """Megabytes allocated, touched and never freed per call."""
    seed: int | None = None
    """Random seed per worker (None: fresh randomness)."""
    spare_warmup: bool = True
    """Let each worker's warm-up calls through untouched, so workers can become ready."""
    poison_text: str = ""
    """A call whose text contains this non-empty string misbehaves as ``poison_effect`` says (fault
    injection for poison-input tests; empty = off). Works with every probability above at zero."""
    poison_effect: Literal["crash", "hang", "oom"] = "crash"
    """What a poison call does: ``crash`` = SIGKILL itself; ``hang`` = sleep forever; ``oom`` =
    allocate and touch memory until the hard RSS limit kills it (capped at twice that limit)."""
    load_hang: bool = False
    """Fault: each worker's engine load never returns (sleeps), whatever ``spare_warmup`` says, so
    no worker ever becomes ready (for tests of ``start_timeout_s``)."""


class EngineSettings(BaseModel):
    """Settings common to every engine and its worker pool."""

    enabled: bool = True
    """Offer this engine's voices and use it in fallback chains."""
    threads: int = Field(default=1, ge=1, le=64)
    """ONNX Runtime intra-op threads per worker (ignored by espeak). Keep workers × threads ≤ cores."""
    workers: int = Field(default=2, ge=1, le=64)
    """Worker subprocesses in this engine's pool."""
    soft_rss_mb: int = Field(default=1500, ge=16)
    """A worker above this resident memory is recycled after its current job."""
    hard_rss_mb: int = Field(default=2500, ge=16)
    """A worker above this resident memory is killed at once."""
    hang_after_s: float = Field(default=5.0, ge=0)
    """A call still running this long after its deadline is a hang: its worker is killed and replaced.

    The caller gets its timeout (and its fallback) at the deadline either way; a worker that is
    merely slow finishes its call and stays, so one late sentence does not cost an engine reload.
    """
    start_timeout_s: float = Field(default=120.0, gt=0)
    """A worker not ready (engine loaded and warmed up) this long after its spawn is hung: the
    watchdog kills it and a replacement starts, with the same backoff as a worker that cannot load.

    Kokoro loads and warms up in ~5-15 s on a busy 2-core machine; the margin covers a slow disk
    and a machine loaded by other work. Without it a worker hung in start-up stayed "starting"
    forever and the engine ran a worker short (or with none).
    """
    nice: int = Field(default=5, ge=0, le=19)
    """Niceness added to each worker process (Linux ``nice``), so that when the engines keep every
    core busy the kernel still gives the gateway's event loop (admission, routing, ``/healthz``,
    streaming) its turn first. Only matters under CPU contention: an idle gateway leaves the
    workers the whole machine. ``bench/burst.py --voices neural`` (30 requests at once to kokoro
    and piper, load 12-18): ``/healthz`` P50 46 → 20 ms, P99 246 → 136 ms, the burst's answers
    no slower. 0 keeps the gateway's own priority. Not applied to Ray replicas."""
    chaos: ChaosSettings = ChaosSettings()
    """Fault injection (off by default)."""


class KokoroSettings(EngineSettings):
    """Kokoro: ~0.9 GB per worker.

    Two threads per worker by default, although 2 workers × 2 threads oversubscribe 2 cores: a
    lone request (the common case, and what time to first audio measures) is spoken ~1.7× faster
    (7 Chinese characters: 690 ms instead of 1170 ms here), while with both workers busy the
    engine's throughput drops ~17 % (idle threads sleep rather than spin, see ``engines/_onnx``).
    Under load the router degrades to piper anyway; set 1 for the most throughput.
    """

    threads: int = Field(default=2, ge=1, le=64)

    soft_rss_mb: int = Field(default=1500, ge=16)
    hard_rss_mb: int = Field(default=2500, ge=16)
    blends: dict[str, str] = Field(default_factory=dict)
    """Named voice blends offered as kokoro voices: name → ``"jf_alpha:0.6+jf_nezumi:0.4"`` (weights
    above 0, normalised to sum to 1; the first voice gives the gender). Any request may also name
    a blend directly as its voice; a bad blend here stops the server at start."""
    zh_tone_sandhi: bool = False
    """Feed Chinese with spoken tones (一/不 and third-tone sandhi) instead of the dictionary tones
    misaki gives (see ``bench/g2p_audit.py``). Off: Kokoro v1.0 learned Chinese from misaki's
    dictionary tones; turn it on only if ``bench/quality.py --corpus zh_eval`` says it helps."""
    zh_speed: float = Field(default=1.0, ge=0.5, le=2.0)
    """Kokoro's pace for Chinese: it multiplies each request's ``speed`` for a Chinese piece (1 is
    kokoro's own pace). Measured with ``bench/zh_voices.py --zh-speed`` (README "Engines and
    voices"): jf_gongitsune at 0.85 read the zh_eval dev split with 13.1 % CER against 14.7 %
    (paired -1.7 points, 95 % CI -3.0 to -0.5), but the test split did not confirm it (13.2 against
    13.7 %, -0.5, CI -1.8 to +0.9), so the default stays 1: 0.85 makes Chinese audio 13 % longer
    (more compute, later first audio) and slower to listen to, for a gain within the noise."""

    @field_validator("blends")
    @classmethod
    def _blend_syntax(cls, blends: dict[str, str]) -> dict[str, str]:
        # syntax and weights here; that every part is a kokoro voice is checked by the engine
        for name, spec in blends.items():
            if is_blend(name) or not name.strip():
                raise ValueError(f"blend name {name!r} must not be empty or contain '+' or ':'")
            try:
                parse_blend(spec)
            except InvalidInput as exc:
                raise ValueError(f"blend {name!r}: {exc.message}") from None
        return blends


class PiperSettings(EngineSettings):
    """Piper: ~0.35 GB per worker."""

    soft_rss_mb: int = Field(default=800, ge=16)
    hard_rss_mb: int = Field(default=1500, ge=16)
    noise_scale: float | None = Field(default=0.333, ge=0, le=2)
    """VITS generator noise (None: the voice's own, 0.667 for joe). 0.333 (with ``noise_w_scale``
    0.333) is read by whisper-base at 9.5 % WER against 10.5 % (5 syntheses of Harvard lists 1-3;
    95 % CIs 5.5-13.9 % and 6.2-15.4 %, so a lean, not a proof) with the same DNSMOS."""
    noise_w_scale: float | None = Field(default=0.333, ge=0, le=2)
    """Phoneme-duration noise (None: the voice's own, 0.8 for joe)."""


class EspeakSettings(EngineSettings):
    """espeak-ng: ~40 MB per worker."""

    soft_rss_mb: int = Field(default=200, ge=16)
    hard_rss_mb: int = Field(default=400, ge=16)


class IndexTTS2Settings(EngineSettings):
    """IndexTTS-2 on the CPU through ``indextts-onnx`` (optional: ``pip install 'voxgate[indextts2]'``).

    Its 10 ONNX files (INT8 except the DiT and the vocoder, ~3.3 GB) and ``bpe.model`` are not on
    PyPI: place them in ``model_dir``. The engine is on only when the package is installed, the
    directory holds every file at a plausible size and every speaker's reference recording exists;
    otherwise ``voxgate voices``, ``GET /api/v1/voices`` (``engines_off``) and the startup log say why.
    Slow: assume several seconds of computing per second of speech, so the router keeps it for
    batch work and long deadlines. One worker with two threads (~4-5 GB resident, an estimate).
    """

    enabled: bool | Literal["auto"] = "auto"  # type: ignore[assignment]
    """``auto``: on when available, else off (logged at info level). ``true``: the same, but an
    unavailable engine is a warning at start. ``false``: off."""
    model_dir: Path | None = None
    """Directory of the ``indextts-onnx`` model files (``wav2vec2bert_int8.onnx`` ... ``bigvgan.onnx``,
    ``bpe.model``)."""
    speakers: dict[str, Path] = {}
    """voxgate voice id → the speaker's reference recording (a WAV of up to 15 s; IndexTTS-2
    clones its voice). Ids must not clash with other engines' voices."""
    languages: list[str] = Field(default=["zh", "en"], min_length=1)
    """Languages its voices are offered for, primary first (IndexTTS-2 reads Chinese and English)."""
    threads: int = Field(default=2, ge=1, le=64)
    workers: int = Field(default=1, ge=1, le=64)
    soft_rss_mb: int = Field(default=6000, ge=16)
    hard_rss_mb: int = Field(default=9000, ge=16)
    hang_after_s: float = Field(default=60.0, ge=0)
    start_timeout_s: float = Field(default=900.0, gt=0)
    """As for every engine; longer here: ~3.3 GB of ONNX files to read and a slow warm-up sentence
    (an estimate: not measured on this machine)."""


class EnginesSettings(BaseModel):
    """One block per engine."""

    kokoro: KokoroSettings = KokoroSettings()
    piper: PiperSettings = PiperSettings()
    espeak: EspeakSettings = EspeakSettings()
    indextts2: IndexTTS2Settings = IndexTTS2Settings()


class TextSettings(BaseModel):
    """Limits of the text front end."""

    max_chars: int = Field(default=4096, ge=1)
    """Maximum characters in one synchronous request (longer texts belong in a batch job)."""
    max_segment_chars: int = Field(default=250, ge=20)
    """Longest segment (sentence or piece of one) handed to an engine in one call."""
    max_line_chars: int = Field(default=10_000, ge=100)
    """A job's text lines longer than this are wrapped (at a space when there is one) before
    chapter splitting, so no title or per-line step ever sees more."""
    lexicon_file: Path | None = None
    """The server's pronunciation lexicon: a JSON list of entries ``{"word", "say" | "ipa" |
    "pinyin", "case_sensitive"?}`` (or ``{"entries": [...]}``) applied to every request, under
    each API key's own entries (``/api/v1/lexicon``); None = none. A bad file stops the start."""
    lexicon_max_entries: int = Field(default=1000, ge=0, le=100_000)
    """Most entries in one API key's lexicon (kept in ``<data_dir>/lexicons/``)."""


class DeadlineSettings(BaseModel):
    """Default deadline of a request that names none: ``base + max(0, chars − per_char_after) × per_char_s``.

    Texts up to ``per_char_after`` characters get the base deadline alone, so the SLA's "P95 ≤ 3 s
    for requests ≤ 200 characters" is what an interactive request is scheduled against.
    """

    interactive_s: float = Field(default=3.0, gt=0)
    """Web UI requests: the SLA's P95 target."""
    api_s: float = Field(default=10.0, gt=0)
    """Native and OpenAI-compatible API requests."""
    batch_s: float = Field(default=120.0, gt=0)
    """Long-form job segments."""
    per_char_s: float = Field(default=0.02, ge=0)
    """Extra allowance per character beyond ``per_char_after``, for long texts."""
    per_char_after: int = Field(default=200, ge=0)
    """Characters covered by the base deadline."""


class BreakerSettings(BaseModel):
    """Circuit breaker per engine (resilience4j's count-based window)."""

    window_size: int = Field(default=20, ge=1)
    minimum_calls: int = Field(default=5, ge=1)
    failure_rate_threshold: float = Field(default=0.5, gt=0, le=1)
    slow_call_duration_s: float = Field(default=5.0, gt=0)
    slow_call_rate_threshold: float = Field(default=0.8, gt=0, le=1)
    wait_duration_open_s: float = Field(default=10.0, gt=0)
    permitted_calls_half_open: int = Field(default=3, ge=1)


class RateLimitSettings(BaseModel):
    """Admission control per client (API key, else remote address)."""

    storage_uri: str = "async+memory://"
    """``limits`` storage; ``async+redis://host:6379/0`` shares the rate limits between gateways, and
    the daily character quotas too (kept in the same Redis database). A Redis that fails or is slow
    (each call is bounded at 250 ms, then it is skipped for a second) admits requests unchecked,
    counted in ``voxgate_limits_store_errors_total``. Needs ``pip install 'voxgate[scale]'``."""
    store_timeout_s: float = Field(default=0.25, gt=0, le=10)
    """Bound on each call to a Redis ``storage_uri`` (rate limits and quotas); a call past it is a
    failure: the request is admitted unchecked and Redis is skipped for a while (1 s, doubling)."""
    default: str = "120/minute;2000/hour"
    """Rate limit of a client without an override, in ``limits`` notation."""
    per_client: dict[str, str] = {}
    """Overrides by client id."""
    daily_chars: int = Field(default=4_000_000, ge=0)
    """Characters a client may synthesise per UTC day, its jobs included (0 = unlimited). The
    default covers two books of ``jobs.max_total_chars``; the 2-core reference machine speaks
    about 17 M characters a day with piper."""
    daily_chars_per_client: dict[str, int] = {}
    """Quota overrides by client id."""


class QosSettings(BaseModel):
    """Scheduling: deadlines, breakers, admission, hedging, fallback chains."""

    backend: str = "local://"
    """Execution backend: ``local://`` runs engines in local worker subprocesses; ``ray://HOST:PORT``
    runs each local engine as a Ray Serve application ``voxgate-<engine>`` on the Ray cluster whose
    GCS listens there (``ray start --head --port PORT``), ``ray://local`` on a Ray started in the
    gateway's process (development). Ray needs ``pip install 'voxgate[ray]'``; the engine blocks
    (workers, threads, RSS limits) shape the replicas."""
    local_engines: list[Literal["kokoro", "piper", "espeak", "indextts2"]] = ["espeak"]
    """With a ``ray://`` backend, the engines that still run in this gateway's own worker processes.
    The default keeps the last resort local: a request whose primary used up its time on the
    cluster (a replica killed mid-call, a saturated node) still gets espeak within its deadline,
    and a gateway cut off from Ray still answers. espeak needs ~40 MB and ~10 ms a call, less than
    a Ray call's own cost on a busy node. ``[]`` puts every local engine on Ray. Ignored with
    ``local://``."""
    deadlines: DeadlineSettings = DeadlineSettings()
    breaker: BreakerSettings = BreakerSettings()
    limits: RateLimitSettings = RateLimitSettings()
    fallbacks: dict[str, list[str]] = {"en": ["piper", "espeak"], "*": ["espeak"]}
    """Engines tried after the voice's own, per language (``*`` = any other); espeak must end each."""
    default_voices: dict[str, str] = {}
    """Voice per language for requests that name none, over the built-in choice (``en`` joe,
    ``zh`` jf_gongitsune:0.5+jm_kumo:0.5, ``ja`` jf_alpha); any voice, a blend or a remote engine's, e.g.
    ``{ zh = "studio-zh" }``. Its chain is its engine, then ``fallbacks[language]``. Checked at
    start: a voice that does not exist or does not read the language stops the start with an
    error naming ``qos.default_voices.<language>``."""
    estimate_quantile: float = Field(default=0.95, gt=0, lt=1)
    """Service-time quantile the router compares with the remaining deadline."""
    first_audio_s: float = Field(default=1.0, gt=0)
    """Streaming: a long first sentence is cut (clause, else word boundary) so that the primary
    engine's P95 estimate for the first piece fits in this many seconds."""
    hedge_after: float | None = Field(default=None, gt=0, lt=1)
    """Start the next engine too once an engine has used this share of its budget (None: no hedging)."""


class CacheSettings(BaseModel):
    """Audio cache of finished, non-degraded answers."""

    url: str = "memory://?max_bytes=268435456"
    """``memory://?max_bytes=N``, ``disk:///dir?max_bytes=N``, ``tiered:///dir?...`` or
    ``redis://host:6379/1?max_bytes=N`` (shared by every gateway; ``max_bytes`` there is the largest
    entry kept, the total is Redis's ``maxmemory``: run it with ``maxmemory-policy allkeys-lru``;
    needs ``pip install 'voxgate[scale]'``). Completed streams are cached as whole answers are.

    ``memory://?max_bytes=0`` disables caching."""


class ApiKeySettings(BaseModel):
    """One client's API key and its own limits."""

    key: SecretStr = Field(min_length=16)
    """The bearer token (``Authorization: Bearer <key>``); masked in repr, logs and dumps."""
    rate_limit: str | None = None
    """Overrides ``qos.limits.default`` for this client, e.g. ``"600/minute"``."""
    daily_chars: int | None = Field(default=None, ge=0)
    """Overrides ``qos.limits.daily_chars`` for this client."""
    priorities: list[Priority] = Field(default=[Priority.API, Priority.BATCH], min_length=1)
    """Priorities this client may ask for; asking for another is refused (403 naming ``priority``).
    Give ``interactive`` only to the keys of people waiting for the answer (the web UI's users)."""
    min_deadline_ms: int = Field(default=1000, ge=100, le=600_000)
    """Shortest ``deadline_ms`` this client may ask for (a shorter one is refused, 403 naming
    ``deadline_ms``): tiny deadlines only make engines time out for everyone."""


class KeylessSettings(BaseModel):
    """What a request may ask for when no API keys are configured (one local user, no accounts).

    Without keys there is no security boundary, only fairness between one's own programs: any
    local program can send whatever headers it likes.
    """

    priorities: list[Priority] = Field(
        default=[Priority.INTERACTIVE, Priority.API, Priority.BATCH], min_length=1
    )
    """Priorities a keyless request may ask for. Narrow it (e.g. to ``["api", "batch"]``) to keep
    scripts out of the interactive class; the web UI (a same-origin browser request, see
    ``ui_interactive``) may still use it."""
    ui_interactive: bool = True
    """The web UI may ask for ``interactive`` even when ``priorities`` leaves it out. The UI is
    told apart by its ``Origin`` header naming this server, which any non-browser client can
    forge: a convenience for keyless mode, not a control."""
    min_deadline_ms: int = Field(default=1000, ge=100, le=600_000)
    """Shortest ``deadline_ms`` a keyless request may ask for."""


class JobsSettings(BaseModel):
    """Long-form jobs (audiobooks): where they are kept and how much engine capacity they may hold."""

    enabled: bool = True
    """Run and accept jobs here. Jobs live in this gateway's SQLite database, so when several
    gateways serve behind a load balancer exactly one has ``true`` and the balancer sends it every
    ``/api/v1/jobs`` request; the others answer those with 503 (``jobs_unavailable``)."""
    database: Path | None = None
    """SQLite database of jobs, chapters and segments; None: ``<data_dir>/jobs.sqlite3``."""
    audio_dir: Path | None = None
    """Segment, chapter and book audio; None: ``<data_dir>/jobs/``."""
    max_total_chars: int = Field(default=2_000_000, ge=1)
    """Most characters one job may have (a larger submission gets 413)."""
    capacity_share: float = Field(default=0.5, gt=0, le=1)
    """Share of an engine's worker slots all jobs together may hold (rounded down, at least one)."""
    max_concurrent_segments: int = Field(default=2, ge=1)
    """Most job segments in flight per engine across all jobs, whatever the capacity."""
    segment_retries: int = Field(default=3, ge=0)
    """Retries of a segment that failed on every engine, before its job is marked failed."""
    retry_backoff_s: float = Field(default=2.0, gt=0)
    """Wait before the first retry; each further retry waits twice as long."""
    retry_backoff_max_s: float = Field(default=60.0, gt=0)
    """Longest wait between two retries of a segment."""
    max_active_per_owner: int = Field(default=3, ge=1)
    """Most queued or running jobs one client may have; one more submission gets 429."""
    max_disk_bytes: int = Field(default=10 * 2**30, ge=0)
    """Disk budget of all jobs' audio (10 GiB); a submission whose estimated audio would not fit in
    what is left gets 413 before it starts. 0: no budget."""
    retention_days: float = Field(default=7.0, ge=0)
    """Finished, failed and cancelled jobs older than this are deleted (record and files). 0: keep forever."""
    retention_sweep_s: float = Field(default=3600.0, gt=0)
    """How often the retention sweep runs."""
    keep_segments: bool = False
    """Keep each segment's WAV file after the job is done (they are only needed to re-render; the chapter
    and book files, the index and the captions do not need them)."""
    disk_full_retry_s: float = Field(default=30.0, gt=0)
    """A job that could not write for lack of space (ENOSPC) waits this long, then tries again."""


class LimitsSettings(BaseModel):
    """Request bodies, bounded while they are read (before any parsing).

    A body over its route's limit is answered 413 at once when its ``Content-Length`` says so,
    else the moment the bytes received pass the limit; nothing is buffered beyond one chunk.
    """

    json_body_bytes: int | None = Field(default=None, ge=1024)
    """Largest request body of every route but job submission (the JSON of ``/api/v1/tts`` and
    ``/v1/audio/speech``). None: 256 KiB, or 12 bytes per ``text.max_chars`` character plus
    16 KiB when that is more (JSON spends at most 12 bytes on one character, a ``\\uXXXX\\uXXXX``
    surrogate pair)."""
    job_body_bytes: int | None = Field(default=None, ge=1024)
    """Largest body of ``POST /api/v1/jobs`` (JSON or a multipart upload). None: 4 bytes per
    ``jobs.max_total_chars`` character plus 1 MiB for keys, escapes, options and multipart
    framing (9 MiB by default)."""
    body_timeout_s: float = Field(default=30.0, gt=0)
    """Longest wait for the next piece of a request body (idle time between chunks, not the
    whole upload: a slow but steady upload is fine, a stalled one gets 408)."""
    body_min_rate: float = Field(default=1024.0, ge=0)
    """Bytes per second a body must average once it has taken ``body_timeout_s``, else 408: a
    client trickling a byte every few seconds cannot hold a connection for hours (0: no minimum).
    At the default a 9 MiB book still has 2.5 hours."""


class RealtimeSettings(BaseModel):
    """The realtime WebSocket, ``/api/v1/tts/realtime`` (text fragments in, audio out, barge-in)."""

    max_sockets_per_client: int = Field(default=4, ge=1, le=10_000)
    """Open realtime sockets per API key (per remote address without keys); one more is refused
    at the handshake (429)."""
    idle_timeout_s: float = Field(default=60.0, gt=0)
    """A socket without a client frame or audio sent for this long is closed (1000, after a
    ``warning`` frame with code ``idle_timeout``)."""
    max_buffer_delay_ms: int = Field(default=300, ge=0, le=10_000)
    """Text without a clause boundary is synthesised (its whole words, never fewer than three
    unless flushed) once no fragment has arrived for this long (the model paused), or once it has
    waited this long and holds 15 words (a long run without punctuation). A sentence whose tokens
    keep coming is not cut inside, however long it takes to arrive."""
    chars_per_minute: int | None = Field(default=None, ge=1)
    """Characters a client may send per sliding minute over all its sockets; more gets an
    ``error`` frame (code ``rate_limit``) and is dropped. ``None``: only the daily quota counts."""
    max_frame_bytes: int = Field(default=16384, ge=256, le=1_048_576)
    """The largest client frame; a larger one gets an ``error`` frame naming ``frame``."""
    frame_ms: int = Field(default=100, ge=10, le=2000)
    """Audio per binary frame sent, in milliseconds."""
    eager_cut: bool = True
    """Cut a clause at a ``. , ; :`` that ends the text received so far when the word before it
    is plainly a word (not a number, initial, abbreviation or part of a URL), without waiting for
    the next fragment's whitespace (a token's time; see ``voxgate.realtime.chunker``). Off: wait
    for it, which never cuts ``example.`` of an ``example.com`` that arrives in two fragments."""
    stream: bool = True
    """Send a piece's audio as the engine makes it (piper decodes a clause in windows: its first
    audio leaves after ~0.2 s of speech is decoded, not the whole clause). Not with
    ``timestamps=true`` (a piece's ``words`` frame comes before its audio). Off: each piece is
    synthesised whole, then sent."""


class ServerSettings(BaseModel):
    """The HTTP server."""

    host: str = "127.0.0.1"
    """Bind address; localhost by default (an open server must be exposed on purpose)."""
    port: int = Field(default=8000, ge=1, le=65535)
    api_keys: dict[str, ApiKeySettings] = {}
    """Client name → key, limits and entitlements. Empty: no authentication (keep the server on
    localhost). With keys, every route except ``/healthz``, ``/readyz`` and the web UI's static
    files (HTML, JS, CSS: no data) needs one."""
    metrics_token: SecretStr | None = Field(default=None, min_length=16)
    """A bearer token accepted on ``/metrics`` only (for a Prometheus scraper), besides the API
    keys. When set, ``/metrics`` needs it (or a key) even without API keys."""
    allowed_hosts: list[str] = []
    """Host names (without port) this server answers to, besides ``localhost`` (and
    ``*.localhost``), ``127.0.0.1``, ``[::1]`` and ``host``. Requests naming another ``Host`` are
    refused (421): a web page cannot reach this server through a DNS name it controls (DNS
    rebinding). Checked when no API keys are configured, or whenever this list is not empty;
    ``["*"]`` accepts any host."""
    allowed_origins: list[str] = []
    """Web origins (``https://app.example.com``) besides this server's own that may send
    state-changing requests (POST, PUT, PATCH, DELETE); any other ``Origin`` is refused (403)."""
    keyless: KeylessSettings = KeylessSettings()
    """Entitlements of requests when no API keys are configured."""
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    """On SIGTERM, in-flight requests get this long to finish."""
    log_json: bool = True
    """Structured JSON logs (one object per line); False for human-readable console logs."""
    header_timeout_s: float = Field(default=10.0, gt=0)
    """A request head (request line and headers) must arrive within this many seconds of its
    first byte (or of the connection opening), else the connection gets 408 and is closed: a
    client sending its headers a byte at a time (slow loris) holds a connection for bounded time.
    The rest of a body the server answered without reading (e.g. after a 413) gets as long. Idle
    keep-alive connections close after 5 s; bodies that are read: ``limits.body_timeout_s``."""
    max_connections: int | None = Field(default=None, ge=1)
    """Most open client connections; one more is answered 503 (``Retry-After: 1``) and closed.
    None: the process's open-file limit (``ulimit -n``) minus 256 kept for worker pipes, cache
    files, logs and Redis, so the server stops accepting before it runs out of file descriptors
    (when it runs out, no one is served at all)."""
    max_connections_per_client: int | None = Field(default=None, ge=1)
    """Most open connections from one client address; one more is answered 503 and closed. None:
    no per-client cap. Set it (e.g. 64) when untrusted clients reach the server directly, so one
    address cannot take all of ``max_connections``; behind a reverse proxy every connection comes
    from the proxy's address, so leave it unset there (or set it above the proxy's pool)."""


REMOTE_KINDS = ("openai", "indextts2", "dashscope")
"""Remote kinds voxgate builds (:mod:`voxgate.remotes`)."""
REMOTE_KINDS_PLANNED: tuple[str, ...] = ()
"""Remote kinds the configuration names but voxgate does not build yet."""
DASHSCOPE_WEBSOCKET_URL = "wss://dashscope.aliyuncs.com/api-ws/v1/inference"
"""DashScope's WebSocket inference endpoint (the ``dashscope`` SDK's default)."""
DASHSCOPE_URL_ENV = "DASHSCOPE_WEBSOCKET_BASE_URL"
"""The SDK's own override of that endpoint, honoured for a ``dashscope`` table without ``url``."""
REMOTE_KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "indextts2": {
        "model": "IndexTTS-2",
        "sample_rate": 22050,
        "max_concurrency": 2,
        # RTF ~0.3 on an RTX 4090 and ~4 Chinese characters a second of speech: ~0.08 s a
        # character, plus the speaker and emotion conditioning of every call (pessimistic until
        # measured, so the router skips it for interactive requests it would not finish in time)
        "prior_per_char_s": 0.08,
        "prior_overhead_s": 1.5,
    },
    "dashscope": {
        "model": "sambert",
        "languages": ["zh", "en"],
        # a cloud service far faster than real time; 0.05 s a character plus 0.6 s for the TLS and
        # WebSocket handshake and task start of every call is pessimistic until measured
        "prior_per_char_s": 0.05,
        "prior_overhead_s": 0.6,
        # two Chinese and two English Sambert voices (voxgate.remotes.sambert.SAMBERT_MODELS)
        "voices": {
            "sambert-zhichu": "sambert-zhichu-v1",
            "sambert-zhiqi": "sambert-zhiqi-v1",
            "sambert-beth": "sambert-beth-v1",
            "sambert-brian": "sambert-brian-v1",
        },
    },
}
"""Per kind, the defaults that differ from a remote table's field defaults (a table's own values win)."""
RESERVED_ENGINE_NAMES = frozenset({"kokoro", "piper", "espeak", "indextts2", "voxgate"})
"""Names a remote may not take: local engines and voxgate's own model name."""
_REMOTE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class RemoteSettings(BaseModel):
    """An engine someone else runs, reached over HTTP from the gateway (``[remotes.NAME]``).

    The table's name is the engine's name (in chains, ``qos.fallbacks``, ``X-Voxgate-Engine``,
    metrics). It runs no subprocess: the gateway holds up to ``max_concurrency`` requests to it at
    once, and admission, the scheduler, breakers, the estimator and the router treat it like any
    local engine.
    """

    model_config = ConfigDict(extra="forbid")

    kind: str
    """``openai``: any server with ``POST {url}/audio/speech`` (Kokoro-FastAPI, LocalAI,
    openedai-speech, another voxgate). ``indextts2``: index-tts-vllm's ``api_server_v2`` for
    IndexTTS-2 (``url`` is its root, e.g. ``http://gpu-box:6006``; ``voices`` map to speaker
    reference paths on that server; defaults ``model = "IndexTTS-2"``, ``sample_rate = 22050``,
    ``max_concurrency = 2``, ``prior_per_char_s = 0.08``, ``prior_overhead_s = 1.5``).
    ``dashscope``: Alibaba's Sambert voices through the ``dashscope`` SDK (``pip install
    'voxgate[dashscope]'``); ``voices`` map to Sambert model names (``sambert-zhichu-v1``...), each
    voice speaks at its model's native rate (48 or 16 kHz); defaults: ``url`` =
    ``$DASHSCOPE_WEBSOCKET_BASE_URL`` or DashScope's endpoint, the key from ``$DASHSCOPE_API_KEY``,
    ``languages = ["zh", "en"]``, four voices ``sambert-zhichu``, ``sambert-zhiqi`` (zh+en),
    ``sambert-beth``, ``sambert-brian`` (en)."""
    url: str
    """Base URL the kind's paths are appended to, e.g. ``http://gpu-box:8000/v1``. No credentials
    in it: use ``api_key_env`` or ``api_key``. ``dashscope``: the WebSocket inference URL
    (``ws://`` or ``wss://``; point it at a proxy or a regional endpoint)."""
    api_key_env: str | None = None
    """Environment variable holding the key sent as ``Authorization: Bearer``; read at start
    (``dashscope`` without ``api_key_env`` or ``api_key``: ``DASHSCOPE_API_KEY``)."""
    api_key: SecretStr | None = None
    """The key itself (prefer ``api_key_env``; not both); never logged, shown or sent to worker
    processes. (Checked when the gateway starts, not here: a model-level validation error would
    echo the table, key included.)"""
    model: str = Field(default="tts-1", min_length=1)
    """The remote's ``model`` field (``dashscope``: only a name in its cache version; each voice's
    Sambert model is the model sent)."""
    languages: list[str] = Field(min_length=1)
    """Languages its voices read, primary first (``dashscope``: the languages its latency priors
    are kept for; each voice reads its Sambert model's own languages)."""
    max_concurrency: int = Field(default=4, ge=1, le=256)
    """Requests in flight to it at once: its slots in the scheduler (0 while its health probe fails)."""
    voices: dict[str, str] = Field(min_length=1)
    """voxgate voice id → the remote's voice name (``indextts2``: the speaker reference audio's path
    on that server; ``dashscope``: a Sambert model name). Ids must not clash with other engines'
    voices."""
    sample_rate: int = Field(default=24000, ge=8000, le=192000)
    """Rate its voices are listed with and voxgate's answers use by default (OpenAI speaks 24 kHz);
    the remote's audio is decoded at whatever rate it sends and resampled. Not used by
    ``dashscope``, whose voices speak their model's native rate."""
    connect_timeout_s: float = Field(default=2.0, gt=0)
    """Longest wait for a TCP/TLS connection; a request's whole call is bounded by its deadline."""
    health_interval_s: float = Field(default=5.0, gt=0)
    """Seconds between health probes (``GET {url}/models`` for ``openai``, ``GET {url}/health``
    for ``indextts2``, a WebSocket handshake for ``dashscope``)."""
    prior_per_char_s: float = Field(default=0.02, ge=0)
    """Assumed seconds per character until its service time has been measured."""
    prior_overhead_s: float = Field(default=0.3, ge=0)
    """Assumed fixed seconds per call (network, queueing there) until measured."""
    max_text_tokens_per_sentence: int = Field(default=120, ge=20, le=600)
    """``indextts2`` only: the server splits a segment into pieces of at most this many text
    tokens (its ``max_text_tokens_per_sentence``; the server's default is 120)."""

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            defaults = dict(REMOTE_KIND_DEFAULTS.get(data["kind"], {}))
            if data["kind"] == "dashscope":  # the SDK reads it at import; voxgate when settings load
                defaults["url"] = os.environ.get(DASHSCOPE_URL_ENV) or DASHSCOPE_WEBSOCKET_URL
            return {**defaults, **data}
        return data

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        supported = ", ".join(repr(k) for k in REMOTE_KINDS)
        if kind in REMOTE_KINDS_PLANNED:
            raise ValueError(f"remote kind {kind!r} is not built yet; supported: {supported}")
        if kind not in REMOTE_KINDS:
            raise ValueError(f"unknown remote kind {kind!r}; supported: {supported}")
        return kind

    @field_validator("url")
    @classmethod
    def _plain_url(cls, url: str, info: ValidationInfo) -> str:
        parts = urlsplit(url)
        if info.data.get("kind") == "dashscope":
            if parts.scheme not in ("ws", "wss") or not parts.hostname:
                raise ValueError("url must be ws:// or wss:// with a host (DashScope's WebSocket endpoint)")
        elif parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be http:// or https:// with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("url must not carry credentials; use api_key_env or api_key")
        return url.rstrip("/")


def _remote_name(name: str) -> str:
    if not _REMOTE_NAME.fullmatch(name) or name in RESERVED_ENGINE_NAMES:
        raise ValueError(
            f"remote name {name!r}: use lowercase letters, digits, '-' or '_' (at most 32), "
            f"not one of {sorted(RESERVED_ENGINE_NAMES)}"
        )
    return name


RemoteName = Annotated[str, AfterValidator(_remote_name)]


class Settings(BaseSettings):
    """Everything voxgate can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="VOXGATE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where voxgate keeps its files: the joined kokoro model, the disk cache, the jobs database."""
    text: TextSettings = TextSettings()
    engines: EnginesSettings = EnginesSettings()
    remotes: dict[RemoteName, RemoteSettings] = {}
    """Remote engines by name (``[remotes.NAME]``; env ``VOXGATE_REMOTES__NAME__FIELD``)."""
    qos: QosSettings = QosSettings()
    server: ServerSettings = ServerSettings()
    cache: CacheSettings = CacheSettings()
    jobs: JobsSettings = JobsSettings()
    limits: LimitsSettings = LimitsSettings()
    realtime: RealtimeSettings = RealtimeSettings()

    @classmethod
    def load(cls, config_file: Path | str | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, a TOML file, the environment and ``overrides``.

        Args:
            config_file: TOML file; defaults to ``$VOXGATE_CONFIG`` when set.
            **overrides: field values that win over every other source.

        Returns:
            The validated settings.

        Raises:
            FileNotFoundError: if the named config file does not exist.
            pydantic.ValidationError: if a value is invalid.
        """
        path = config_file if config_file is not None else os.environ.get("VOXGATE_CONFIG")
        if path is None:
            return cls(**overrides)
        if not Path(path).is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        config = SettingsConfigDict(**{**cls.model_config, "toml_file": Path(path)})
        with_file: type[Settings] = type(
            cls.__name__, (cls,), {"model_config": config, "__module__": cls.__module__}
        )
        return with_file(**overrides)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Insert the TOML file below the environment."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
