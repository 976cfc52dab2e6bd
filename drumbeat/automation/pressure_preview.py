"""The 7-day contact pressure preview of a campaign (`GET campaigns/{id}/pressure`, campaign page).

An estimate from the current schedule, read with a constant number of queries: the
campaign's scheduled email/SMS traces due within the next `days` (at most `PREVIEW_LIMIT`, the
earliest first), its recipients' zones and addresses, their slots already taken, and the
traces of the other running, non-exempt campaigns due for the same people in the same days.
Then, in due-date order (a higher-priority campaign first at the same moment):

- a send due outside its window counts as deferred by quiet hours;
- a send whose recipient's cap is full on that local day counts as deferred by the cap (or
  skipped, when its activity says `on_cap: skip`); the others take their slot.

Each send is counted once, at its current date: a deferred one is not followed to its new
date, and the other campaigns' windows are not applied. Exempt campaigns defer nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from drumbeat.lib import clock
from drumbeat.lib.timezones import zone

from .engine.pressure import (
    PRIORITY_RANK,
    _address,
    campaign_window,
    channel_of,
    current_policy,
    records_with_addresses,
    zones_of,
)
from .models import Activity, Campaign, Participant, Trace
from .pressure_models import SendSlot
from .targets import get_target

PREVIEW_LIMIT = 50_000
DAYS = 7


@dataclass
class ActivityPreview:
    activity_id: int
    name: str
    kind: str
    scheduled: int = 0
    deferred_quiet_hours: int = 0
    deferred_frequency_cap: int = 0
    skipped_frequency_cap: int = 0


@dataclass
class PressurePreview:
    start: datetime
    end: datetime
    exempt: bool
    sampled: bool = False  # more traces were due than PREVIEW_LIMIT: the first ones were read
    activities: list[ActivityPreview] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(a, name) for a in self.activities)

    @property
    def scheduled(self) -> int:
        return self.total("scheduled")

    @property
    def deferred_quiet_hours(self) -> int:
        return self.total("deferred_quiet_hours")

    @property
    def deferred_frequency_cap(self) -> int:
        return self.total("deferred_frequency_cap")

    @property
    def skipped_frequency_cap(self) -> int:
        return self.total("skipped_frequency_cap")


@dataclass(order=True)
class _Send:
    at: datetime
    rank: int
    own: int  # 0: this campaign's (at the same moment and priority, counted first)
    address: str = field(compare=False)
    zone_name: str = field(compare=False)
    activity: ActivityPreview | None = field(compare=False, default=None)
    skip: bool = field(compare=False, default=False)


def preview(
    campaign: Campaign, now: datetime | None = None, days: int = DAYS, limit: int = PREVIEW_LIMIT
) -> PressurePreview:
    now = now or clock.now()
    end = now + timedelta(days=days)
    result = PressurePreview(start=now, end=end, exempt=campaign.pressure_exempt)
    activities = {
        a.pk: a
        for a in campaign.activities.filter(kind__in=[Activity.Kind.EMAIL, Activity.Kind.SMS])
    }
    cards = {
        pk: ActivityPreview(pk, a.name, a.kind)
        for pk, a in sorted(activities.items(), key=lambda item: (item[1].delay_hours, item[0]))
    }
    result.activities = list(cards.values())
    if not activities:
        return result
    rows = list(
        _due(Trace.objects.filter(activity_id__in=list(activities)), end)
        .order_by("scheduled_at", "id")
        .values_list("activity_id", "scheduled_at", "participant__record_id")[: limit + 1]
    )
    result.sampled = len(rows) > limit
    rows = rows[:limit]
    for activity_id, _, _ in rows:
        cards[activity_id].scheduled += 1
    if campaign.pressure_exempt or not rows:
        return result
    target = get_target(campaign.target)
    record_ids = {r for _, _, r in rows}
    zones = zones_of(target, record_ids)
    policy = current_policy()
    rank = PRIORITY_RANK.get(campaign.priority, 1)
    sends: dict[str, list[_Send]] = defaultdict(list)  # channel -> sends
    for channel in ("email", "sms"):
        own = [r for r in rows if channel_of(activities[r[0]]) == channel]
        if not own:
            continue
        window = campaign_window(campaign, channel, policy)
        field_name = target.phone_field if channel == "sms" else target.email_field
        addresses = _addresses(target, field_name, record_ids, channel)
        for activity_id, at, record_id in own:
            at = max(at, now)
            name = zones.get(record_id, "UTC")
            if not window.is_open(at.astimezone(zone(name))):
                cards[activity_id].deferred_quiet_hours += 1
                continue
            address = addresses.get(record_id, "")
            if address:
                skip = activities[activity_id].on_cap == Activity.OnCap.SKIP
                sends[channel].append(_Send(at, rank, 0, address, name, cards[activity_id], skip))
    for channel, own_sends in sends.items():
        cap = policy.cap(channel)
        if cap.is_none:
            continue
        zone_of = {s.address: s.zone_name for s in own_sends}
        taken = _taken(channel, list(zone_of), zone_of, cap.lookback_days, now)
        queue = sorted(own_sends + _competing(campaign, channel, zone_of, now, end, limit))
        for send in queue:
            today = send.at.astimezone(zone(send.zone_name)).date()
            if cap.fit_day(taken[send.address], today) == today:
                taken[send.address].append(today)
            elif send.activity is not None and send.skip:
                send.activity.skipped_frequency_cap += 1
            elif send.activity is not None:
                send.activity.deferred_frequency_cap += 1
    return result


def _due(traces, end: datetime):  # noqa: ANN001, ANN202 (a Trace queryset)
    return traces.filter(
        state=Trace.State.SCHEDULED,
        scheduled_at__lte=end,
        is_test=False,
        participant__state=Participant.State.RUNNING,
    )


def _addresses(target, field_name: str | None, record_ids, channel: str) -> dict[int, str]:  # noqa: ANN001
    if not field_name:
        return {}
    rows = target.model._default_manager.filter(pk__in=list(record_ids)).values_list(
        "pk", field_name
    )
    return {pk: _address(channel, value) for pk, value in rows}


def _taken(
    channel: str, addresses: list[str], zone_of: dict[str, str], lookback: int, now: datetime
) -> dict[str, list[date]]:
    taken: dict[str, list[date]] = defaultdict(list)
    rows = SendSlot.objects.filter(
        channel=channel, recipient__in=addresses, sent_at__gte=now - timedelta(days=lookback + 1)
    ).values_list("recipient", "sent_at")
    for recipient, sent_at in rows:
        taken[recipient].append(sent_at.astimezone(zone(zone_of[recipient])).date())
    return taken


def _competing(
    campaign: Campaign,
    channel: str,
    zone_of: dict[str, str],
    now: datetime,
    end: datetime,
    limit: int,
) -> list[_Send]:
    """The other campaigns' sends of `channel` due to the same people before `end`."""
    kind = Activity.Kind.SMS if channel == "sms" else Activity.Kind.EMAIL
    others = (
        Activity.objects.filter(
            kind=kind, campaign__state=Campaign.State.RUNNING, campaign__pressure_exempt=False
        )
        .exclude(campaign=campaign)
        .values_list("id", "campaign_id", "campaign__target", "campaign__priority")
    )
    by_target: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for activity_id, campaign_id, target_key, priority in others:
        by_target[target_key].append((activity_id, campaign_id, priority))
    sends: list[_Send] = []
    for target_key, items in by_target.items():
        records = records_with_addresses(get_target(target_key), channel, list(zone_of))
        if not records:
            continue
        priority_of = {a: PRIORITY_RANK.get(p, 1) for a, _, p in items}
        rows = _due(
            Trace.objects.filter(
                participant__campaign_id__in={c for _, c, _ in items},
                participant__record_id__in=list(records),
                activity_id__in=list(priority_of),
            ),
            end,
        ).values_list("activity_id", "scheduled_at", "participant__record_id")[:limit]
        for activity_id, at, record_id in rows:
            address = records[record_id]
            if address in zone_of:
                sends.append(
                    _Send(max(at, now), priority_of[activity_id], 1, address, zone_of[address])
                )
    return sends
