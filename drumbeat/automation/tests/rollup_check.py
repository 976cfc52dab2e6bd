"""The roll-ups next to the raw aggregates they stand for, key by key (tests, and the crash
test's figures script): `differences()` is empty when every roll-up equals its aggregate."""

from __future__ import annotations

from collections import Counter

from django.db.models import Count, F, Q

from drumbeat.automation.models import (
    Activity,
    Participant,
    PressureEvent,
    SplitAssignment,
    Trace,
)
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
# Each split assignment's counters of the traces and messages under its split.
ASSIGNMENT_COUNTERS = ("sends", "opened", "opens", "clicks")


def _under_splits() -> dict[int, list[int]]:
    """Activity id → the splits it is under, at any depth (from the tree itself)."""
    tree = dict(Activity.objects.values_list("pk", "parent_id"))
    splits = set(Activity.objects.filter(kind=Activity.Kind.SPLIT).values_list("pk", flat=True))
    found: dict[int, list[int]] = {}
    for pk in tree:
        parent = tree[pk]
        while parent is not None:
            if parent in splits:
                found.setdefault(pk, []).append(parent)
            parent = tree.get(parent)
    return found


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
    under = _under_splits()
    figures: Counter = Counter()  # (participant, split, counter) → count
    for participant_id, activity_id, opened, clicked in Trace.objects.values_list(
        "participant_id", "activity_id", "human_opened_at", "human_clicked_at"
    ):
        for split_id in under.get(activity_id, ()):
            figures[(participant_id, split_id, "opens")] += opened is not None
            figures[(participant_id, split_id, "clicks")] += clicked is not None
    trace_of = {
        pk: (p, a) for pk, p, a in Trace.objects.values_list("pk", "participant_id", "activity_id")
    }
    for trace_id, state, opened_at in Message.objects.filter(trace_id__isnull=False).values_list(
        "trace_id", "state", "opened_at"
    ):
        participant_id, activity_id = trace_of.get(trace_id, (None, None))
        for split_id in under.get(activity_id, ()):
            figures[(participant_id, split_id, "sends")] += state in ("sent", "bounced")
            figures[(participant_id, split_id, "opened")] += opened_at is not None
    for (
        participant_id,
        split_id,
        branch,
        randomized,
        is_test,
        converted_at,
        assigned_at,
    ) in SplitAssignment.objects.values_list(
        "participant_id",
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
        key = (split_id, branch, randomized, is_test, phase)
        assignments[key] += 1
        for name in ASSIGNMENT_COUNTERS:
            assignments[(*key, name)] += figures[(participant_id, split_id, name)]
        assignments[(*key, "clickers")] += figures[(participant_id, split_id, "clicks")] > 0
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
    for row in AssignmentRollup.objects.values():
        key = (row["split_id"], row["branch"], bool(row["randomized"]), bool(row["is_test"]))
        key = (*key, row["phase"])
        assignments[key] += row["n"]
        for name in (*ASSIGNMENT_COUNTERS, "clickers"):
            assignments[(*key, name)] += row[name]
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
