"""The SLA bench's hostile clients, as data: what each attacker sends, when, and how it ended (pure).

Scenario 8 runs these beside legitimate interactive load (the I/O lives in ``_sla_hostile.py``):

- ``huge-json`` / ``huge-chunked`` / ``huge-multipart``: a 64 MB body to ``/api/v1/tts`` (with a
  Content-Length, then chunked without one) and to ``/api/v1/jobs`` (multipart), streamed from a
  64 KB buffer so the bench never holds 64 MB;
- ``markdown-job``: a ~30 KB Markdown upload whose headings and emphasis make a backtracking
  regex run for minutes;
- ``poison``: texts carrying ``POISON_MARKER``, which the server's fault-injection wrapper
  (``engines.piper.chaos.poison_text``) turns into a worker crash;
- ``leave-*``: streaming clients that close after the first chunk (native and OpenAI routes);
- ``loris-body`` / ``loris-headers``: raw connections that send a body, or headers, a few bytes a
  second and never finish.

Every attacker is bounded in count (``AttackSpec.max_count``) and in time (``ATTACK_TIMEOUT_S``
per attempt, ``LORIS_HOLD_S`` per slow connection) and talks only to 127.0.0.1.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from _sla_stats import Check, quantile

HUGE_BODY_BYTES = 64 * 2**20
"""Size of each huge body."""
CHUNK_BYTES = 64 * 2**10
"""Bytes per write of a streamed body (the most the bench holds of it)."""
ATTACK_TIMEOUT_S = 30.0
"""Longest one attempt may take (connect to last byte) before it counts as ``timeout``."""
LORIS_HOLD_S = 30.0
"""Longest a slow-loris connection is held open by the bench."""
LORIS_BYTES_PER_S = 2.0
"""Pace of a slow-loris connection."""
POISON_MARKER = "qxpoisonpillqx"
"""A word that survives text normalisation unchanged; the chaos wrapper crashes on it."""
POISON_TEXTS = tuple(f"The word {POISON_MARKER} is poison number {n}." for n in ("one", "two", "three"))
"""Three poison sentences, each sent again and again (a server should remember each after two crashes)."""
HUGE = ("huge-json", "huge-chunked", "huge-multipart")
"""Attacks whose right answer is 413."""
MULTIPART_BOUNDARY = "voxgatebenchboundary7e3f"


@dataclass(frozen=True, slots=True)
class AttackSpec:
    """One kind of attacker.

    Attributes:
        kind: its name in the report.
        first_s: offset of its first attempt from the scenario's start.
        every_s: seconds between two attempts' planned starts.
        max_count: most attempts in one scenario.
        sequential: wait for one attempt to end before the next starts (one connection's worth).
        expect: what a robust server answers (shown in the report).
    """

    kind: str
    first_s: float
    every_s: float
    max_count: int
    sequential: bool
    expect: str


ATTACKS = (
    AttackSpec("huge-json", 1.0, 8.0, 4, True, "413 at once"),
    AttackSpec("huge-chunked", 5.0, 8.0, 4, True, "413 at once"),
    AttackSpec("huge-multipart", 3.0, 10.0, 3, True, "413 at once"),
    AttackSpec("markdown-job", 2.0, 30.0, 2, True, "2xx or 4xx within a second"),
    AttackSpec("poison", 0.5, 2.0, 20, False, "200 (degraded: remembered after two crashes)"),
    AttackSpec("leave-native", 0.3, 1.0, 40, False, "200, then the client leaves"),
    AttackSpec("leave-openai", 0.7, 2.0, 20, False, "200, then the client leaves"),
    AttackSpec("leave-openai-sse", 1.7, 2.0, 20, False, "200, then the client leaves"),
    AttackSpec("loris-body", 0.2, 0.2, 20, False, "closed by the server (or 408)"),
    AttackSpec("loris-headers", 0.3, 0.2, 20, False, "closed by the server (or 408)"),
)


@dataclass(frozen=True, slots=True)
class AttackRecord:
    """How one attempt ended (times in seconds from the scenario's start).

    ``status`` is the HTTP status, or 0 when none came; ``error`` is the error code of a JSON error
    body, a transport error's name, ``timeout``, or what a slow or leaving client saw (``left after
    first chunk``, ``closed by server``, ``held open``).
    """

    kind: str
    seq: int
    start_s: float
    end_s: float
    status: int
    error: str
    sent_bytes: int

    @property
    def latency_s(self) -> float:
        """Seconds from the first byte sent to the end of the attempt."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class AttackStats:
    """All attempts of one kind."""

    kind: str
    n: int
    outcomes: Mapping[str, int]
    p50_s: float
    max_s: float


def attack_times(spec: AttackSpec, duration_s: float) -> list[float]:
    """Planned starts of ``spec``'s attempts in ``[0, duration_s)``, at most ``spec.max_count``."""
    if spec.every_s <= 0:
        raise ValueError(f"every_s must be positive, got {spec.every_s}")
    room = math.ceil((duration_s - spec.first_s) / spec.every_s) if duration_s > spec.first_s else 0
    return [spec.first_s + k * spec.every_s for k in range(min(spec.max_count, room))]


def filled_chunks(prefix: bytes, suffix: bytes, total: int, chunk: int = CHUNK_BYTES) -> Iterator[bytes]:
    """``prefix``, filler ``a`` bytes, ``suffix``: ``total`` bytes in pieces of at most ``chunk``.

    Raises:
        ValueError: ``total`` is shorter than ``prefix`` and ``suffix`` together, or ``chunk`` < 1.
    """
    filler = total - len(prefix) - len(suffix)
    if filler < 0 or chunk < 1:
        raise ValueError(f"cannot fill {total} bytes around {len(prefix) + len(suffix)} in chunks of {chunk}")
    block = b"a" * chunk
    for at in range(0, len(prefix), chunk):
        yield prefix[at : at + chunk]
    while filler > 0:
        take = min(filler, chunk)
        yield block[:take]
        filler -= take
    for at in range(0, len(suffix), chunk):
        yield suffix[at : at + chunk]


def huge_json(voice: str, total: int = HUGE_BODY_BYTES) -> Iterator[bytes]:
    """A valid JSON TTS request of ``total`` bytes whose text is one huge word."""
    return filled_chunks(b'{"text": "', f'", "voice": "{voice}"}}'.encode(), total)


def huge_multipart(voice: str, total: int = HUGE_BODY_BYTES) -> Iterator[bytes]:
    """A multipart job upload of ``total`` bytes (boundary ``MULTIPART_BOUNDARY``)."""
    b = MULTIPART_BOUNDARY
    prefix = (
        f'--{b}\r\nContent-Disposition: form-data; name="voice"\r\n\r\n{voice}\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="huge.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return filled_chunks(prefix, f"\r\n--{b}--\r\n".encode(), total)


def pathological_markdown(target_bytes: int = 30_000) -> str:
    """About ``target_bytes`` of Markdown: ``"**a " * 4000`` after heading lines of the issue's shape.

    Each heading line is ``"# a" + " " * 3000 + "#" + " " * 3000 + "b"``.
    """
    heading = "# a" + " " * 3000 + "#" + " " * 3000 + "b"
    emphasis = "**a " * 4000
    count = max(1, (target_bytes - len(emphasis)) // (len(heading) + 1))
    return "\n".join([heading] * count) + "\n\n" + emphasis + "\n"


def leaver_text(seq: int) -> str:
    """A five-sentence text, so a stream has more to send after its first chunk."""
    return (
        f"Leaver {seq} speaks first. The birch canoe slid on the smooth planks. "
        "Glue the sheet to the dark blue background. It is easy to tell the depth of a well. "
        "These days a chicken leg is a rare dish."
    )


def loris_body_request(host: str, voice: str, body_bytes: int = 4096) -> tuple[bytes, bytes]:
    """Head and body of a TTS POST whose body (valid JSON, padded with spaces) is dribbled."""
    core = f'{{"text": "Slow loris.", "voice": "{voice}"'.encode()
    body = core + b" " * max(0, body_bytes - len(core) - 1) + b"}"
    head = (
        f"POST /api/v1/tts HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


def loris_headers_request(host: str, lines: int = 200) -> bytes:
    """A request whose header block (dribbled) is long enough never to finish at loris pace."""
    head = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n"
    return (head + "".join(f"X-Loris-{k}: {'z' * 20}\r\n" for k in range(lines)) + "\r\n").encode()


def status_of(raw: bytes) -> int:
    """The status code of a raw HTTP/1.x response's first line, or 0 if it is not one."""
    parts = raw.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return 0


def outcome(record: AttackRecord) -> str:
    """``"413"``, ``"0 timeout"``, ``"200 left after first chunk"``: status and error, as the report shows."""
    return f"{record.status} {record.error}".strip()


def attack_stats(records: Sequence[AttackRecord]) -> tuple[AttackStats, ...]:
    """Per kind (in ``ATTACKS`` order, unknown kinds last): attempts, outcomes, P50 and max seconds."""
    order = [s.kind for s in ATTACKS]
    kinds = sorted({r.kind for r in records}, key=lambda k: (order.index(k) if k in order else len(order), k))
    out = []
    for kind in kinds:
        mine = [r for r in records if r.kind == kind]
        times = [r.latency_s for r in mine]
        counts = dict(Counter(outcome(r) for r in mine).most_common())
        out.append(AttackStats(kind, len(mine), counts, quantile(times, 0.5), max(times)))
    return tuple(out)


def attack_checks(records: Sequence[AttackRecord], server_outcomes: Mapping[str, int]) -> list[Check]:
    """Targets of the hostile-clients scenario beyond the legitimate traffic's.

    Args:
        records: every attacker attempt.
        server_outcomes: requests the server recorded during the scenario, per outcome
            (``ok``, ``degraded``, ``failed``, ``cancelled``, ...).

    Returns:
        Attackers get no 5xx; every huge body (if any was sent) gets 413; the server records no failed request
        (a client that leaves is ``cancelled``; a poison text ends ``degraded``).
    """
    a_5xx = [a for a in records if a.status >= 500]
    kinds = ", ".join(sorted({a.kind for a in a_5xx}))
    huge = [a for a in records if a.kind in HUGE]
    refused = sum(a.status == 413 for a in huge)
    slowest = max((a.latency_s for a in huge), default=math.nan)
    recorded_none_failed = bool(server_outcomes) and server_outcomes.get("failed", 0) == 0
    outcomes = ", ".join(f"{k} {v}" for k, v in server_outcomes.items()) or "none scraped"
    checks = [Check("attackers: 0 × 5xx", not a_5xx, f"{len(a_5xx)} 5xx" + (f" ({kinds})" if kinds else ""))]
    if huge:  # unless --attackers left them out
        detail = f"{refused} of {len(huge)}, slowest answer {slowest:.1f} s"
        checks.append(Check("huge bodies refused with 413", refused == len(huge), detail))
    checks.append(Check("server records 0 failed (leavers: cancelled)", recorded_none_failed, outcomes))
    return checks
