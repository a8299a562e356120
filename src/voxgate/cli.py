"""The ``voxgate`` command line."""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from voxgate.cli_common import LOCAL_CLIENT, ClientFailed
from voxgate.errors import InvalidInput, VoxgateError
from voxgate.requests import SynthesisRequest
from voxgate.settings import Settings
from voxgate.text.ssml import is_ssml
from voxgate.types import AudioFormat, Priority

if TYPE_CHECKING:
    from voxgate.cli_say import Spoken

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="voxgate: text-to-speech that keeps its SLA."
)
_err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (default: $VOXGATE_CONFIG).")
]


def _read_text(text: str | None, file: Path | None) -> str:
    if text is not None and file is not None:
        raise typer.BadParameter("give TEXT or --file, not both")
    if file is not None:
        if str(file) == "-":
            return sys.stdin.read()
        try:
            return file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise typer.BadParameter(f"{file} is not UTF-8 text") from exc
        except OSError as exc:
            raise typer.BadParameter(str(exc)) from exc
    if text is not None:
        return text
    if not sys.stdin.isatty():
        return sys.stdin.read()
    raise typer.BadParameter("no text: give TEXT, --file PATH, or pipe text on stdin")


def _format_for(fmt: str | None, output: Path | None) -> AudioFormat:
    name = fmt or (output.suffix.lstrip(".").lower() if output is not None and output.suffix else "wav")
    name = {"ogg": "opus", "raw": "pcm", "m4a": "aac", "ulaw": "mulaw", "ul": "mulaw", "al": "alaw"}.get(
        name, name
    )
    try:
        return AudioFormat(name)
    except ValueError:
        raise typer.BadParameter(
            f"unknown format {name!r}; one of {', '.join(f.value for f in AudioFormat)}"
        ) from None


ServerOption = Annotated[
    str | None,
    typer.Option("--server", help="Base URL of a running voxgate server (default: in this process)."),
]
ApiKeyOption = Annotated[
    str | None, typer.Option("--api-key", envvar="VOXGATE_API_KEY", help="API key for --server.")
]


def _settings(config: Path | None) -> Settings:
    """Load settings, or exit 2 naming what is wrong (field and problem only: never a value,
    which may be a secret)."""
    try:
        return Settings.load(config)
    except FileNotFoundError as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        _err.print(f"[red]error:[/red] invalid settings: {problems}")
        raise typer.Exit(2) from exc


@contextmanager
def _failures() -> Iterator[None]:
    """Turn a failure into a message on stderr and an exit code: 2 for bad input or
    configuration, 1 when the service could not answer."""
    try:
        yield
    except InvalidInput as exc:
        _err.print(f"[red]error:[/red] {exc.field}: {exc.message}")
        raise typer.Exit(2) from exc
    except ClientFailed as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(exc.exit_code) from exc
    except VoxgateError as exc:
        _err.print(f"[red]failed:[/red] {exc}")
        raise typer.Exit(1) from exc


