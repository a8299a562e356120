"""``GET /metrics``: the app's Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from voxgate.api.metrics import Metrics

router = APIRouter(tags=["operations"])

_EXPOSITION: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/plain": {}, "application/openmetrics-text": {}},
        "description": "Prometheus text exposition (OpenMetrics when the Accept header asks for it).",
    }
}


async def get_metrics(request: Request) -> Metrics:
    """The app's metrics, attached to the Synthesizer by the lifespan."""
    metrics: Metrics = request.state.metrics
    return metrics


@router.get("/metrics", responses=_EXPOSITION, response_class=Response)
async def metrics(
    metrics: Annotated[Metrics, Depends(get_metrics)], accept: Annotated[str, Header()] = ""
) -> Response:
    """Request latency, queues, in-flight calls, breakers, cache, workers and sheds, for Prometheus."""
    body, content_type = await metrics.render(accept)
    return Response(body, media_type=content_type)
