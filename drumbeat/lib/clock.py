"""The one clock of the product: every module asks here (tests travel with time_machine).

`replay(start)` makes this clock show a past time that moves only when told to: the demo seed
uses it to run the real engine over the last days. Everything that asks `now()` (the engine,
sending, tracking events, campaign logs) follows the replayed time; model field defaults
(`default=timezone.now`) keep the wall clock. It is process-wide: use it only in a
single-threaded job, never while a server or a runner thread is working.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone

_replayed: datetime | None = None


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
