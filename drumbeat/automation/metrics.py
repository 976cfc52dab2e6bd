"""Campaign and activity figures (docs/product.md#figures-and-reporting), read from the roll-ups
the triggers keep (automation/rollups.py), so a page costs the same for ten participants or ten
million; test traces excluded.

`activity_metrics(campaign)` → {activity_id: ActivityMetrics} in four queries (five with a
goal: conversions after each activity, driven by the converted participants);
`campaign_metrics(campaign)` → participant counts and smart figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Count, Q

from drumbeat.lib import clock

from . import rollups
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
    # Ended in Error (the action or the send failed for them: see the traces' reasons).
    errors: int = 0
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
            "errors": self.errors,
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
    now = now or clock.now()
    ids = list(campaign.activities.values_list("id", flat=True))
    result = {pk: ActivityMetrics() for pk in ids}
    for activity_id, counts in rollups.trace_counts(ids).items():
        m = result[activity_id]
        m.processed = counts.get(Trace.State.PROCESSED, 0)
        m.rejected = counts.get(Trace.State.REJECTED, 0)
        m.errors = counts.get(Trace.State.ERROR, 0)
    if campaign.has_goal:
        for activity_id, n in rollups.conversion_counts(ids).items():
            result[activity_id].conversions = n

    # Days are those of the configured time zone.
    days = rollups.local_days(now, DAYS)
    per_day = rollups.daily_counts(ids, days[0])
    for pk, m in result.items():
        m.daily = [
            (d, per_day[(pk, d)]["processed"], per_day[(pk, d)]["rejected"])
            if (pk, d) in per_day
            else (d, 0, 0)
            for d in days
        ]

    for activity_id, row in rollups.message_counts(ids).items():
        m = result.get(activity_id)
        if m is not None:
            for name in MESSAGE_FIGURES:
                setattr(m, name, row[name] or 0)

    for activity_id, (deferred, skipped) in pressure_counts(ids).items():
        if activity_id in result:
            result[activity_id].deferred, result[activity_id].skipped = deferred, skipped
    return result


def pressure_counts(
    activity_ids: list[int], since: date | None = None, until: date | None = None
) -> dict[int, tuple[int, int]]:
    """Activity id → (deferrals, skips) by contact pressure, optionally decided between the
    days `since` and `until` (both included): from the roll-ups, unless a date range needs
    the events."""
    if since is None and until is None:
        return rollups.pressure_counts(activity_ids)
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
    counts = {state: 0 for state in Participant.State.values}
    tests = converted = 0
    for (state, is_test, has_converted), n in (
        rollups.participant_counts([campaign.pk]).get(campaign.pk, {}).items()
    ):
        if is_test:
            tests += n
        else:
            counts[state] = counts.get(state, 0) + n
            converted += n if has_converted else 0
    link_clicks = rollups.click_counts(campaign_id=campaign.pk)
    return {
        **counts,
        "total": counts["running"] + counts["completed"],
        "participants": counts["running"] + counts["completed"],
        "tests": tests,
        "conversions": converted,  # participants who reached the goal (removed ones too)
        "templates": campaign.activities.filter(template__isnull=False)
        .values("template_id")
        .distinct()
        .count(),
        "clicks": sum(total for total, _ in link_clicks.values()),
    }


def dashboard_counts(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Total / Running / Completed participants per campaign (kanban cards), one query."""
    result = {pk: {"total": 0, "running": 0, "completed": 0} for pk in campaign_ids}
    for campaign_id, counts in rollups.participant_counts(
        campaign_ids, include_tests=False
    ).items():
        running = sum(n for (state, _, _), n in counts.items() if state == "running")
        completed = sum(n for (state, _, _), n in counts.items() if state == "completed")
        result[campaign_id] = {
            "running": running,
            "completed": completed,
            "total": running + completed,
        }
    return result
