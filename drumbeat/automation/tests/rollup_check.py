"""The roll-ups next to the raw aggregates they stand for, key by key (tests, and the crash
test's figures script): `differences()` is empty when every roll-up equals its aggregate."""

from __future__ import annotations

from collections import Counter

from django.db.models import Count, F, Q

from drumbeat.automation.models import Participant, PressureEvent, SplitAssignment, Trace
from drumbeat.automation.rollup_models import (
    SLOT_SECONDS,
    AssignmentRollup,
    ClickRollup,
    ConversionRollup,
    MessageRollup,
    ParticipantRollup,
    PressureRollup,
    TraceRollup,
)
from drumbeat.mailing.models import Click, Message

COUNTERS = ("sent", "opened", "clicked", "replied", "bounced", "complained")


def _nonzero(counter: Counter) -> Counter:
    """Without the keys that sum to zero (negative sums stay: they would be a bug)."""
    return Counter({k: v for k, v in counter.items() if v != 0})


def raw() -> dict[str, Counter]:
    """Every figure counted from the rows themselves."""
    traces: Counter = Counter()
    for activity_id, state, is_test, executed_at, opened, clicked in Trace.objects.values_list(
        "activity_id", "state", "is_test", "executed_at", "human_opened_at", "human_clicked_at"
    ):
        slot = 0
        if state in ("processed", "rejected") and executed_at is not None:
            slot = int(executed_at.timestamp()) // SLOT_SECONDS
        traces[(activity_id, state, is_test, slot)] += 1
        traces[(activity_id, state, is_test, slot, "human_opened")] += int(opened is not None)
        traces[(activity_id, state, is_test, slot, "human_clicked")] += int(clicked is not None)
    participants: Counter = Counter()
    for row in Participant.objects.values("campaign_id", "state", "is_test").annotate(
        n=Count("id"), converted=Count("id", filter=Q(converted_at__isnull=False))
    ):
        key = (row["campaign_id"], row["state"], row["is_test"])
        participants[(*key, True)] += row["converted"]
        participants[(*key, False)] += row["n"] - row["converted"]
    messages: Counter = Counter()
    for row in (
        Message.objects.filter(activity_id__isnull=False)
        .values("activity_id", "is_test")
        .annotate(
            sent=Count("id", filter=Q(state__in=["sent", "bounced"])),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            replied=Count("id", filter=Q(replied_at__isnull=False)),
            bounced=Count("id", filter=Q(bounced_at__isnull=False)),
            complained=Count("id", filter=Q(complained_at__isnull=False)),
        )
    ):
        for name in COUNTERS:
            messages[(row["activity_id"], row["is_test"], name)] += row[name]
    clicks: Counter = Counter()
    for link_id, campaign_id, is_test, is_machine in Click.objects.values_list(
        "link_id", "message__campaign_id", "message__is_test", "is_machine"
    ):
        clicks[(link_id, campaign_id or 0, bool(is_test), is_machine)] += 1
    pressure = Counter(PressureEvent.objects.values_list("activity_id", "kind"))
    # What metrics.py counted before the roll-up: the converted participants (not test ones)
    # with a processed trace (not a test one) of the activity executed before they converted.
    conversions = Counter(
        {
            row["activity_id"]: row["n"]
            for row in Trace.objects.filter(
                participant__converted_at__isnull=False,
                participant__is_test=False,
                state=Trace.State.PROCESSED,
                is_test=False,
                participant__converted_at__gte=F("executed_at"),
            )
            .values("activity_id")
            .annotate(n=Count("participant", distinct=True))
        }
    )
    assignments: Counter = Counter()
    for (
        split_id,
        branch,
        randomized,
        is_test,
        converted_at,
        assigned_at,
    ) in SplitAssignment.objects.values_list(
        "split_id",
        "branch",
        "randomized",
        "participant__is_test",
        "participant__converted_at",
        "assigned_at",
    ):
        if converted_at is None:
            phase = "open"
        else:
            phase = "before" if converted_at < assigned_at else "after"
        assignments[(split_id, branch, randomized, is_test, phase)] += 1
    return {
        "traces": _nonzero(traces),
        "participants": _nonzero(participants),
        "messages": _nonzero(messages),
        "clicks": _nonzero(clicks),
        "pressure": _nonzero(pressure),
        "conversions": _nonzero(conversions),
        "assignments": _nonzero(assignments),
    }


def rolled() -> dict[str, Counter]:
    """The same figures summed from the roll-up rows."""
    traces: Counter = Counter()
    for row in TraceRollup.objects.values_list(
        "activity_id", "state", "is_test", "slot", "n", "human_opened", "human_clicked"
    ):
        key = (row[0], row[1], bool(row[2]), row[3])
        traces[key] += row[4]
        traces[(*key, "human_opened")] += row[5]
        traces[(*key, "human_clicked")] += row[6]
    participants: Counter = Counter()
    for row in ParticipantRollup.objects.values_list(
        "campaign_id", "state", "is_test", "converted", "n"
    ):
        participants[(row[0], row[1], bool(row[2]), bool(row[3]))] += row[4]
    messages: Counter = Counter()
    for row in MessageRollup.objects.values("activity_id", "is_test", *COUNTERS):
        for name in COUNTERS:
            messages[(row["activity_id"], bool(row["is_test"]), name)] += row[name]
    clicks: Counter = Counter()
    for row in ClickRollup.objects.values_list(
        "link_id", "campaign_id", "is_test", "is_machine", "n"
    ):
        clicks[(row[0], row[1], bool(row[2]), bool(row[3]))] += row[4]
    pressure: Counter = Counter()
    for activity_id, kind, n in PressureRollup.objects.values_list("activity_id", "kind", "n"):
        pressure[(activity_id, kind)] += n
    conversions: Counter = Counter()
    for activity_id, n in ConversionRollup.objects.values_list("activity_id", "n"):
        conversions[activity_id] += n
    assignments: Counter = Counter()
    for *key, n in AssignmentRollup.objects.values_list(
        "split_id", "branch", "randomized", "is_test", "phase", "n"
    ):
        split_id, branch, randomized, is_test, phase = key
        assignments[(split_id, branch, bool(randomized), bool(is_test), phase)] += n
    return {
        "traces": _nonzero(traces),
        "participants": _nonzero(participants),
        "messages": _nonzero(messages),
        "clicks": _nonzero(clicks),
        "pressure": _nonzero(pressure),
        "conversions": _nonzero(conversions),
        "assignments": _nonzero(assignments),
    }


def differences() -> dict[str, dict]:
    """Per roll-up, the keys whose sum differs from the raw count: {key: (raw, rolled)}."""
    expected, found = raw(), rolled()
    result = {}
    for name in expected:
        keys = set(expected[name]) | set(found[name])
        diff = {
            str(k): (expected[name][k], found[name][k])
            for k in keys
            if expected[name][k] != found[name][k]
        }
        if diff:
            result[name] = diff
    return result
