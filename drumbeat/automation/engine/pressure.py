"""Contact pressure: may this email or SMS go now? Send windows, frequency caps, priority.

`screen()` runs inside a claimed batch of one email/SMS activity, just before rendering
(execute._send_messages), with a constant number of statements whatever the batch size:

1. Each recipient's zone: the record's stored `time_zone`, else derived from its phone and
   country, else `DRUMBEAT_TIME_ZONE` (lib/timezones.py).
2. Window: a recipient outside the campaign's window (its own, else the instance's) is
   deferred to the window's next opening in their zone: the trace is scheduled again with
   the reason "deferred: quiet hours until 2025-03-10 08:00 Europe/Paris". Never dropped.
3. Cap (when the channel has one), in ONE transaction:
   - PostgreSQL: an advisory transaction lock per recipient (a hash of the address, taken in
     sorted order, so two workers never deadlock) serialises the batches that share a
     person; SQLite's IMMEDIATE transaction already serialises writers;
   - ONE query reads the recipients' slots (`SendSlot`, index on recipient, sent_at) over
     the longest cap period;
   - priority: due traces of the same channel in running, non-exempt campaigns of a HIGHER
     priority for the same people (two queries per target of such campaigns, none when
     there are none) each reserve one of today's slots;
   - per recipient, in Python: the sends counted on the recipient's calendar days, plus
     those reservations, either leave room today (send) or give the first day with room:
     the trace is deferred to that day's first opening of the window ("deferred: frequency
     cap until …"), or rejected with the reason "frequency cap" when the activity says
     `on_cap: skip`;
   - the slots of the sends let through are inserted before COMMIT, so the next batch
     (another worker's included) counts them.
4. Every deferral and skip gets a `PressureEvent` row (one INSERT), counted by the activity
   cards and reports.

Priority rule: among campaigns due in the same pass, the runner and the Celery dispatch take
the activities of high-priority campaigns first, then normal, then low (then by campaign
and activity id). A batch that runs while a higher-priority trace for the same person and
channel is due (scheduled_at ≤ now, not yet sent) leaves today's last slots to it. Equal
priorities: first come, first served. Exempt campaigns and test traces take no slot and
wait for no window. Server actions are never screened.

Every send that passes takes a slot even when no cap is set, so a cap set later counts the
past; a send that then does not happen (cancelled, error, retried) gives its slot back
(`release_unsent`). Slots older than `MAX_CAP_DAYS` + 1 days are purged (`purge_slots`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Case, Exists, OuterRef, Value, When

from drumbeat.lib.normalize import normalize_email
from drumbeat.lib.send_rules import MAX_CAP_DAYS, Cap, SendWindow, parse_cap, parse_window
from drumbeat.lib.timed_updates import set_times
from drumbeat.lib.timezones import default_zone, effective_zone, zone
from drumbeat.mailing.bulk import insert_rows, text_set

from ..models import Activity, Campaign, Trace
from ..pressure_models import PressureEvent, PressureSettings, SendSlot
from ..targets import Target, get_target
from .sql import id_set

if TYPE_CHECKING:
    from .execute import Claimed

S = Trace.State
REASON_CAP = "frequency cap"
PRIORITY_RANK = {"high": 0, "normal": 1, "low": 2}
LOCK_CLASS = 0x4442  # the first key of our advisory locks: "DB"
SETTING_NAMES = ("email_cap", "sms_cap", "email_window", "sms_window")


# --- the policy in force ---------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    email_window: SendWindow
    sms_window: SendWindow
    email_cap: Cap
    sms_cap: Cap

    def window(self, channel: str) -> SendWindow:
        return self.sms_window if channel == "sms" else self.email_window

    def cap(self, channel: str) -> Cap:
        return self.sms_cap if channel == "sms" else self.email_cap


def environment_values() -> dict[str, str]:
    return {name: getattr(settings, f"PRESSURE_{name.upper()}", "") for name in SETTING_NAMES}


def configured_values() -> dict[str, str]:
    """The values set in Configuration ('' where none is set)."""
    row = PressureSettings.objects.order_by("pk").values(*SETTING_NAMES).first()
    return {name: (row or {}).get(name, "") or "" for name in SETTING_NAMES}


def effective_values(configured: dict[str, str] | None = None) -> dict[str, str]:
    """Configuration wins over the environment, setting by setting."""
    configured = configured_values() if configured is None else configured
    env = environment_values()
    return {name: configured.get(name) or env[name] for name in SETTING_NAMES}


def _parsed(parse, text: str):  # noqa: ANN001, ANN202 (parse_window or parse_cap)
    try:
        return parse(text)
    except ValueError:  # refused on save and by the system check; never stops sending
        return parse("")


def current_policy() -> Policy:
    """The caps and windows in force (one query)."""
    values = effective_values()
    return Policy(
        email_window=_parsed(parse_window, values["email_window"]),
        sms_window=_parsed(parse_window, values["sms_window"]),
        email_cap=_parsed(parse_cap, values["email_cap"]),
        sms_cap=_parsed(parse_cap, values["sms_cap"]),
    )


def campaign_window(campaign: Campaign, channel: str, policy: Policy) -> SendWindow:
    own = campaign.sms_window if channel == "sms" else campaign.email_window
    return _parsed(parse_window, own) if own.strip() else policy.window(channel)


def channel_of(activity: Activity) -> str:
    return "sms" if activity.kind == Activity.Kind.SMS else "email"


def priority_rank() -> Case:
    """An expression ordering activities by their campaign's priority (high first)."""
    return Case(
        *(When(campaign__priority=p, then=Value(r)) for p, r in PRIORITY_RANK.items()),
        default=Value(1),
        output_field=models.IntegerField(),
    )