@app.command()
def say(
    text: Annotated[
        str | None, typer.Argument(help="Text to speak (or use --file, or pipe on stdin).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the text from a file ('-' = stdin).")
    ] = None,
    voice: Annotated[
        str | None, typer.Option("--voice", "-v", help="Voice id (see `voxgate voices`).")
    ] = None,
    speed: Annotated[float, typer.Option("--speed", "-s", min=0.5, max=2.0, help="Speaking rate.")] = 1.0,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="wav, pcm, flac, mp3, opus, aac, mulaw, alaw (G.711, raw, 8 kHz)."),
    ] = None,
    sample_rate: Annotated[
        int | None, typer.Option("--sample-rate", help="Output sample rate in Hz.")
    ] = None,
    priority: Annotated[
        Priority, typer.Option("--priority", help="Scheduling class (its default deadline).")
    ] = Priority.API,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file ('-' = stdout).")] = None,
    ssml: Annotated[
        bool,
        typer.Option("--ssml", help="The text is an SSML document (<speak>...; also detected by itself)."),
    ] = False,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
    config: ConfigOption = None,
) -> None:
    """Speak TEXT into an audio file: in this process, or on a running server (--server).

    Either way the voice's fallback chain, sentence segmentation, the audio cache and remote
    engines apply, and the summary on stderr says which engine spoke and whether it degraded.
    To stdout (-o -) the audio is streamed: a player hears the first sentence while the rest is made.
    Exit code 2: bad input or configuration; 1: no engine could answer, or the server failed.
    """
    import asyncio

    from voxgate.cli_say import speak

    settings = _settings(config) if server is None else None
    content = _read_text(text, file)
    to_stdout = output is not None and str(output) == "-"
    out_fmt = _format_for(fmt, None if to_stdout else output)
    if ssml and not is_ssml(content):
        raise typer.BadParameter("an SSML document starts with <speak>", param_hint="--ssml")
    request = SynthesisRequest(
        ssml=ssml or is_ssml(content),  # as the server reads it: a text starting with <speak is SSML
        text=content,
        voice=voice,
        speed=speed,
        format=out_fmt,
        sample_rate=sample_rate,
        priority=priority,
        client_id=LOCAL_CLIENT,
    )
    target = output or Path(f"voxgate.{out_fmt.value}")
    if not to_stdout and not target.parent.is_dir():
        raise typer.BadParameter(f"directory {target.parent} does not exist", param_hint="--output")
    written = 0
    where = "stdout" if to_stdout else str(target)

    def to_pipe(piece: bytes) -> None:  # stdout is streamed: a player hears the first sentence early
        nonlocal written
        sys.stdout.buffer.write(piece)
        sys.stdout.buffer.flush()
        written += len(piece)

    try:
        with _failures():
            sink = to_pipe if to_stdout else None
            spoken = asyncio.run(speak(request, settings=settings, server=server, api_key=api_key, sink=sink))
        if not to_stdout:
            target.write_bytes(spoken.audio)
            written = len(spoken.audio)
    except OSError as exc:  # a closed pipe or a full disk
        _err.print(f"[red]error:[/red] cannot write {where}: {exc.strerror or exc}")
        raise typer.Exit(2) from exc
    _err.print(_summary(spoken, where, written))


def _summary(spoken: Spoken, target: str, written: int) -> str:
    meta = spoken.meta
    size = (
        f"{spoken.duration_s:.2f} s of audio"
        if spoken.duration_s is not None
        else f"{written / 1024:.1f} KiB"
    )
    lines = [f"{meta.voice} ({meta.engine}): {size} in {spoken.latency_s:.2f} s → {target}"]
    notes = []
    if spoken.startup_s is not None:
        notes.append(f"engines started in {spoken.startup_s:.2f} s")
    if meta.cache_hit:
        notes.append("from the cache")
    if meta.ignored:
        notes.append(f"ignored: {', '.join(meta.ignored)}")  # options the engine or voxgate did not act on
    if notes:
        lines[0] += f" ({'; '.join(notes)})"
    if meta.degraded:
        why = (meta.fallback_reason or "").replace(":", ": ", 1) or "an engine before it did not answer"
        lines.append(f"[yellow]degraded:[/yellow] fallback engine {meta.engine} spoke ({why})")
    return "\n".join(lines)


