"""Celery tasks of the distributed runner (docs/architecture.md#processes): the same engine
functions as the embedded loop, driven by `celery -A drumbeat beat` (the clock) and any number of
workers.

- `drumbeat.tick` (beat, every DRUMBEAT_TICK_SECONDS): recover expired leases, expire waiting
  children, send `execute_due` for each activity with due traces (these expire after two
  ticks if no worker took them: the next ticks send them again, so a long busy spell does not
  pile them up).
- `drumbeat.sync` (beat, every SYNC_SECONDS, 60, as the embedded runner's filter sync):
  send `enrol_campaign` for each running campaign. Not on every tick: with many large
  campaigns a round of syncs lasts longer than a tick, and the workers would do little else
  (the ticks queued behind them expiring unstarted, recovery with them).
- `drumbeat.enrol_campaign(id)`: check the goal of one campaign, enrol it, then send
  `execute_due` for its due work.
- `drumbeat.execute_due(activity_id)`: claim and execute batches of one activity until none is
  left (or DRAIN_SECONDS passed: then it sends itself again, so activities take turns). When
  more than one batch is due it first sends one more `execute_due` for the same activity, so
  an idle worker joins in at once; delay-0 children made due by a batch get their own
  `execute_due` at once.
- `drumbeat.dispatch_due`: what a wake-up becomes with a broker (records created through the
  app, an event that made a child due, a campaign started): `execute_due` for every activity
  with due traces.

Recovery does not wait for the tick alone: every task, and `execute_due` between its batches,
first recovers the expired leases when this process has not looked for a tick
(`recover_now_and_then`), so a dead worker's batch is taken over even while busy workers
leave the ticks waiting in the queue.

Claims are `UPDATE … FOR UPDATE SKIP LOCKED` with a lease, so a task delivered twice, or two
tasks draining the same activity, never execute a trace twice: the second one claims other
traces or nothing.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef

from drumbeat.celery import app
from drumbeat.lib import clock

from . import rollups
from .engine.enroll import enroll_campaign
from .engine.execute import (
    due_activities,
    effective_limit,
    execute_batch,
    expire_waiting,
    recover_leases,
)
from .engine.pressure import purge_slots
from .engine.wakeup import DISPATCH_DUE
from .goals import check_campaign_goal
from .models import Activity, Campaign, Trace

log = logging.getLogger(__name__)

DRAIN_SECONDS = 60.0

TICK = "drumbeat.tick"
SYNC = "drumbeat.sync"
ENROL_CAMPAIGN = "drumbeat.enrol_campaign"
EXECUTE_DUE = "drumbeat.execute_due"
DELIVER_WEBHOOKS = "drumbeat.deliver_webhooks"


def send(name: str, *args: int, expires: float | None = None) -> None:
    """Queue the task `name` on the broker (dropped unstarted after `expires` seconds)."""
    app.send_task(name, args=list(args), expires=expires)


def send_execute_due(activity_ids, expires: float | None = None) -> int:
    sent = 0
    for activity_id in activity_ids:
        send(EXECUTE_DUE, int(activity_id), expires=expires)
        sent += 1
    return sent


def tick_expiry() -> float:
    """What a tick queues is useless once the next ticks have queued the same again: while the
    workers are busy for a long time, the queue holds at most about two rounds of it."""
    return 2.0 * clock.tick_seconds()


# When this process last looked for expired leases (`recover_now_and_then`).
_recovered_at: datetime | None = None


def recover_now_and_then(now: datetime | None = None) -> int:
    """Recover expired leases if this process has not looked for a tick, then send
    `execute_due` for what is due again: called by every task, so the batch of a dead worker
    is taken over by whichever worker runs next, not only by a tick that may be waiting
    behind other work in the queue. Returns how many traces it recovered."""
    now = now or clock.now()
    if _recovered_at is not None and now - _recovered_at < timedelta(seconds=clock.tick_seconds()):
        return 0
    recovered = _recover(now)
    if recovered:
        send_execute_due((a.pk for a in due_activities(now)), expires=tick_expiry())
    return recovered


def _recover(now: datetime) -> int:
    """Recover the expired leases now, and remember when this process last looked."""
    global _recovered_at
    _recovered_at = now
    recovered = recover_leases(now)
    if recovered:
        log.info("recovered %d traces whose lease ran out", recovered)
    return recovered


@app.task(name=TICK, ignore_result=True)
def tick() -> dict:
    """One clock tick: recovery and expiry here, execution as tasks (enrolment: `sync`)."""
    now = clock.now()
    recovered = _recover(now)  # execute_due for what is due again: dispatched below
    expired = expire_waiting(now)
    purge_slots(now)  # contact pressure: slots older than any cap
    rollups.compact_now_and_then()  # figures: fold the delta rows of the roll-ups
    dispatched = send_execute_due((a.pk for a in due_activities(now)), expires=tick_expiry())
    send(DELIVER_WEBHOOKS, expires=tick_expiry())  # outbound webhooks
    return {"recovered": recovered, "expired": expired, "dispatched": dispatched}


@app.task(name=SYNC, ignore_result=True)
def sync() -> dict:
    """The filter sync: `enrol_campaign` for every running campaign (each dropped unstarted
    once the next sync has sent it again)."""
    recover_now_and_then()
    campaigns = list(
        Campaign.objects.filter(state=Campaign.State.RUNNING, archived=False).values_list(
            "pk", flat=True
        )
    )
    for campaign_id in campaigns:
        send(ENROL_CAMPAIGN, campaign_id, expires=clock.sync_seconds())
    return {"campaigns": len(campaigns)}


@app.task(name=ENROL_CAMPAIGN, ignore_result=True)
def enrol_campaign(campaign_id: int) -> dict:
    """Enrol (and remove) for one running campaign, then dispatch its due activities."""
    recover_now_and_then()
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or not campaign.is_running:
        return {"enrolled": 0, "dispatched": 0}
    now = clock.now()
    check_campaign_goal(campaign, now)  # before the sync removes those who reached it
    result = enroll_campaign(campaign, now=now)
    due = Trace.objects.filter(
        activity=OuterRef("pk"), state=Trace.State.SCHEDULED, scheduled_at__lte=now
    )
    activity_ids = (
        Activity.objects.filter(campaign=campaign).filter(Exists(due)).values_list("pk", flat=True)
    )
    dispatched = send_execute_due(list(activity_ids)) if result.traces else 0
    return {"enrolled": result.enrolled, "removed": result.removed, "dispatched": dispatched}


def _due_children(activity: Activity) -> list[int]:
    """Child activities of `activity` with traces due now (typically delay-0 children)."""
    due = Trace.objects.filter(
        activity=OuterRef("pk"), state=Trace.State.SCHEDULED, scheduled_at__lte=clock.now()
    )
    children = Activity.objects.filter(parent=activity)
    return list(children.filter(Exists(due)).values_list("pk", flat=True))


def _more_than_one_batch(activity: Activity, limit: int) -> bool:
    """More due traces than one batch takes (one indexed query, reads at most `limit` + 1 ids)."""
    due = Trace.objects.filter(
        activity=activity, state=Trace.State.SCHEDULED, scheduled_at__lte=clock.now()
    ).order_by()
    return due.values_list("pk", flat=True)[limit : limit + 1].exists()


@app.task(name=EXECUTE_DUE, ignore_result=True)
def execute_due(activity_id: int) -> dict:
    """Drain the due traces of one activity of a running campaign, batch after batch.

    When more than one batch is due, one more `execute_due` for the same activity is queued
    BEFORE the first batch runs, so an idle worker starts on the next batch at once (each
    helper does the same while work remains: the workers fan out without waiting for a batch
    to finish, and at most one helper per activity waits in the queue at a time).
    """
    activity = (
        Activity.objects.select_related("campaign", "server_action", "template")
        .filter(pk=activity_id, campaign__state=Campaign.State.RUNNING)
        .first()
    )
    if activity is None:
        return {"batches": 0, "traces": 0}
    limit = effective_limit(activity)
    started = time.monotonic()
    batches = traces = 0
    if _more_than_one_batch(activity, limit):
        send(EXECUTE_DUE, activity.pk)  # one more worker may join this activity now
    has_children = activity.children.exists()
    while True:
        recover_now_and_then()  # before each batch: a long drain must not hold recovery up
        claimed = execute_batch(activity, clock.now(), limit)
        if not claimed:
            break
        batches += 1
        traces += claimed
        if has_children:
            # After every batch: an `execute_due` sent for an earlier batch may already have
            # drained what was due then and ended (duplicates are harmless: SKIP LOCKED).
            send_execute_due(_due_children(activity))
        if claimed < limit:
            break
        if time.monotonic() - started > DRAIN_SECONDS:
            send(EXECUTE_DUE, activity.pk)  # let other activities have a turn
            break
    return {"batches": batches, "traces": traces}


@app.task(name=DISPATCH_DUE, ignore_result=True)
def dispatch_due() -> dict:
    """A wake-up: dispatch every activity with due traces."""
    recover_now_and_then()
    return {"dispatched": send_execute_due(a.pk for a in due_activities(clock.now()))}


@app.task(name=DELIVER_WEBHOOKS, ignore_result=True)
def deliver_webhooks() -> dict:
    """Send the due outbound webhook deliveries (automation/outbound.py) for a while."""
    from .outbound import deliver_all

    recover_now_and_then()
    return {"batches": deliver_all()}
