"""The roll-ups (automation/rollup_models.py) equal the aggregates they stand for, key by key,
after everything that changes traces, participants, messages and clicks: enrolment, sends,
a bulk server action, event batches (opens, clicks, bounces, complaints, replies), manual
cancellations, stops, deletes; after compaction; and after a worker killed with SIGKILL again
and again then recovered. The activity cards read from them equal the figures counted from
the rows as metrics.py did before the roll-ups."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta

import pytest
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from drumbeat.automation import metrics, rollups, services
from drumbeat.automation.models import Participant, Trace
from drumbeat.contacts.models import Contact
from drumbeat.lib import clock as engine_clock
from drumbeat.mailing.events import (
    Hit,
    mark_bounced_many,
    mark_complained_many,
    mark_replied_many,
    record_hits,
)
from drumbeat.mailing.models import Link, Message

from .fixtures import add_action, add_email, make_campaign, make_contacts, tick
from .rollup_check import differences

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def assert_exact() -> None:
    assert differences() == {}
    rollups.compact()
    assert differences() == {}


def counted_cards(campaign) -> dict[int, dict]:
    """The activity cards counted from the rows (metrics.py before the roll-ups)."""
    now = engine_clock.now()
    ids = list(campaign.activities.values_list("id", flat=True))
    cards = {pk: metrics.ActivityMetrics() for pk in ids}
    traces = Trace.objects.filter(activity_id__in=ids, is_test=False)
    for row in traces.values("activity_id").annotate(
        processed=Count("id", filter=Q(state="processed")),
        rejected=Count("id", filter=Q(state="rejected")),
    ):
        cards[row["activity_id"]].processed = row["processed"]
        cards[row["activity_id"]].rejected = row["rejected"]
    today = timezone.localtime(now).date()
    days = [today - timedelta(days=n) for n in range(metrics.DAYS - 1, -1, -1)]
    per_day = {}
    for row in (
        traces.filter(executed_at__gte=now - timedelta(days=metrics.DAYS))
        .annotate(day=TruncDate("executed_at"))
        .values("activity_id", "day")
        .annotate(
            processed=Count("id", filter=Q(state="processed")),
            rejected=Count("id", filter=Q(state="rejected")),
        )
    ):
        per_day[(row["activity_id"], row["day"])] = (row["processed"], row["rejected"])
    for pk, card in cards.items():
        card.daily = [(d, *per_day.get((pk, d), (0, 0))) for d in days]
    for row in (
        Message.objects.filter(activity_id__in=ids, is_test=False)
        .values("activity_id")
        .annotate(
            sent=Count("id", filter=Q(state__in=["sent", "bounced"])),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            replied=Count("id", filter=Q(replied_at__isnull=False)),
            bounced=Count("id", filter=Q(bounced_at__isnull=False)),
            complained=Count("id", filter=Q(complained_at__isnull=False)),
        )
    ):
        for name in metrics.MESSAGE_FIGURES:
            setattr(cards[row["activity_id"]], name, row[name])
    return {pk: card.as_dict() for pk, card in cards.items()}


def cards(campaign) -> dict[int, dict]:
    return {pk: card.as_dict() for pk, card in metrics.activity_metrics(campaign).items()}


def test_rollups_follow_sends_bulk_actions_events_cancellations_and_deletes(
    clock, bob, smtp, committed
):
    contacts = make_contacts(12)
    campaign = make_campaign(bob)
    email = add_email(campaign)
    action = add_action(campaign, parent=email, delay_amount=2)
    with committed():
        services.start_campaign(campaign, bob)
        tick()
        tick()
    assert Message.objects.filter(state="sent").count() == 12
    assert Trace.objects.filter(activity=action, state="scheduled").count() == 12
    assert_exact()
    assert cards(campaign) == counted_cards(campaign)

    # One batch of tracking hits (opens, clicks by people and by a scanner), then bounces,
    # a complaint and a reply, each a batch of its own.
    messages = list(Message.objects.filter(activity_id=email.pk).order_by("id"))
    link = Link.objects.create(
        url="https://example.org/a", code="rollup1", campaign_id=campaign.pk, activity_id=email.pk
    )
    now = engine_clock.now()
    with committed():
        record_hits(
            [Hit("open", now, False, m.pk) for m in messages[:5]]
            + [Hit("click", now, False, messages[0].pk, link_id=link.pk)] * 2
            + [Hit("click", now, True, messages[1].pk, link_id=link.pk)]
        )
        mark_bounced_many([messages[6].pk, messages[7].pk], now)
        mark_complained_many([messages[8].pk], now)
        mark_replied_many([messages[9].pk], now)
    assert_exact()
    figures = cards(campaign)
    assert figures == counted_cards(campaign)
    # 5 opened by the pixel (the clicked messages 0 and 1 among them), and a reply implies
    # an open (message 9).
    assert figures[email.pk]["opened"] == 6
    assert figures[email.pk]["clicked"] == 2
    assert figures[email.pk]["bounced"] == 2
    assert metrics.campaign_metrics(campaign)["clicks"] == 3

    # Cancellations: a participant stopped, one trace cancelled by hand.
    first, second = Participant.objects.filter(campaign=campaign).order_by("id")[:2]
    services.stop_participant(first, bob)
    services.cancel_trace(Trace.objects.get(participant=second, activity=action), bob)
    assert_exact()

    # The bulk server action: the rest of the follow-ups run two days later.
    clock.shift(timedelta(days=2, hours=1))
    with committed():
        tick()
        tick()
    # 12 follow-ups: 2 cancelled by hand above, 3 cancelled as their email bounced (2) or
    # drew a complaint (1), 7 run.
    assert Trace.objects.filter(activity=action, state="processed").count() == 7
    assert_exact()
    figures = cards(campaign)
    assert figures == counted_cards(campaign)
    assert figures[action.pk]["processed"] == 7
    assert sum(day["processed"] for day in figures[action.pk]["daily"]) == 7
    assert metrics.campaign_metrics(campaign)["completed"] == 12

    # Deletes: records (their participants removed by the sync), an activity, the campaign.
    Contact.objects.filter(pk__in=[c.pk for c in contacts[:3]]).delete()
    with committed():
        tick()
    assert_exact()
    services.delete_activity(action)
    assert_exact()
    campaign.delete()
    assert_exact()
    assert not Trace.objects.exists()
    assert rollups.trace_counts([email.pk, action.pk]) == {}


def test_test_participants_are_counted_apart(clock, bob, smtp, committed):
    make_contacts(3)
    campaign = make_campaign(bob)
    email = add_email(campaign)
    with committed():
        services.start_campaign(campaign, bob)
        tick()
    participant = Participant.objects.filter(campaign=campaign).first()
    Participant.objects.filter(pk=participant.pk).update(is_test=True)
    Trace.objects.filter(participant=participant).update(is_test=True)
    Message.objects.filter(record_id=participant.record_id).update(is_test=True)
    assert_exact()
    assert cards(campaign) == counted_cards(campaign)
    assert cards(campaign)[email.pk]["processed"] == 2
    assert metrics.campaign_metrics(campaign)["tests"] == 1


def test_the_daily_series_follows_the_time_zone_by_quarter_hours(settings, clock, bob):
    # Kathmandu is UTC+05:45: a day starts at 18:15 UTC the day before.
    settings.TIME_ZONE = "Asia/Kathmandu"
    campaign = make_campaign(bob)
    action = add_action(campaign)
    now = engine_clock.now()  # 2026-03-02 09:00 UTC = 14:45 in Kathmandu
    start_of_today = now.replace(hour=18, minute=15) - timedelta(days=1)
    for n, at in enumerate([start_of_today - timedelta(minutes=1), start_of_today]):
        participant = Participant.objects.create(campaign=campaign, record_id=n + 1)
        Trace.objects.create(
            participant=participant, activity=action, state="processed", executed_at=at
        )
    assert_exact()
    daily = metrics.activity_metrics(campaign, now)[action.pk].daily
    assert daily[-1][1:] == (1, 0)  # 18:15 UTC on the 1st is the 2nd in Kathmandu
    assert daily[-2][1:] == (1, 0)
    assert cards(campaign) == counted_cards(campaign)


def test_rollups_equal_the_rows_after_a_worker_killed_again_and_again(tmp_path):
    """SQLite file (or, in the PostgreSQL pass, a database of our own): the crash harness of
    tests/faults kills the embedded worker with SIGKILL at random points, then a worker
    finishes the campaign and recovery runs; the roll-ups must equal the rows."""
    from tests.faults.crash_harness import (
        FINISH,
        SETUP,
        CrashRun,
        Deployment,
        kill_repeatedly,
        run_to_completion,
        start_sink,
    )

    database_url = ""
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith("postgres"):
        database_url = _own_database(base)
    n = int(os.environ.get("DRUMBEAT_ROLLUP_CRASH_N", "300"))
    sink, controller, port = start_sink(delay=0.002)
    try:
        deployment = Deployment(tmp_path, port, database_url=database_url, batch=25)
        deployment.script(SETUP, str(n))
        run = CrashRun(n=n, kills=4, seed=int(time.time()) % 1000)
        kill_repeatedly(deployment, sink, run)
        run_to_completion(deployment, sink)
        deployment.script(FINISH)
        out = deployment.script(CHECK).strip().splitlines()[-1]
    finally:
        controller.stop()
        if database_url:
            _drop(database_url)
    figures = json.loads(out)
    assert run.kills_done == 4
    assert figures["traces"] == n  # the harness's campaign: one email per participant
    # Emails cut off by a kill may have ended in error: not every converted one counts.
    assert figures["converted"] == len(range(0, n, 3))
    assert 0 < figures["conversions_after"] <= figures["converted"]
    assert figures["differences"] == {}
    assert figures["after_compaction"] == {}


CHECK = """
import django, json
django.setup()
from drumbeat.automation import rollups
from drumbeat.automation.models import Campaign, Participant, Trace
from drumbeat.automation.tests.rollup_check import differences
from drumbeat.contacts import services
from drumbeat.contacts.models import Contact
# A third of the people then reach the campaign's new goal, after their email.
campaign = Campaign.objects.get(name="Crash test")
campaign.goal_domain = [["tags.name", "=", "Customer"]]
campaign.save()
ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True))[::3]
services.add_tags(Contact, ids, ["Customer"])  # the goal is checked for them at once
converted = Participant.objects.filter(campaign=campaign, converted_at__isnull=False).count()
after = sum(rollups.conversion_counts(list(campaign.activities.values_list("pk", flat=True)))
            .values())
before = differences()
rollups.compact()
print(json.dumps({"traces": Trace.objects.count(), "differences": before,
                  "after_compaction": differences(), "converted": converted,
                  "conversions_after": after}))
"""


def _own_database(base: str) -> str:
    import psycopg

    name = f"drumbeat_rollups_{os.getpid()}"
    with psycopg.connect(base.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + f"/{name}"


def _drop(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