# --- zones -----------------------------------------------------------------------------------


def record_zone(record: models.Model) -> str:
    return effective_zone(
        getattr(record, "time_zone", "") or "",
        getattr(record, "phone", "") or "",
        getattr(record, "country", "") or "",
    )


def zones_of(target: Target, record_ids: Iterable[int]) -> dict[int, str]:
    """Record id → zone name, in one query."""
    model = target.model
    names = {f.name for f in model._meta.concrete_fields}
    fields = ["pk", *(f for f in ("time_zone", "phone", "country") if f in names)]
    result = {}
    for pk, *values in model._default_manager.filter(pk__in=id_set(record_ids)).values_list(
        *fields
    ):
        row = dict(zip(fields[1:], values, strict=True))
        result[pk] = effective_zone(
            row.get("time_zone") or "", row.get("phone") or "", row.get("country") or ""
        )
    return result


def _address(channel: str, raw: object) -> str:
    text = str(raw or "")
    return text.strip() if channel == "sms" else normalize_email(text)


# --- the screen ------------------------------------------------------------------------------


@dataclass
class _Deferral:
    at: datetime  # UTC
    reason: str
    cause: str


def _deferral(cause: str, local: datetime, zone_name: str) -> _Deferral:
    label = "quiet hours" if cause == PressureEvent.Cause.QUIET_HOURS else REASON_CAP
    return _Deferral(
        local.astimezone(zone("UTC")),
        f"deferred: {label} until {local:%Y-%m-%d %H:%M} {zone_name}",
        cause,
    )


def screen(
    activity: Activity,
    live: list[Claimed],
    records: dict[int, models.Model],
    field: str | None,
    now: datetime,
    outcomes: dict[int, tuple[str, str]],
) -> list[Claimed]:
    """The traces of `live` that may be sent now. The others are deferred (scheduled again,
    written here) or skipped (put in `outcomes` as rejected "frequency cap")."""
    campaign = activity.campaign
    if campaign.pressure_exempt or not live:
        return live
    channel = channel_of(activity)
    policy = current_policy()
    window = campaign_window(campaign, channel, policy)
    cap = policy.cap(channel)
    deferred: dict[int, _Deferral] = {}
    skipped: list[int] = []
    zone_name: dict[int, str] = {}
    address: dict[int, str] = {}
    screened: list[Claimed] = []
    zoned = not (window.always_open and cap.is_none)  # else no zone is needed
    for c in live:
        record = records.get(c.record_id)
        if c.is_test or record is None:
            continue
        if zoned:
            name = zone_name[c.id] = record_zone(record)
            local = now.astimezone(zone(name))
            if not window.is_open(local):
                deferred[c.id] = _deferral("quiet_hours", window.next_open(local), name)
                continue
        address[c.id] = _address(channel, getattr(record, field or "", ""))
        screened.append(c)
    with transaction.atomic():
        if not cap.is_none:
            addresses = sorted({a for a in address.values() if a})
            lock_recipients(addresses)
            sent = _sent_days(
                channel, addresses, cap, now, {c.id for c in live}, zone_name, address
            )
            reserved = _reserved(activity, campaign, addresses, now)
            for c in screened:
                recipient = address[c.id]
                if not recipient:
                    continue  # sending cancels it ("missing email")
                tz = zone(zone_name[c.id])
                today = now.astimezone(tz).date()
                days = sent[recipient] + [today] * reserved.get(recipient, 0)
                fits = cap.fit_day(days, today)
                if fits == today:
                    sent[recipient].append(today)
                elif activity.on_cap == Activity.OnCap.SKIP:
                    skipped.append(c.id)
                else:
                    opening = window.next_open(datetime.combine(fits, time(0), tzinfo=tz))
                    deferred[c.id] = _deferral("frequency_cap", opening, zone_name[c.id])
        passing = [c for c in screened if c.id not in deferred and c.id not in skipped]
        _take_slots(
            [(channel, address[c.id], now, c.id, campaign.pk) for c in passing if address[c.id]]
        )
        _write_deferrals(activity, deferred, skipped, now)
    for trace_id in skipped:
        outcomes[trace_id] = (S.REJECTED, REASON_CAP)
    return [c for c in live if c.id not in deferred and c.id not in skipped]


