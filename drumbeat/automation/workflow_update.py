"""Update: a running campaign's modified workflow applied to its existing participants
(docs/product.md#changing-a-running-campaign), as SQL over the traces.

An activity added since the last Update gets a trace for each participant it applies to (one
INSERT … SELECT per activity); an activity whose delay changed has its scheduled, dated traces
re-dated (one UPDATE per activity). `counts` says how many of each an Update would write (one
COUNT per activity: the campaign page shows it on every view while changes wait), `apply`
writes them. No trace goes through Python: at a million participants the per-trace plan this
replaces took minutes and held every trace in memory.

Who gets a trace of an added activity:
- a first step (trigger "begin"): every running participant without one, due now + delay;
- a child: every participant (running or completed) whose parent trace was processed and has
  no trace of it yet; under a split, only those assigned to the child's branch; after a
  message, none whose message bounced (unless the child follows the bounce), none for a "not
  opened / clicked / replied" child when the message was; dated from the parent's execution,
  or for an event child from the event when it happened, else waiting until the end of its
  window.

A re-dated trace is due at its base + the new delay: the participant's enrolment (first
step), the parent's message event (event child), the parent's execution (other children);
traces without a base keep their date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.db import models
from django.db.models import Case, Exists, F, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce

from drumbeat.mailing.models import Message

from .engine.execute import TRACE_COLUMNS, scheduled_rows
from .engine.sql import insert_select
from .models import EVENT_TRIGGERS, Activity, Campaign, Participant, SplitAssignment, Trace

T = Activity.Trigger
S = Trace.State

# The message field an event child waits for.
EVENT_STAMP = {
    T.MAIL_OPEN: "opened_at",
    T.MAIL_CLICK: "clicked_at",
    T.SMS_CLICK: "clicked_at",
    T.MAIL_REPLY: "replied_at",
    T.MAIL_BOUNCE: "bounced_at",
    T.SMS_BOUNCE: "bounced_at",
}
# The message fields that rule a "not …" child out.
NOT_STAMP = {
    T.MAIL_NOT_OPEN: ("opened_at", "clicked_at", "replied_at"),
    T.MAIL_NOT_CLICK: ("clicked_at",),
    T.SMS_NOT_CLICK: ("clicked_at",),
    T.MAIL_NOT_REPLY: ("replied_at",),
}
BOUNCE_TRIGGERS = (T.MAIL_BOUNCE, T.SMS_BOUNCE)


@dataclass
class UpdateCounts:
    create: int
    redate: int

    def as_dict(self) -> dict[str, int]:
        return {"create": self.create, "redate": self.redate}


def _at(value: datetime | None) -> Value:
    return Value(value, output_field=models.DateTimeField())


def _later(base: models.Expression, delay: relativedelta | timedelta) -> models.Expression:
    """`base` + `delay` as a date, in SQL. Hours, days and weeks are exact durations (Django
    writes the interval arithmetic); months go by the calendar as relativedelta does (a month
    after 31 January is the last day of February): `AddMonths`."""
    if isinstance(delay, relativedelta):
        months = delay.months + 12 * delay.years
        exact = timedelta(
            days=delay.days,
            hours=delay.hours,
            minutes=delay.minutes,
            seconds=delay.seconds,
            microseconds=delay.microseconds,
        )
        if months:
            later = AddMonths(base, months)
            return later if not exact else _later(later, exact)
        delay = exact
    return models.ExpressionWrapper(
        base + Value(delay, output_field=models.DurationField()),
        output_field=models.DateTimeField(),
    )


class AddMonths(models.Func):
    """A date `months` calendar months later, the day clamped to the end of a shorter month
    (relativedelta's rule). PostgreSQL: `+ make_interval(months => n)` (the connection's time
    zone is UTC, as the stored dates). SQLite: the date part computed by its date functions,
    the time of day (with its microseconds) kept from the stored text."""

    output_field = models.DateTimeField()

    def __init__(self, expression: models.Expression, months: int) -> None:
        super().__init__(expression)
        self.months = int(months)

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} + make_interval(months => {self.months}))", params

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        n = self.months
        day = f"CAST(strftime('%%d', {sql}) AS INTEGER)"
        end = f"strftime('%%d', {sql}, 'start of month', '+{n + 1} months', '-1 day')"
        last = f"CAST({end} AS INTEGER)"  # the target month's last day
        days = f"'+' || (min({day}, {last}) - 1) || ' days'"
        date = f"date({sql}, 'start of month', '+{n} months', {days})"
        return f"({date} || substr({sql}, 11))", [*params, *params, *params, *params]


def _message_of(trace: str, stamped: str = "") -> models.QuerySet:
    """The message of the trace named by `trace` (an outer reference's field); `stamped`: only
    when that field of it is set."""
    messages = Message.objects.filter(trace_id=OuterRef(trace))
    return messages.filter(**{f"{stamped}__isnull": False}) if stamped else messages


def added_rows(activity: Activity, campaign: Campaign, now: datetime) -> models.QuerySet:
    """The traces an Update would create for the added `activity`: a values_list in TRACE_COLUMNS
    order, for a COUNT or an INSERT … SELECT."""
    if activity.trigger == T.BEGIN:
        participants = Participant.objects.filter(
            campaign=campaign, state=Participant.State.RUNNING
        ).exclude(Exists(Trace.objects.filter(participant=OuterRef("pk"), activity=activity)))
        return scheduled_rows(
            participants,
            activity.pk,
            at=_at(now + activity.delay),
            window=_at(None),
            now=now,
            participant="pk",
            parent=Value(None, output_field=models.BigIntegerField()),
        )
    parent = activity.parent
    parents = Trace.objects.filter(
        activity_id=activity.parent_id,
        state=S.PROCESSED,
        participant__state__in=[Participant.State.RUNNING, Participant.State.COMPLETED],
    ).exclude(Exists(Trace.objects.filter(parent=OuterRef("pk"), activity=activity)))
    if parent.is_split:
        parents = parents.filter(
            Exists(
                SplitAssignment.objects.filter(
                    participant_id=OuterRef("participant_id"),
                    split_id=activity.parent_id,
                    branch=activity.branch,
                )
            )
        )
    sent = parent.sends_message
    if sent and activity.trigger not in BOUNCE_TRIGGERS:
        parents = parents.exclude(Exists(_message_of("pk", "bounced_at")))
    if sent:
        for field in NOT_STAMP.get(activity.trigger, ()):
            parents = parents.exclude(Exists(_message_of("pk", field)))
    base = Coalesce(F("executed_at"), _at(now))
    if activity.trigger in EVENT_TRIGGERS:
        event = (
            Subquery(_message_of("pk").values(EVENT_STAMP[activity.trigger])[:1])
            if sent
            else _at(None)
        )
        window = activity.expiry or timedelta(days=campaign.event_window_days)
        parents = parents.annotate(_event=event)
        at = Case(When(_event__isnull=False, then=_later(F("_event"), activity.delay)))
        waits = Case(When(_event__isnull=True, then=_later(base, window)))
        return scheduled_rows(parents, activity.pk, at=at, window=waits, now=now)
    return scheduled_rows(
        parents, activity.pk, at=_later(base, activity.delay), window=_at(None), now=now
    )


def redated_traces(activity: Activity) -> tuple[models.QuerySet, models.Expression]:
    """The traces of `activity` an Update would re-date, and their new date (an expression
    over each trace)."""
    traces = Trace.objects.filter(activity=activity, state=S.SCHEDULED, scheduled_at__isnull=False)
    if activity.trigger == T.BEGIN:
        base = Participant.objects.filter(pk=OuterRef("participant_id")).values("enrolled_at")
    elif activity.trigger in EVENT_TRIGGERS:
        field = EVENT_STAMP[activity.trigger]
        base = _message_of("parent_id").values(field)
        traces = traces.filter(
            Exists(_message_of("parent_id").filter(**{f"{field}__isnull": False}))
        )
    else:
        base = Trace.objects.filter(pk=OuterRef("parent_id")).values("executed_at")
        traces = traces.filter(
            Exists(Trace.objects.filter(pk=OuterRef("parent_id"), executed_at__isnull=False))
        )
    return traces, _later(Subquery(base[:1], output_field=models.DateTimeField()), activity.delay)


def _pending(campaign: Campaign, change: str) -> models.QuerySet:
    return campaign.activities.filter(pending_change=change).select_related("parent")


def counts(campaign: Campaign, now: datetime) -> UpdateCounts:
    """How many traces an Update would create and re-date (one COUNT per activity)."""
    create = sum(
        added_rows(a, campaign, now).count()
        for a in _pending(campaign, Activity.PendingChange.ADDED)
    )
    redate = sum(
        redated_traces(a)[0].count() for a in _pending(campaign, Activity.PendingChange.REDATED)
    )
    return UpdateCounts(create, redate)


def apply(campaign: Campaign, now: datetime) -> UpdateCounts:
    """Write the Update's traces (one INSERT … SELECT per added activity, one UPDATE per
    re-dated one), in the caller's transaction."""
    create = sum(
        insert_select(Trace, TRACE_COLUMNS, added_rows(a, campaign, now))
        for a in _pending(campaign, Activity.PendingChange.ADDED)
    )
    redate = 0
    for activity in _pending(campaign, Activity.PendingChange.REDATED):
        traces, when = redated_traces(activity)
        redate += traces.update(scheduled_at=when)
    return UpdateCounts(create, redate)
