"""Campaign goals: a filter on the target record that means success (docs/experiments.md#goals).

A campaign with a goal (`goal_domain` not empty) marks each participant whose record matches it
converted (`Participant.converted_at`), once: the UPDATE only touches participants not yet
converted, so a conversion is counted once whatever the number of checks, processes or
record changes. With `goal_window_days`, only a goal reached within that many days of
enrolment counts. With `exit_on_goal`, a running participant who converts leaves the workflow:
its scheduled traces (dated or waiting for an event) are cancelled with the reason "goal
reached" and it is Completed.

The check is set-based — one UPDATE … RETURNING per campaign with a goal, then the exits and
the `participant.converted` webhooks for those it returned — and runs:
- on every scheduler pass that syncs the filters (`runner.run_once`, the embedded worker's
  filter sync every minute, the Celery `enrol_campaign` tasks the beat's `sync` sends every
  minute), before the sync
  removes participants whose record no longer matches (often because it reached the goal);
- at once when records change through the app (`hooks.records_changed`), for those records.

Running campaigns check every participant; other campaigns (New, Stopped) only their test
participants, so a test can be walked to its goal before the campaign starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from drumbeat.lib import clock

from . import rollups
from .domains import filter_records
from .engine.sql import id_set
from .models import Campaign, Participant, Trace
from .outbound import emit_completed, emit_converted

log = logging.getLogger(__name__)

REASON_GOAL = "goal reached"


def campaigns_with_goals(target: str | None = None) -> list[Campaign]:
    campaigns = Campaign.objects.filter(archived=False).exclude(goal_domain=[])
    if target is not None:
        campaigns = campaigns.filter(target=target)
    return list(campaigns.order_by("id"))


def check_goals(now: datetime | None = None) -> int:
    """Check the goal of every campaign that has one; returns the participants converted.
    A campaign whose check fails is logged and skipped: the pass goes on."""
    now = now or clock.now()
    converted = 0
    for campaign in campaigns_with_goals():
        try:
            converted += check_campaign_goal(campaign, now)
        except Exception:
            log.exception("goal check of campaign %s failed", campaign.pk)
    return converted


def check_campaign_goal(
    campaign: Campaign, now: datetime | None = None, record_ids: Iterable[int] | None = None
) -> int:
    """Mark converted the participants of `campaign` (all, or those of `record_ids`) whose
    record matches the goal; exit them with exit_on_goal. Returns how many converted now."""
    if not campaign.goal_domain:
        return 0
    now = now or clock.now()
    candidates = Participant.objects.filter(campaign_id=campaign.pk, converted_at__isnull=True)
    if not campaign.is_running:
        candidates = candidates.filter(is_test=True)
    if campaign.goal_window_days:
        candidates = candidates.filter(
            enrolled_at__gte=now - timedelta(days=campaign.goal_window_days)
        )
    if record_ids is not None:
        candidates = candidates.filter(record_id__in=id_set(record_ids))
    # The goal is a fact about the record: an archived record that reached it still counts.
    reached = filter_records(campaign.target, campaign.goal_domain, True, now).filter(
        pk=OuterRef("record_id")
    )
    matching = candidates.filter(Exists(reached))
    # A read first: on SQLite the write transaction below holds the database's only write
    # lock, which a scan of a big campaign that finds nobody must not take.
    if not matching.exists():
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:  # processing of its traces in progress: wait
            rollups.hold_conversions(cursor, campaign.pk, exclusive=True)
        converted = _mark_converted(matching, now)
        if not converted:
            return 0
        exited = exit_participants(converted, now) if campaign.exit_on_goal else []
        emit_converted(campaign, converted, exited, now)  # outbound webhooks
    return len(converted)


def _mark_converted(candidates, now: datetime) -> list[int]:
    """UPDATE … SET converted_at = now WHERE id IN (candidates) AND converted_at IS NULL
    RETURNING id: the participants converted by this call and no other."""
    table = connection.ops.quote_name(Participant._meta.db_table)
    select, params = candidates.values("id").query.sql_with_params()
    sql = (
        f"UPDATE {table} SET converted_at = %s WHERE id IN ({select})"
        " AND converted_at IS NULL RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(now), *params])
        return sorted(row[0] for row in cursor.fetchall())


def exit_participants(participant_ids: list[int], now: datetime) -> list[int]:
    """The running ones of `participant_ids` leave the workflow: scheduled traces cancelled
    ("goal reached"), participant Completed. Returns those that exited."""
    running = Participant.objects.filter(
        id__in=id_set(participant_ids), state=Participant.State.RUNNING
    )
    exited = list(running.values_list("id", flat=True))
    if not exited:
        return []
    Trace.objects.filter(participant_id__in=id_set(exited), state=Trace.State.SCHEDULED).update(
        state=Trace.State.CANCELLED, reason=REASON_GOAL, executed_at=now
    )
    Participant.objects.filter(id__in=id_set(exited), state=Participant.State.RUNNING).update(
        state=Participant.State.COMPLETED, completed_at=now
    )
    emit_completed(exited, now)  # outbound webhooks
    return exited


def check_changed_records(label: str, ids: list[int]) -> None:
    """Listener of `hooks.records_changed`: check the goals of the campaigns on `label` for
    these records at once. Called after the reporter's commit; a failure is logged (the next
    pass checks them)."""
    try:
        now = clock.now()
        for campaign in campaigns_with_goals(label):
            check_campaign_goal(campaign, now, record_ids=ids)
    except Exception:
        log.exception("goal check of changed %s records failed", label)