def _take_slots(rows: list[tuple[str, str, datetime, int, int]]) -> None:
    """One INSERT of the slots (PostgreSQL: one statement; SQLite: executemany); a trace
    holding one already keeps it."""
    if not rows:
        return
    quote = connection.ops.quote_name
    meta = SendSlot._meta
    columns = ["channel", "recipient", "sent_at", "trace_id", "campaign_id"]
    names = ", ".join(quote(meta.get_field(c).column) for c in columns)
    insert = f"INSERT INTO {quote(meta.db_table)} ({names})"
    conflict = f" ON CONFLICT ({quote('trace_id')}) DO NOTHING"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one statement: the columns as arrays
            cursor.execute(
                f"{insert} SELECT * FROM unnest(%s::varchar[], %s::varchar[],"
                f" %s::timestamptz[], %s::bigint[], %s::bigint[]){conflict}",
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:  # sqlite3 steps the prepared statement in C
            at = connection.ops.adapt_datetimefield_value
            cursor.executemany(
                f"{insert} VALUES (%s, %s, %s, %s, %s){conflict}",
                [(c, r, at(t), trace, camp) for c, r, t, trace, camp in rows],
            )


def lock_recipients(addresses: list[str]) -> None:
    """PostgreSQL: one advisory transaction lock per recipient, in sorted key order (two
    batches sharing people wait for each other instead of both counting the same free slot;
    the same order everywhere means no deadlock). Released at COMMIT."""
    if connection.vendor != "postgresql" or not addresses:
        return
    keys = sorted({_lock_key(a) for a in addresses})
    with connection.cursor() as cursor:
        # unnest yields the sorted array in order: the locks are taken in that order.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k", [LOCK_CLASS, keys]
        )
        cursor.fetchall()


