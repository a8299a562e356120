"""Operations: liveness, readiness and the SLA view."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from voxgate.api.deps import Synth
from voxgate.chains import LAST_RESORT

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(synth: Synth) -> JSONResponse:
    """200 when the last-resort engine and at least one primary have a warm worker; else 503 with why."""
    engines = {name: synth.is_ready(name) for name in synth.engines()}
    primaries = [name for name in engines if name != LAST_RESORT]
    reasons = []
    if not engines.get(LAST_RESORT, False):
        reasons.append(f"last-resort engine {LAST_RESORT} is not warm")
    if primaries and not any(engines[name] for name in primaries):
        reasons.append("no primary engine is warm")
    body = {"ready": not reasons, "engines": engines, "reasons": reasons}
    return JSONResponse(body, status_code=200 if not reasons else 503)


@router.get("/api/v1/sla")
async def sla(synth: Synth, request: Request) -> dict[str, Any]:
    """The SLA tracker's windows, breaker states, queues and workers, as JSON; ``realtime``: open
    sockets and the last 5 minutes of realtime pieces (first audio, gaps, clears)."""
    status = await synth.status()
    status["realtime"] = request.state.realtime_stats.snapshot()
    return status
