"""A small synchronous, typed event bus for the QoS layer.

Components (breakers, later the scheduler and the SLA tracker) publish frozen, slotted
dataclass events; metrics and logging subscribe to the event types they care about
instead of being called inline (STYLE.md rule 7). Delivery is synchronous, in
subscription order, on the publisher's stack. A subscriber that raises is logged and
skipped: it never breaks the publisher or the other subscribers.

Subscribing to a base class receives its subclasses too; ``subscribe(object, ...)``
receives everything.

Concurrency: like the rest of ``voxgate.qos`` the bus is used from one asyncio event
loop. It holds no locks; it is not safe to share between threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["EventBus"]

logger = logging.getLogger(__name__)

E = TypeVar("E")


class EventBus:
    """Routes published events to the callbacks subscribed to their type."""

    def __init__(self) -> None:
        self._subscribers: dict[type[Any], list[Callable[[Any], None]]] = {}
        self._captures: list[list[object]] = []

    def subscribe(self, event_type: type[E], callback: Callable[[E], None]) -> Callable[[], None]:
        """Call ``callback`` with every published instance of ``event_type`` (or a subclass).

        Args:
            event_type: the event class to receive.
            callback: called synchronously with each matching event.

        Returns:
            A function that removes this subscription; calling it twice is harmless.
        """
        callbacks = self._subscribers.setdefault(event_type, [])
        callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in callbacks:
                callbacks.remove(callback)

        return unsubscribe

    def publish(self, event: object) -> None:
        """Deliver ``event`` to every matching subscriber and to every active capture.

        Subscribers registered for the most specific class are called first, then those
        of its base classes, each group in subscription order. An exception raised by a
        subscriber is logged with its traceback and does not propagate.

        Args:
            event: the event, normally a frozen slotted dataclass.
        """
        for captured in self._captures:
            captured.append(event)
        for cls in type(event).__mro__:
            # Copy: a callback may subscribe or unsubscribe while we iterate.
            for callback in tuple(self._subscribers.get(cls, ())):
                try:
                    callback(event)
                except Exception:
                    logger.exception("event subscriber %r failed on %r", callback, event)

    @contextmanager
    def capture(self) -> Iterator[list[object]]:
        """Collect every event published inside the ``with`` block.

        Captures nest; each sees every event published while it is active.

        Yields:
            The list the events are appended to, in publication order.
        """
        captured: list[object] = []
        self._captures.append(captured)
        try:
            yield captured
        finally:
            self._captures.remove(captured)
