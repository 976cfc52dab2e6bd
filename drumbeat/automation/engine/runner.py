"""The embedded runner (docs/architecture.md#processes): one loop that recovers, expires, enrols and
executes.

`run_once()` is one full pass (used by `drumbeat tick` and tests). `run_forever()` recovers
expired leases at its start, then repeats the pass (without the filter sync, which a thread
beside it runs every SYNC_SECONDS, 60), sleeping until the next due trace, a wake-up
(`wakeup.wake()`: records created, an event made a child due) or the tick
(`DRUMBEAT_TICK_SECONDS`). `start_background_runner()` runs the loop in a daemon thread of a
web process (`drumbeat demo`, `drumbeat serve --with-worker`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from django.db import close_old_connections

from drumbeat.lib import clock

from .. import rollups
from ..goals import check_goals
from ..outbound import deliver_all
from . import wakeup
from .enroll import enroll_running_campaigns
from .execute import (
    due_activities,
    effective_limit,
    execute_batch,
    expire_waiting,
    next_due_at,
    recover_leases,
)
from .pressure import purge_slots

log = logging.getLogger(__name__)

# A failed sync is tried again this soon, then twice as late each time up to its interval.
SYNC_RETRY = 1.0

_background: threading.Thread | None = None
_background_lock = threading.Lock()


@dataclass
class PassResult:
    recovered: int = 0
    expired: int = 0
    enrolled: int = 0
    removed: int = 0
    batches: int = 0
    converted: int = 0

    def __str__(self) -> str:
        return (
            f"enrolled {self.enrolled}, removed {self.removed}, batches {self.batches}, "
            f"expired {self.expired}, recovered {self.recovered}, converted {self.converted}"
        )


def drain(now: datetime, stop: threading.Event | None = None) -> int:
    """Execute every due batch, including children made due by this pass. Returns batches."""
    batches = 0
    while not (stop and stop.is_set()):
        progress = False
        for activity in due_activities(now):
            while not (stop and stop.is_set()):
                limit = effective_limit(activity)
                claimed = execute_batch(activity, now, limit)
                if not claimed:
                    break
                batches += 1
                progress = True
                if claimed < limit:
                    break
        if not progress:
            break
    return batches


def run_once(
    now: datetime | None = None, stop: threading.Event | None = None, enrol: bool = True
) -> PassResult:
    """One full pass: recover leases, expire waiting children, check goals, enrol, execute all
    due work.

    `enrol=False` skips the goal check and the full filter sync (the loop does them every
    SYNC_SECONDS; records created or changed through the app are enrolled and checked at
    once by the `records_changed` listeners anyway).
    """
    now = now or clock.now()
    result = PassResult()
    result.recovered = recover_leases(now)
    result.expired = expire_waiting(now)
    purge_slots(now)  # contact pressure: slots older than any cap
    if enrol:
        # Before the sync: it removes participants whose record no longer matches, often
        # because the record just reached the goal.
        result.converted = check_goals(now)
        enrolled = enroll_running_campaigns(now)
        result.enrolled, result.removed = enrolled.enrolled, enrolled.removed
        rollups.compact_now_and_then()  # figures: fold the delta rows of the roll-ups
    result.batches = drain(now, stop)
    deliver_all()  # outbound webhooks due (automation/outbound.py)
    return result


def seconds_until_next(tick: float) -> float:
    due = next_due_at()
    if due is None:
        return tick
    return max(0.0, min(tick, (due - clock.now()).total_seconds()))


def sync_forever(
    stop: threading.Event, interval: float | None = None, retry: float = SYNC_RETRY
) -> None:
    """The filter sync of every running campaign (new matches, removals) every `interval`
    seconds, in a thread of its own: on a campaign of a million records a sync reads for a
    second or two, and the executor must not wait for it (a delay-0 child made due by an
    open would). It reads first and writes only what changed (enroll.py), so on SQLite it
    holds the write lock only while there is something to write. Wakes the executor when it
    enrolled someone.

    A failed sync (a locked table, a database restarting) is tried again after `retry`
    seconds, doubling up to `interval`: a passing fault must not hold back the enrolment of a
    started campaign for a whole interval."""
    interval = interval or clock.sync_seconds()
    wait = interval
    while not stop.is_set():
        try:
            close_old_connections()
            check_goals()
            result = enroll_running_campaigns()
            if result.enrolled or result.removed:
                log.info("filter sync: enrolled %d, removed %d", result.enrolled, result.removed)
                wakeup.event.set()
            wait = interval
        except Exception:
            log.exception("filter sync failed")
            wait = retry if wait >= interval else min(interval, wait * 2)
        finally:
            close_old_connections()
        stop.wait(wait)


def run_forever(stop: threading.Event) -> None:
    """Loop until `stop` is set; each pass is isolated: an error is logged, the loop goes on.
    The filter sync runs beside it (`sync_forever`), the passes do the rest."""
    tick = float(clock.tick_seconds())
    try:  # first settle what an earlier run left when it died, before the sync enrols
        close_old_connections()
        recovered = recover_leases()
        if recovered:
            log.info("recovered %d traces whose lease ran out", recovered)
    except Exception:
        log.exception("lease recovery at start failed")
    sync = threading.Thread(
        target=sync_forever,
        args=(stop, clock.sync_seconds()),
        name="drumbeat-sync",
        daemon=True,
    )
    sync.start()
    while not stop.is_set():
        wakeup.event.clear()
        timeout = tick
        try:
            close_old_connections()
            result = run_once(stop=stop, enrol=False)
            if result.enrolled or result.batches:
                log.info("runner pass: %s", result)
            timeout = seconds_until_next(tick)
        except Exception:
            log.exception("runner pass failed")
        finally:
            close_old_connections()
        if timeout > 0:
            wakeup.event.wait(timeout)
            if stop.is_set():
                break


def start_background_runner() -> threading.Thread:
    """Start the loop in a daemon thread of this process (once); returns the thread."""
    global _background
    with _background_lock:
        if _background is None or not _background.is_alive():
            stop = threading.Event()
            _background = threading.Thread(
                target=run_forever, args=(stop,), name="drumbeat-runner", daemon=True
            )
            _background.stop_event = stop  # type: ignore[attr-defined]
            _background.start()
        return _background
