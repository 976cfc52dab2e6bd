"""The one clock of the product: every module asks here (tests travel with time_machine).

`tick_seconds()` and `sync_seconds()` are the engine's two cadences (read from the settings
when asked, so a test may change them): the scheduler's tick and the filter sync.

`replay(start)` makes this clock show a past time that moves only when told to: the demo seed
uses it to run the real engine over the last days. Everything that asks `now()` (the engine,
sending, tracking events, campaign logs) follows the replayed time; model field defaults
(`default=timezone.now`) keep the wall clock. It is process-wide: use it only in a
single-threaded job, never while a server or a runner thread is working.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.utils import timezone

_replayed: datetime | None = None


def tick_seconds() -> int:
    """Seconds between two scheduler passes or beat ticks (DRUMBEAT_TICK_SECONDS, at least 1)."""
    return max(1, int(getattr(settings, "TICK_SECONDS", 5) or 5))


def sync_seconds() -> float:
    """Seconds between two filter syncs of every running campaign (settings.SYNC_SECONDS,
    never under a tick): the embedded runner's sync thread and the Celery beat's `sync`."""
    return max(float(tick_seconds()), float(settings.SYNC_SECONDS))


def now() -> datetime:
    if _replayed is not None:
        return _replayed
    return timezone.now()


class ReplayClock:
    def move_to(self, at: datetime) -> None:
        global _replayed
        _replayed = at

    @property
    def now(self) -> datetime:
        return now()


@contextmanager
def replay(start: datetime) -> Iterator[ReplayClock]:
    """Within the block, `now()` is `start` until moved with `move_to(at)`."""
    global _replayed
    previous = _replayed
    _replayed = start
    try:
        yield ReplayClock()
    finally:
        _replayed = previous
