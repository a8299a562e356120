"""The app factory: ``create_app(settings)`` builds a FastAPI app whose lifespan owns the Synthesizer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from voxgate import __version__
from voxgate.api import (
    routes_jobs,
    routes_lexicon,
    routes_metrics,
    routes_openai,
    routes_ops,
    routes_realtime,
    routes_tts,
)
from voxgate.api.auth import ApiKeyAuth, RequireKeyMiddleware
from voxgate.api.body_limit import BodyLimitMiddleware, body_limits
from voxgate.api.errors import install_error_handlers
from voxgate.api.guard import BrowserGuardMiddleware
from voxgate.api.metrics import Metrics
from voxgate.api.middleware import RequestContextMiddleware
from voxgate.clock import Clock, SystemClock
from voxgate.jobs import open_jobs
from voxgate.lexicons import LexiconStore
from voxgate.realtime import RealtimeLimits
from voxgate.realtime.stats import RealtimeStats
from voxgate.service import Synthesizer
from voxgate.settings import Settings
from voxgate.wiring import build_synthesizer

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    synthesizer_factory: Callable[[Settings], Synthesizer] | None = None,
) -> FastAPI:
    """Build the voxgate HTTP app.

    Args:
        settings: the configuration.
        clock: time source for the QoS layer.
        synthesizer_factory: builds the Synthesizer (default: :func:`build_synthesizer`).

    Returns:
        An app whose lifespan starts the worker pools (warm before the first request) and, on
        shutdown, lets in-flight work finish before stopping them.
    """
    build = synthesizer_factory or (lambda s: build_synthesizer(s, clock=clock or SystemClock()))
    auth = ApiKeyAuth(settings.server)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        synth = build(settings)
        metrics.attach(synth)
        await synth.start()
        lexicons = LexiconStore(
            settings.data_dir / "lexicons",
            server_file=settings.text.lexicon_file,
            max_entries=settings.text.lexicon_max_entries,
        )
        jobs = open_jobs(settings, synth, clock or SystemClock()) if settings.jobs.enabled else None
        if jobs is not None:
            await jobs.start()  # resumes unfinished jobs
        log.info("voxgate ready", extra={"engines": list(synth.engines())})
        rt = settings.realtime
        app_clock = clock or SystemClock()
        realtime_limits = RealtimeLimits(app_clock, rt.max_sockets_per_client, rt.chars_per_minute)
        realtime_stats = RealtimeStats(app_clock)
        detach_stats = realtime_stats.attach(synth.bus)
        try:
            yield {
                "synth": synth,
                "auth": auth,
                "settings": settings,
                "metrics": metrics,
                "jobs": jobs,
                "clock": app_clock,
                "realtime_limits": realtime_limits,
                "realtime_stats": realtime_stats,
                "lexicons": lexicons,
            }
        finally:
            if jobs is not None:
                await jobs.stop()
            await synth.stop(grace_s=settings.server.shutdown_grace_s)
            metrics.detach()
            detach_stats()

    app = FastAPI(
        title="voxgate",
        version=__version__,
        description="Self-hosted text-to-speech with guaranteed quality of service.",
        lifespan=lifespan,
    )
    # Last added runs first: request context (ids, access log, metrics), then the Host/Origin/
    # Content-Type guard, then the key, then the body limit (so 413s are logged and counted).
    server = settings.server
    app.add_middleware(BodyLimitMiddleware, limits=body_limits(settings))
    app.add_middleware(RequireKeyMiddleware, auth=auth)
    app.add_middleware(
        BrowserGuardMiddleware,
        allowed_hosts=[server.host, *server.allowed_hosts],
        allowed_origins=server.allowed_origins,
        check_host=not auth.enabled or bool(server.allowed_hosts),
    )
    app.add_middleware(RequestContextMiddleware, observers=[metrics.observe_http])
    install_error_handlers(app)
    app.include_router(routes_tts.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_lexicon.router)
    app.include_router(routes_openai.router)
    app.include_router(routes_realtime.router)
    app.include_router(routes_ops.router)
    app.include_router(routes_metrics.router)
    if WEB_DIR.is_dir():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
