"""The engine's wake-up: ask whoever runs the engine to look for due work now.

Without a broker it sets `event`, the in-process event the embedded runner's loop sleeps on
(runner.py). With `DRUMBEAT_BROKER_URL` set it queues the `drumbeat.dispatch_due` task (see
automation/tasks.py) once the current transaction commits, by name through the Celery app, so
that this module imports neither the runner nor the tasks: enrolment, events, services, the
runner and the tasks all import it, and it imports none of them.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

DISPATCH_DUE = "drumbeat.dispatch_due"

event = threading.Event()


def wake() -> None:
    """Ask the runner to make a pass now (an in-process wake-up; with a broker configured,
    a `dispatch_due` task for the Celery workers)."""
    if settings.BROKER_URL:
        wake_workers()
        return
    event.set()


def wake_workers() -> None:
    """The wake-up when a broker is configured: one `dispatch_due` task, sent after the
    current transaction commits. An unreachable broker is logged, never raised to the web
    request that caused the wake-up: the next tick dispatches the same work."""

    def dispatch() -> None:
        try:
            from drumbeat.celery import app

            app.send_task(DISPATCH_DUE, args=[])
        except Exception:
            log.exception("could not reach the broker to dispatch due work")

    transaction.on_commit(dispatch)