@app.command()
def voices(
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Only voices reading this language.")
    ] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
    config: ConfigOption = None,
) -> None:
    """List the voices on offer (remote engines' included) with their fallback chains, and each
    engine's state: why an engine is off or unreachable."""
    import asyncio

    from voxgate.cli_say import voices as list_voices

    settings = _settings(config) if server is None else None
    with _failures():
        rows, engines = asyncio.run(list_voices(settings=settings, server=server, api_key=api_key))
    order = {e.name: i for i, e in enumerate(engines)}
    table = Table("voice", "engine", "languages", "gender", "sample rate", "fallback chain")
    for v in sorted(rows, key=lambda v: (v.languages[0], order.get(v.engine, len(order)), v.id)):
        if language is None or language in v.languages:
            lang = language if language is not None else v.languages[0]
            chain = " → ".join(v.chains.get(lang, []))
            table.add_row(v.id, v.engine, ", ".join(v.languages), v.gender, str(v.sample_rate), chain)
    console = Console()
    console.print(table)
    states = Table("engine", "where", "state", "why")
    for e in engines:
        states.add_row(e.name, e.where, e.state, escape(e.why))  # "voxgate[indextts2]" is not markup
    console.print(states)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the HTTP server: web UI at /, native API, OpenAI-compatible API, metrics."""
    import uvicorn

    from voxgate.api import create_app
    from voxgate.api.server_options import uvicorn_options
    from voxgate.logs import configure_logging

    settings = _settings(config)
    _check_wiring(settings)
    configure_logging(json_logs=settings.server.log_json)
    _share_the_interpreter()
    # uvicorn drains on SIGTERM/SIGINT, then re-raises the signal under the handler it found: make
    # that a clean exit (status 0) rather than death by signal. Before uvicorn starts, it just exits.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_quietly)
    uvicorn.run(
        create_app(settings),
        host=host or settings.server.host,
        port=port or settings.server.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=math.ceil(settings.server.shutdown_grace_s),  # 0 = do not wait
        **uvicorn_options(settings.server),  # bounded request heads; bodies: BodyLimitMiddleware
    )


GIL_SWITCH_INTERVAL_S = 0.001
"""How long a thread may hold the GIL while another waits for it (CPython's default is 5 ms).

The text front end runs in threads so that it does not hold the event loop, but in Python they
still share one interpreter lock with it: while hostile SSML was being parsed, every time the loop
woke up for a ``/healthz`` probe it waited up to 5 ms per turn for the lock. At 1 ms,
``bench/input_load.py --only ssml-voices`` (two clients sending SSML at the markup limit, rate
limits off) gives ``/healthz`` P99 35 / 28 ms against 89 / 75 ms, max 82 / 46 against 186 / 172 ms
(two alternating rounds, one run). CPU-bound engines run in their own processes, so the extra
switching costs the gateway next to nothing."""


def _share_the_interpreter() -> None:
    """Let the event loop take the interpreter lock back sooner from the front end's threads."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def _check_wiring(settings: Settings) -> None:
    """Wire the Synthesizer once (nothing starts) so that a configuration error found there (a
    ``qos.default_voices`` entry, a remote's key) stops ``serve`` with one clear line, exit code 2,
    instead of a traceback in the server's startup log."""
    import asyncio

    from voxgate.wiring import build_synthesizer

    try:
        synth = build_synthesizer(settings)
    except ValueError as exc:
        _err.print(f"[red]error:[/red] configuration: {exc}")
        raise typer.Exit(2) from exc
    asyncio.run(synth.stop(grace_s=0))  # closes remote clients; no worker was started


def _exit_quietly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _speakers(pairs: list[str] | None) -> tuple[tuple[str, str], ...] | None:
    """``--speaker NAME=VOICE`` options as (name, voice) pairs; ``None`` when there are none.

    Raises:
        typer.BadParameter: an option without ``=`` or with an empty side.
    """
    if not pairs:
        return None
    out = []
    for pair in pairs:
        name, sep, voice = pair.partition("=")
        if not sep or not name.strip() or not voice.strip():
            raise typer.BadParameter(f"{pair!r}: write NAME=VOICE, e.g. Alice=joe", param_hint="--speaker")
        out.append((name.strip(), voice.strip()))
    return tuple(out)


@app.command()
def book(
    source: Annotated[Path, typer.Argument(help="The book: a UTF-8 .txt or Markdown (.md) file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for chapters, book, index.")],
    voice: Annotated[
        str | None, typer.Option("--voice", "-v", help="Voice id (see `voxgate voices`).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="mp3, opus, flac, wav, mulaw or alaw.")] = "mp3",
    speed: Annotated[float, typer.Option("--speed", "-s", min=0.5, max=2.0, help="Speaking rate.")] = 1.0,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Base URL of a running voxgate server (default: in-process)."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="VOXGATE_API_KEY", help="API key for --server.")
    ] = None,
    ssml: Annotated[
        bool,
        typer.Option(
            "--ssml", help="Each chapter's text is an SSML document (<speak>...</speak>; .txt only)."
        ),
    ] = False,
    speaker: Annotated[
        list[str] | None,
        typer.Option(
            "--speaker",
            help="NAME=VOICE, repeatable: the file is a script of 'Name: text' lines spoken by these voices "
            "('narrator' reads the other lines).",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Render a book into one file per chapter, a whole-book file, index.json and captions (resumable)."""
    import asyncio

    from voxgate.cli_book import BookFailed, render_book

    settings = Settings.load(config)
    try:
        asyncio.run(
            render_book(
                source,
                output,
                settings=settings,
                voice=voice,
                fmt=fmt,
                speed=speed,
                server=server,
                api_key=api_key,
                console=_err,
                ssml=ssml,
                speakers=_speakers(speaker),
            )
        )
    except (OSError, VoxgateError) as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except BookFailed as exc:
        _err.print(f"[red]failed:[/red] {exc}")
        raise typer.Exit(1) from exc


def main() -> None:
    """Entry point of the ``voxgate`` script."""
    app()


if __name__ == "__main__":
    main()
