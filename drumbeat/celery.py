"""The Celery app of the distributed runner (docs/architecture.md#processes): `celery -A drumbeat
worker|beat`.

Configured from Django settings (the `CELERY_` names in settings.py; the broker is
`DRUMBEAT_BROKER_URL`). Beat emits `drumbeat.tick` every `DRUMBEAT_TICK_SECONDS` and
`drumbeat.sync` (the filter sync) every minute; workers run the tasks of
`drumbeat/automation/tasks.py`. Celery finds this module by itself from
`-A drumbeat`, so `drumbeat/__init__.py` does not import it and the other commands (serve,
demo, the embedded worker) never load Celery.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drumbeat.settings")

app = Celery("drumbeat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["drumbeat.automation"])


def _configure_from_settings() -> None:
    from django.conf import settings

    from drumbeat.lib import clock

    tick, sync = float(clock.tick_seconds()), clock.sync_seconds()
    app.conf.update(
        broker_url=settings.BROKER_URL or "memory://",
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        beat_schedule_filename=str(settings.HOME / "celerybeat-schedule"),
        beat_schedule={
            "drumbeat-tick": {
                "task": "drumbeat.tick",
                "schedule": tick,
                # A tick that waited longer than a tick behind busy workers is useless.
                "options": {"expires": tick},
            },
            "drumbeat-sync": {
                "task": "drumbeat.sync",
                "schedule": sync,
                # Dropped if the next one is already due: one round of syncs at a time.
                "options": {"expires": sync},
            },
        },
    )


_configure_from_settings()
