"""Campaign and activity figures (docs/product.md#figures-and-reporting), computed with aggregates;
test traces excluded.

`activity_metrics(campaign)` → {activity_id: ActivityMetrics} in four queries (five with a
goal: conversions after each activity) whatever the size of the campaign;
`campaign_metrics(campaign)` → participant counts and smart figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from drumbeat.lib import clock

from .models import Activity, Campaign, Participant, Trace
from .pressure_models import PressureEvent

DAYS = 15
# The message figures of an activity card; each names a timestamp of Message except "sent",
# which counts the messages handed to the transport (sent or bounced since).
MESSAGE_FIGURES = ("sent", "opened", "clicked", "replied", "bounced", "complained")


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


@dataclass
class ActivityMetrics:
    processed: int = 0
    rejected: int = 0
    # (day, processed, rejected) for the last DAYS days, oldest first, every day present.
    daily: list[tuple[date, int, int]] = field(default_factory=list)
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    bounced: int = 0
    complained: int = 0  # reported as spam (feedback loops, provider complaints)
    # Contact pressure: deferrals (quiet hours or a frequency cap) and skips, each counted
    # every time it happened (a trace deferred twice counts twice).
    deferred: int = 0
    skipped: int = 0
    # Participants who reached the campaign's goal after this activity ran (0 without a goal).
    conversions: int = 0

    @property
    def conversion_percent(self) -> float:
        return percent(self.conversions, self.processed)

    @property
    def opened_percent(self) -> float:
        return percent(self.opened, self.sent)

    @property
    def clicked_percent(self) -> float:
        return percent(self.clicked, self.sent)

    @property
    def replied_percent(self) -> float:
        return percent(self.replied, self.sent)

    @property
    def bounced_percent(self) -> float:
        return percent(self.bounced, self.sent)

    @property
    def complained_percent(self) -> float:
        return percent(self.complained, self.sent)

    def as_dict(self) -> dict:
        return {
            "processed": self.processed,
            "rejected": self.rejected,
            "daily": [
                {"day": d.isoformat(), "processed": p, "rejected": r} for d, p, r in self.daily
            ],
            "sent": self.sent,
            "opened": self.opened,
            "clicked": self.clicked,
            "replied": self.replied,
            "bounced": self.bounced,
            "complained": self.complained,
            "opened_percent": self.opened_percent,
            "clicked_percent": self.clicked_percent,
            "replied_percent": self.replied_percent,
            "bounced_percent": self.bounced_percent,
            "complained_percent": self.complained_percent,
            "deferred": self.deferred,
            "skipped": self.skipped,
            "conversions": self.conversions,
            "conversion_percent": self.conversion_percent,
        }


def activity_metrics(campaign: Campaign, now: datetime | None = None) -> dict[int, ActivityMetrics]:
    from drumbeat.mailing.models import Message

    now = now or clock.now()
    ids = list(campaign.activities.values_list("id", flat=True))
    result = {pk: ActivityMetrics() for pk in ids}
    traces = Trace.objects.filter(activity_id__in=ids, is_test=False)
    for row in traces.values("activity_id").annotate(
        processed=Count("id", filter=Q(state=Trace.State.PROCESSED)),
        rejected=Count("id", filter=Q(state=Trace.State.REJECTED)),
    ):
        m = result[row["activity_id"]]
        m.processed, m.rejected = row["processed"], row["rejected"]
    if campaign.has_goal:
        for row in (
            traces.filter(
                state=Trace.State.PROCESSED, participant__converted_at__gte=F("executed_at")
            )
            .values("activity_id")
            .annotate(n=Count("participant", distinct=True))
        ):
            result[row["activity_id"]].conversions = row["n"]

    # Days are those of the configured time zone, as TruncDate groups them.
    today = timezone.localtime(now).date()
    days = [today - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    per_day: dict[tuple[int, date], list[int]] = {}
    for row in (
        traces.filter(
            executed_at__gte=now - timedelta(days=DAYS),
            state__in=[Trace.State.PROCESSED, Trace.State.REJECTED],
        )
        .annotate(day=TruncDate("executed_at"))
        .values("activity_id", "day")
        .annotate(
            processed=Count("id", filter=Q(state=Trace.State.PROCESSED)),
            rejected=Count("id", filter=Q(state=Trace.State.REJECTED)),
        )
    ):
        per_day[(row["activity_id"], row["day"])] = [row["processed"], row["rejected"]]
    for pk, m in result.items():
        m.daily = [(d, *per_day.get((pk, d), [0, 0])) for d in days]

    sent_states = [Message.State.SENT, Message.State.BOUNCED]
    for row in (
        Message.objects.filter(activity_id__in=ids, is_test=False)
        .values("activity_id")
        .annotate(
            sent=Count("id", filter=Q(state__in=sent_states)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            replied=Count("id", filter=Q(replied_at__isnull=False)),
            bounced=Count("id", filter=Q(bounced_at__isnull=False)),
            complained=Count("id", filter=Q(complained_at__isnull=False)),
        )
    ):
        m = result.get(row["activity_id"])
        if m is not None:
            m.sent, m.opened, m.clicked = row["sent"], row["opened"], row["clicked"]
            m.replied, m.bounced = row["replied"], row["bounced"]
            m.complained = row["complained"]

    for activity_id, (deferred, skipped) in pressure_counts(ids).items():
        if activity_id in result:
            result[activity_id].deferred, result[activity_id].skipped = deferred, skipped
    return result


def pressure_counts(
    activity_ids: list[int], since: date | None = None, until: date | None = None
) -> dict[int, tuple[int, int]]:
    """Activity id → (deferrals, skips) by contact pressure, optionally decided between the
    days `since` and `until` (both included)."""
    events = PressureEvent.objects.filter(activity_id__in=activity_ids)
    if since is not None:
        events = events.filter(at__date__gte=since)
    if until is not None:
        events = events.filter(at__date__lte=until)
    rows = events.values("activity_id").annotate(
        deferred=Count("id", filter=Q(kind=PressureEvent.Kind.DEFERRED)),
        skipped=Count("id", filter=Q(kind=PressureEvent.Kind.SKIPPED)),
    )
    return {r["activity_id"]: (r["deferred"], r["skipped"]) for r in rows}


def participants_concerned(activity: Activity, figure: str, include_tests: bool = False):
    """The participants behind one figure of an activity card (test ones only when asked)."""
    from drumbeat.mailing.models import Message

    traces = Trace.objects.filter(activity=activity)
    messages = Message.objects.filter(activity_id=activity.pk)
    if not include_tests:
        traces, messages = traces.filter(is_test=False), messages.filter(is_test=False)
    if figure in ("processed", "rejected"):
        traces = traces.filter(state=figure)
    elif figure in MESSAGE_FIGURES:
        if figure == "sent":
            messages = messages.filter(state__in=["sent", "bounced"])
        else:
            messages = messages.filter(**{f"{figure}_at__isnull": False})
        traces = traces.filter(id__in=messages.values("trace_id"))
    else:
        raise ValueError(f"unknown figure {figure!r}")
    return Participant.objects.filter(id__in=traces.values("participant_id"))


def campaign_metrics(campaign: Campaign) -> dict[str, int]:
    """Participant counts by state and the campaign's figures (docs/product.md#campaigns)."""
    from drumbeat.mailing.models import Click

    rows = (
        Participant.objects.filter(campaign=campaign)
        .values("state", "is_test")
        .annotate(n=Count("id"), converted=Count("id", filter=Q(converted_at__isnull=False)))
    )
    counts = {state: 0 for state in Participant.State.values}
    tests = conversions = 0
    for row in rows:
        if row["is_test"]:
            tests += row["n"]
        else:
            counts[row["state"]] += row["n"]
            conversions += row["converted"]
    return {
        **counts,
        "total": counts["running"] + counts["completed"],
        "participants": counts["running"] + counts["completed"],
        "tests": tests,
        "conversions": conversions,  # participants who reached the goal (removed ones too)
        "templates": campaign.activities.filter(template__isnull=False)
        .values("template_id")
        .distinct()
        .count(),
        "clicks": Click.objects.filter(
            message__campaign_id=campaign.pk, message__is_test=False
        ).count(),
    }


def dashboard_counts(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Total / Running / Completed participants per campaign (kanban cards), one query."""
    result = {pk: {"total": 0, "running": 0, "completed": 0} for pk in campaign_ids}
    for row in (
        Participant.objects.filter(campaign_id__in=campaign_ids, is_test=False)
        .values("campaign_id")
        .annotate(
            running=Count("id", filter=Q(state=Participant.State.RUNNING)),
            completed=Count("id", filter=Q(state=Participant.State.COMPLETED)),
        )
    ):
        result[row["campaign_id"]] = {
            "running": row["running"],
            "completed": row["completed"],
            "total": row["running"] + row["completed"],
        }
    return result