def _lock_key(address: str) -> int:
    digest = hashlib.blake2b(address.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _sent_days(
    channel: str,
    addresses: list[str],
    cap: Cap,
    now: datetime,
    own: set[int],
    zone_name: dict[int, str],
    address: dict[int, str],
) -> dict[str, list[date]]:
    """Recipient → the local days of the slots counted (one query). A trace of this batch
    holding a slot (a batch recovered after a crash) does not count against itself."""
    tz_of = {address[t]: zone(zone_name[t]) for t in address}
    since = now - timedelta(days=cap.lookback_days + 1)
    days: dict[str, list[date]] = defaultdict(list)
    if not addresses:
        return days
    rows = SendSlot.objects.filter(
        recipient__in=text_set(addresses), channel=channel, sent_at__gte=since
    ).values_list("recipient", "sent_at", "trace_id")
    for recipient, sent_at, trace_id in rows:
        if trace_id not in own:
            days[recipient].append(sent_at.astimezone(tz_of[recipient]).date())
    return days


def _reserved(
    activity: Activity, campaign: Campaign, addresses: list[str], now: datetime
) -> dict[str, int]:
    """Recipient → the due traces of higher-priority campaigns waiting for the same channel."""
    rank = PRIORITY_RANK.get(campaign.priority, 1)
    higher = [p for p, r in PRIORITY_RANK.items() if r < rank]
    if not higher or not addresses:
        return {}
    competing = list(
        Activity.objects.filter(
            kind=activity.kind,
            campaign__state=Campaign.State.RUNNING,
            campaign__pressure_exempt=False,
            campaign__priority__in=higher,
        ).values_list("id", "campaign_id", "campaign__target")
    )
    by_target: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for activity_id, campaign_id, target_key in competing:
        by_target[target_key].append((activity_id, campaign_id))
    counts: dict[str, int] = defaultdict(int)
    channel = channel_of(activity)
    for target_key, pairs in by_target.items():
        records = records_with_addresses(get_target(target_key), channel, addresses)
        if not records:
            continue
        due = (
            Trace.objects.filter(
                participant__campaign_id__in={c for _, c in pairs},
                participant__record_id__in=list(records),
                activity_id__in=[a for a, _ in pairs],
                state__in=[S.SCHEDULED, S.PROCESSING],
                scheduled_at__lte=now,
                is_test=False,
            )
            .exclude(Exists(SendSlot.objects.filter(trace_id=OuterRef("pk"))))
            .values_list("participant__record_id", flat=True)
        )
        for record_id in due:
            counts[records[record_id]] += 1
    return counts


def records_with_addresses(target: Target, channel: str, addresses: list[str]) -> dict[int, str]:
    """Record id → normalised address, for the records of `target` with one of `addresses`
    (one query; none for a target without such a field)."""
    field = target.phone_field if channel == "sms" else target.email_field
    if not field or not addresses:
        return {}
    rows = target.model._default_manager.filter(**{f"{field}__in": addresses})
    return {pk: _address(channel, value) for pk, value in rows.values_list("pk", field)}


def _write_deferrals(
    activity: Activity, deferred: dict[int, _Deferral], skipped: list[int], now: datetime
) -> None:
    """Scheduled again, one UPDATE per (date, reason); one INSERT of the pressure events."""
    groups: dict[tuple[datetime, str], list[int]] = defaultdict(list)
    for trace_id, d in deferred.items():
        groups[(d.at, d.reason)].append(trace_id)
    for (at, reason), ids in groups.items():
        Trace.objects.filter(id__in=id_set(ids), state=S.PROCESSING).update(
            state=S.SCHEDULED,
            scheduled_at=at,
            reason=reason[:500],
            claim_expires_at=None,
            started_at=None,
        )
    events = [
        PressureEvent(
            trace_id=trace_id,
            activity_id=activity.pk,
            campaign_id=activity.campaign_id,
            kind=PressureEvent.Kind.DEFERRED,
            cause=d.cause,
            at=now,
            until=d.at,
        )
        for trace_id, d in deferred.items()
    ] + [
        PressureEvent(
            trace_id=trace_id,
            activity_id=activity.pk,
            campaign_id=activity.campaign_id,
            kind=PressureEvent.Kind.SKIPPED,
            cause=PressureEvent.Cause.FREQUENCY_CAP,
            at=now,
        )
        for trace_id in skipped
    ]
    insert_rows(PressureEvent, events)


def release_unsent(outcomes: dict[int, tuple[str, str]], retry: Iterable[int]) -> None:
    """Give back the slots of a batch's traces that were not sent (one DELETE, or none)."""
    unsent = [t for t, (state, _) in outcomes.items() if state != S.PROCESSED]
    unsent += list(retry)
    if unsent:
        SendSlot.objects.filter(trace_id__in=id_set(unsent)).delete()


_last_purge: datetime | None = None


def purge_slots(now: datetime, every: timedelta = timedelta(hours=1)) -> int:
    """Delete the slots no cap can count any more (at most once per `every` per process:
    the runner's pass and the Celery tick call it)."""
    global _last_purge
    if _last_purge is not None and _last_purge <= now < _last_purge + every:
        return 0
    _last_purge = now
    deleted, _ = SendSlot.objects.filter(
        sent_at__lt=now - timedelta(days=MAX_CAP_DAYS + 1)
    ).delete()
    return deleted


# --- local send times ------------------------------------------------------------------------


def align_local_times(traces: models.QuerySet, now: datetime) -> int:
    """Move the given scheduled traces of activities with `send_at_local` to that time of the
    recipient's day on which their delay ends ("2 days later at 10:00" = the day after
    tomorrow at 10:00 where the person is). When that moment has already passed (a delay
    of 0 days), the next day at that time. One SELECT, one per target for the zones, one
    UPDATE."""
    rows = list(
        traces.filter(
            activity__send_at_local__isnull=False,
            state=S.SCHEDULED,
            scheduled_at__isnull=False,
        )
        .exclude(activity__delay_unit="hours")
        .values_list(
            "id",
            "scheduled_at",
            "activity__send_at_local",
            "participant__record_id",
            "participant__campaign__target",
        )
    )
    if not rows:
        return 0
    by_target: dict[str, set[int]] = defaultdict(set)
    for _, _, _, record_id, target_key in rows:
        by_target[target_key].add(record_id)
    zones = {
        (key, pk): name
        for key, ids in by_target.items()
        for pk, name in zones_of(get_target(key), ids).items()
    }
    when: dict[int, datetime] = {}
    for trace_id, nominal, at, record_id, target_key in rows:
        when[trace_id] = local_time_on(
            nominal, at, zone(zones.get((target_key, record_id)) or default_zone()), now
        )
    return len(set_times(Trace, "scheduled_at", when, "state = %s", [S.SCHEDULED.value]))


def local_time_on(nominal: datetime, at: time, tz: tzinfo, now: datetime) -> datetime:
    """`at` o'clock in `tz` on the local day of `nominal` (the next day when that is past)."""
    local = datetime.combine(nominal.astimezone(tz).date(), at, tzinfo=tz)
    if local < now:
        local = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    return local.astimezone(zone("UTC"))


def align_children(activity: Activity, parent_ids: list[int], now: datetime) -> None:
    """After children of `parent_ids` were created: align those with a local send time."""
    local = [c.pk for c in activity.children.all() if c.send_at_local and not c.is_event_triggered]
    if local:
        align_local_times(
            Trace.objects.filter(activity_id__in=local, parent_id__in=id_set(parent_ids)), now
        )
