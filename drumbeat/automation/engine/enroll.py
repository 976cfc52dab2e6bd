"""Enrolment (docs/product.md#enrolment): matching records become participants, in SQL.

New participants are inserted with one INSERT … SELECT from the compiled filter (anti-join on
existing participants, unique key normalised and deduplicated with GROUP BY), then each `begin`
activity gets its traces with one INSERT … SELECT. Participants whose record was deleted or no
longer matches are marked Removed and their scheduled traces cancelled, in two UPDATEs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import models, transaction
from django.db.models import CharField, Exists, F, Min, OuterRef, Q, Value
from django.db.models.functions import Cast, Coalesce, Lower, Trim

from drumbeat.lib import clock

from ..domains import filter_records
from ..models import Activity, Campaign, Participant, Trace
from ..outbound import emit_enrolled
from ..targets import Target, get_target
from . import wakeup
from .sql import id_set, insert_select

log = logging.getLogger(__name__)

REASON_REMOVED = "record removed"


@dataclass
class EnrolResult:
    enrolled: int = 0
    traces: int = 0
    removed: int = 0


def unique_key_expression(target: Target, field: str) -> models.Expression:
    """The normalised unique key of a record, as SQL: emails lower-cased and trimmed."""
    if not field:
        return Value("", output_field=CharField())
    model_field = target.model._meta.get_field(field)
    if field == "id" or model_field.primary_key:
        return Cast("pk", CharField())
    if model_field.many_to_one:
        return Coalesce(Cast(model_field.attname, CharField()), Value(""))
    if field == target.email_field:
        return Coalesce(Lower(Trim(field)), Value(""))
    if isinstance(model_field, models.CharField | models.TextField):
        return Coalesce(Trim(field), Value(""))
    return Coalesce(Cast(field, CharField()), Value(""))


def matching_records(campaign: Campaign, now: datetime) -> models.QuerySet:
    target = get_target(campaign.target)
    return filter_records(target, campaign.domain, campaign.include_archived, now)


def enroll_campaign(
    campaign: Campaign, record_ids: Iterable[int] | None = None, now: datetime | None = None
) -> EnrolResult:
    """Enrol new matching records of a running campaign (all, or only `record_ids`).

    A constant number of statements whatever the number of records.
    """
    now = now or clock.now()
    result = EnrolResult()
    if not campaign.is_running:
        return result
    if record_ids is not None:
        record_ids = list(record_ids)  # read twice
    target = get_target(campaign.target)
    if record_ids is None and not has_changes(campaign, now):
        # The full sync of a big campaign that found nothing: two reads, and no write lock
        # held meanwhile (on SQLite, BEGIN IMMEDIATE would hold it for the whole scan).
        Campaign.objects.filter(pk=campaign.pk).update(last_sync_at=now)
        return result
    with transaction.atomic():
        # Only participants running before this enrolment can have stopped matching: a first
        # Start (none yet) skips the two removal UPDATEs over the new ones.
        removable = record_ids is None and has_running(campaign)
        last_id = last_participant_id()
        result.enrolled = insert_participants(campaign, target, record_ids, now)
        if result.enrolled:
            new = new_participants(campaign, last_id, now)
            result.traces = insert_begin_traces(campaign, now, new, fresh=True)
            emit_enrolled(campaign, now)  # outbound webhooks
        if removable:
            result.removed = remove_unmatched(campaign, now)
        if result.enrolled or record_ids is None:
            Campaign.objects.filter(pk=campaign.pk).update(last_sync_at=now)
    return result


def has_running(campaign: Campaign) -> bool:
    return Participant.objects.filter(
        campaign_id=campaign.pk, state=Participant.State.RUNNING, is_test=False
    ).exists()


def last_participant_id() -> int:
    """The highest participant id so far (0 for none): participants inserted after this call
    have higher ids."""
    return Participant.objects.order_by("-id").values_list("id", flat=True).first() or 0


def new_participants(campaign: Campaign, last_id: int, now: datetime) -> models.QuerySet:
    """The participants this transaction enrolled in `campaign` (at `now`, after `last_id`),
    read by id range: `campaign_id + 0` keeps SQLite from reading every participant of the
    campaign through its (campaign, record) index instead."""
    return (
        Participant.objects.filter(id__gt=last_id, enrolled_at=now)
        .alias(_campaign=F("campaign_id") + 0)
        .filter(_campaign=campaign.pk)
    )


def has_changes(campaign: Campaign, now: datetime) -> bool:
    """Whether a full sync would enrol or remove anyone (reads only, each stops at its first
    row). A record whose unique key is already taken does not count: it is never enrolled."""
    new = unenrolled_records(campaign, now)
    if campaign.unique_field:
        target = get_target(campaign.target)
        new = new.annotate(ukey=unique_key_expression(target, campaign.unique_field)).filter(
            Q(ukey="") | ~Exists(_taken_keys(campaign))
        )
    return new.exists() or unmatched_participants(campaign, now).exists()


def _taken_keys(campaign: Campaign) -> models.QuerySet:
    """The campaign's participants holding the key `ukey` of the outer record."""
    return Participant.objects.filter(
        campaign_id=campaign.pk, unique_key=OuterRef("ukey"), is_test=False
    )


def unenrolled_records(campaign: Campaign, now: datetime) -> models.QuerySet:
    """Matching records that have no participant in `campaign` yet."""
    return matching_records(campaign, now).filter(
        ~Exists(Participant.objects.filter(campaign_id=campaign.pk, record_id=OuterRef("pk")))
    )


