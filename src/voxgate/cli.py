"""The ``voxgate`` command line."""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from voxgate.audio.encode import encode
from voxgate.engines.registry import build_engines, engines_off
from voxgate.errors import VoxgateError
from voxgate.settings import Settings
from voxgate.text import prepare
from voxgate.types import AudioChunk, AudioFormat, SynthesisOptions
from voxgate.voices import VoiceCatalog

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
    name = {"ogg": "opus", "raw": "pcm", "m4a": "aac"}.get(name, name)
    try:
        return AudioFormat(name)
    except ValueError:
        raise typer.BadParameter(
            f"unknown format {name!r}; one of {', '.join(f.value for f in AudioFormat)}"
        ) from None


def _join(chunks: list[AudioChunk], pause_s: float) -> tuple[np.ndarray, int]:
    rate = chunks[0].sample_rate
    gap = np.zeros(int(pause_s * rate), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for i, chunk in enumerate(chunks):
        if chunk.sample_rate != rate:
            raise VoxgateError("chunks of one engine call must share a sample rate")
        if i:
            pieces.append(gap)
        pieces.append(chunk.audio)
    return np.concatenate(pieces), rate


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
    fmt: Annotated[str | None, typer.Option("--format", help="wav, pcm, flac, mp3, opus, aac.")] = None,
    sample_rate: Annotated[
        int | None, typer.Option("--sample-rate", help="Output sample rate in Hz.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file ('-' = stdout).")] = None,
    ssml: Annotated[bool, typer.Option("--ssml", help="The text is an SSML document (<speak>...).")] = False,
    config: ConfigOption = None,
) -> None:
    """Speak TEXT into an audio file, in this process (no server needed)."""
    settings = Settings.load(config)
    content = _read_text(text, file)
    out_fmt = _format_for(fmt, output if output is not None and str(output) != "-" else None)
    if ssml:
        _say_ssml(content, voice, speed, out_fmt, sample_rate, output, settings)
        return
    try:
        engines = build_engines(settings)
        catalog = VoiceCatalog(v for e in engines.values() for v in e.voices())
        prepared = prepare(
            content, max_chars=settings.text.max_chars, max_segment_chars=settings.text.max_segment_chars
        )
        chosen = catalog.get(voice) if voice else catalog.default_for(prepared.language)
        engine = engines[chosen.engine]
        started = time.perf_counter()
        engine.load()
        loaded = time.perf_counter()
        language = prepared.language if prepared.language in chosen.languages else None
        chunks = list(
            engine.synthesize(prepared.text, chosen.id, SynthesisOptions(speed=speed, language=language))
        )
        audio, rate = _join(chunks, pause_s=0.2)
        data = encode(audio, rate, out_fmt, out_rate=sample_rate)
    except VoxgateError as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    synth_s = time.perf_counter() - loaded
    duration = len(audio) / rate
    target = output or Path(f"voxgate.{out_fmt.value}")
    if str(target) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        target.write_bytes(data)
    _err.print(
        f"{chosen.id} ({engine.name}): {duration:.2f} s of audio in {synth_s:.2f} s "
        f"(RTF {synth_s / max(duration, 1e-9):.3f}, load {loaded - started:.2f} s) → {target}"
    )


def _say_ssml(
    content: str,
    voice: str | None,
    speed: float,
    out_fmt: AudioFormat,
    sample_rate: int | None,
    output: Path | None,
    settings: Settings,
) -> None:
    from voxgate.cli_ssml import speak_ssml

    started = time.perf_counter()
    try:
        engines = build_engines(settings)
        catalog = VoiceCatalog(v for e in engines.values() for v in e.voices())
        spoken = speak_ssml(
            content, settings=settings, engines=engines, catalog=catalog, voice=voice, speed=speed
        )
        data = encode(spoken.audio, spoken.sample_rate, out_fmt, out_rate=sample_rate)
    except VoxgateError as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    target = output or Path(f"voxgate.{out_fmt.value}")
    if str(target) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        target.write_bytes(data)
    duration = len(spoken.audio) / spoken.sample_rate
    ignored = f"; ignored: {', '.join(spoken.ignored)}" if spoken.ignored else ""
    _err.print(
        f"{', '.join(spoken.voices)} ({', '.join(spoken.engines)}): {duration:.2f} s of audio in "
        f"{time.perf_counter() - started:.2f} s → {target}{ignored}"
    )


@app.command()
def voices(
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Only voices reading this language.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """List voices by language and engine."""
    settings = Settings.load(config)
    engines = build_engines(settings)
    catalog = VoiceCatalog(v for e in engines.values() for v in e.voices())
    table = Table("voice", "engine", "languages", "gender", "sample rate")
    rows = sorted(catalog.all(), key=lambda v: (v.languages[0], list(engines).index(v.engine), v.id))
    for v in rows:
        if language is None or language in v.languages:
            table.add_row(v.id, v.engine, ", ".join(v.languages), v.gender.value, str(v.sample_rate))
    Console().print(table)
    for name, reason in engines_off(settings).items():
        Console(soft_wrap=True).print(f"{name}: off ({reason})", highlight=False, markup=False)


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

    settings = Settings.load(config)
    configure_logging(json_logs=settings.server.log_json)
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


def _exit_quietly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


@app.command()
def book(
    source: Annotated[Path, typer.Argument(help="The book: a UTF-8 .txt or Markdown (.md) file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for chapters, book, index.")],
    voice: Annotated[
        str | None, typer.Option("--voice", "-v", help="Voice id (see `voxgate voices`).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="mp3, opus, flac or wav.")] = "mp3",
    speed: Annotated[float, typer.Option("--speed", "-s", min=0.5, max=2.0, help="Speaking rate.")] = 1.0,
    server: Annotated[
        str | None,
        typer.Option("--server", help="Base URL of a running voxgate server (default: in-process)."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="VOXGATE_API_KEY", help="API key for --server.")
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
