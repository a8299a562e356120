"""Scheduling layer: admission, priorities, circuit breakers, routing, latency estimates."""

from voxgate.qos.breaker import (
    LEGAL_TRANSITIONS,
    BreakerConfig,
    BreakerRegistry,
    BreakerSnapshot,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    IllegalTransition,
)
from voxgate.qos.estimator import LatencyEstimator, LatencyPrior
from voxgate.qos.events import EventBus

__all__ = [
    "LEGAL_TRANSITIONS",
    "BreakerConfig",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerTransition",
    "CircuitBreaker",
    "EventBus",
    "IllegalTransition",
    "LatencyEstimator",
    "LatencyPrior",
]