def insert_participants(
    campaign: Campaign, target: Target, record_ids: Iterable[int] | None, now: datetime
) -> int:
    new = unenrolled_records(campaign, now)
    if record_ids is not None:
        new = new.filter(pk__in=id_set(record_ids))
    new = new.annotate(ukey=unique_key_expression(target, campaign.unique_field))
    if not campaign.unique_field:
        return _insert_chosen(campaign, new, now)
    # The first record (lowest id) of each free key, grouped in the INSERT's own SELECT (its
    # columns are the group's key and MIN(id)), then every record without a key: two
    # statements, each one scan of the records. (`pk IN (first of each key)` scanned them
    # twice; `… OR pk IN (…)` in one statement cannot be a hash semi-join: past the planner's
    # work memory, PostgreSQL re-ran the subquery for each of a million records.)
    first_of_key = (
        new.exclude(ukey="")
        .filter(~Exists(_taken_keys(campaign)))
        .order_by()
        .values("ukey")
        .annotate(first=Min("pk"))
    )
    return _insert_chosen(campaign, first_of_key, now, record="first") + _insert_chosen(
        campaign, new.filter(ukey=""), now
    )


def _insert_chosen(
    campaign: Campaign, chosen: models.QuerySet, now: datetime, record: str = "pk"
) -> int:
    """INSERT … SELECT of participants for `chosen` (annotated with `ukey`; `record`: the
    record's id, `pk` or an annotation)."""
    select = (
        chosen.annotate(
            _campaign=Value(campaign.pk),
            _state=Value(Participant.State.RUNNING.value),
            _test=Value(False),
            _at=Value(now, output_field=models.DateTimeField()),
        )
        .order_by(record)
        .values_list("_campaign", record, "ukey", "_state", "_test", "_at")
    )
    return insert_select(
        Participant,
        ["campaign", "record_id", "unique_key", "state", "is_test", "enrolled_at"],
        select,
    )


def insert_begin_traces(
    campaign: Campaign,
    now: datetime,
    participants: models.QuerySet | None = None,
    fresh: bool = False,
) -> int:
    """One trace per `begin` activity for participants enrolled at `now` (or `participants`)
    that have none yet; `fresh`: `participants` were inserted by this transaction, so have no
    trace (no check per participant)."""
    if participants is None:
        participants = Participant.objects.filter(
            campaign_id=campaign.pk, state=Participant.State.RUNNING, enrolled_at=now
        )
    created = 0
    for activity in Activity.objects.filter(campaign=campaign, trigger=Activity.Trigger.BEGIN):
        chosen = participants
        if not fresh:
            chosen = chosen.filter(
                ~Exists(Trace.objects.filter(participant=OuterRef("pk"), activity=activity))
            )
        select = (
            chosen.annotate(
                _activity=Value(activity.pk),
                _state=Value(Trace.State.SCHEDULED.value),
                _at=Value(now + activity.delay, output_field=models.DateTimeField()),
                _reason=Value(""),
                _test=F("is_test"),
                _created=Value(now, output_field=models.DateTimeField()),
            )
            .order_by("pk")
            .values_list("pk", "_activity", "_state", "_at", "_reason", "_test", "_created")
        )
        created += insert_select(
            Trace,
            ["participant", "activity", "state", "scheduled_at", "reason", "is_test", "created_at"],
            select,
        )
        if activity.send_at_local is not None:
            from .pressure import align_local_times

            align_local_times(Trace.objects.filter(activity=activity, created_at=now), now)
    return created


def unmatched_participants(campaign: Campaign, now: datetime) -> models.QuerySet:
    """Running participants whose record was deleted or no longer matches."""
    # NOT EXISTS, an anti-join: `record_id NOT IN (subquery)` cannot be one, and past the
    # planner's work memory PostgreSQL re-ran the subquery for each participant.
    still_matching = matching_records(campaign, now).filter(pk=OuterRef("record_id"))
    return Participant.objects.filter(
        campaign_id=campaign.pk, state=Participant.State.RUNNING, is_test=False
    ).filter(~Exists(still_matching))


def remove_unmatched(campaign: Campaign, now: datetime) -> int:
    """Running participants whose record was deleted or no longer matches become Removed."""
    gone = unmatched_participants(campaign, now)
    Trace.objects.filter(state=Trace.State.SCHEDULED, participant__in=gone).update(
        state=Trace.State.CANCELLED, reason=REASON_REMOVED, executed_at=now
    )
    return gone.update(state=Participant.State.REMOVED, completed_at=now)


def enroll_running_campaigns(now: datetime | None = None) -> EnrolResult:
    """Enrol (and remove) for every running campaign."""
    total = EnrolResult()
    now = now or clock.now()
    for campaign in Campaign.objects.filter(state=Campaign.State.RUNNING, archived=False):
        r = enroll_campaign(campaign, now=now)
        total.enrolled += r.enrolled
        total.traces += r.traces
        total.removed += r.removed
    return total


def enroll_changed_records(label: str, ids: list[int]) -> None:
    """Listener of `hooks.records_changed`: enrol created/updated records at once.

    Called after the reporter's commit; a failure is logged (the next pass enrols them).
    """
    try:
        for campaign in Campaign.objects.filter(
            state=Campaign.State.RUNNING, archived=False, target=label
        ):
            enroll_campaign(campaign, record_ids=ids)
    except Exception:
        log.exception("enrolment of changed %s records failed", label)
    wakeup.wake()
