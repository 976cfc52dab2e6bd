"""Deleting an activity or a campaign as SQL (deletion.py) leaves the database exactly as
Django's cascade does: the same traces, participants, split assignments and log entries left,
the same log links emptied, and the roll-ups equal to the rows. Each deletion runs twice on
the same data (the cascade, rolled back to a savepoint, then deletion.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from drumbeat.automation import deletion, services
from drumbeat.automation.goals import check_campaign_goal
from drumbeat.automation.models import (
    Activity,
    Campaign,
    CampaignLog,
    Participant,
    SplitAssignment,
    Trace,
)
from drumbeat.contacts import services as contact_services
from drumbeat.mailing import events
from drumbeat.mailing.models import Message

from .fixtures import START, add_action, add_email, make_campaign, make_contacts, tick
from .rollup_check import differences

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HALF = [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]


def state() -> dict:
    return {
        "traces": sorted(Trace.objects.values_list("pk", "activity_id", "parent_id")),
        "participants": sorted(Participant.objects.values_list("pk", flat=True)),
        "assignments": sorted(SplitAssignment.objects.values_list("participant_id", "split_id")),
        "logs": sorted(CampaignLog.objects.values_list("pk", "trace_id", "participant_id")),
        "activities": sorted(Activity.objects.values_list("pk", flat=True)),
        "campaigns": sorted(Campaign.objects.values_list("pk", flat=True)),
        "messages": Message.objects.count(),  # the sending history stays
    }


def same_as_the_cascade(cascade, ours) -> dict:
    point = transaction.savepoint()
    cascade()
    expected = state()
    transaction.savepoint_rollback(point)
    ours()
    assert state() == expected
    assert differences() == {}
    return expected


@pytest.fixture
def busy(clock, bob, smtp, committed):
    """Two campaigns (the second untouched by the deletions); the first with an A/B split,
    emails sent and opened, clicked, bounced, conversions, log entries about traces and
    participants, and an activity moved under another after its traces were made."""
    hour = timedelta(hours=1)
    people = make_contacts(16)
    other = make_campaign(bob, name="Other")
    add_action(other, name="Tag all")
    campaign = make_campaign(bob, goal_domain=[["tags.name", "=", "Customer"]])
    split = services.create_activity(campaign, name="Subject test", kind="split", branches=HALF)
    on_a = add_email(campaign, parent=split, branch="A", trigger="activity", name="Email A")
    on_b = add_email(campaign, parent=split, branch="B", trigger="activity", name="Email B")
    after_a = add_action(campaign, parent=on_a, name="Opened A", trigger="mail_open")
    welcome = add_email(campaign, name="Welcome")
    follow = add_action(campaign, parent=welcome, name="Follow up", delay_amount=1)
    services.start_campaign(other, bob)
    services.start_campaign(campaign, bob)
    tick()
    tick()
    sent = list(Message.objects.order_by("pk").values_list("pk", flat=True))
    with committed():
        events.mark_opened(sent[0:6], START + hour)
        events.mark_clicked(sent[6], START + hour)
        events.mark_bounced(sent[7], START + hour)
    customer = contact_services.get_or_create_tags(["Customer"])[0]
    customer.contacts.add(*people[:4])
    clock.move_to(START + 2 * hour)
    check_campaign_goal(campaign)
    # Follow up's traces keep Welcome's traces as parents, under Email A now.
    services.update_activity(follow, parent=on_a, trigger="activity")
    services.cancel_trace(Trace.objects.filter(activity=follow, state="scheduled").first(), bob)
    running = Participant.objects.filter(campaign=campaign, state="running").first()
    services.stop_participant(running, bob)
    assert CampaignLog.objects.filter(trace__isnull=False).exists()
    assert CampaignLog.objects.filter(participant__isnull=False).exists()
    assert differences() == {}
    return campaign, {
        "split": split,
        "on_a": on_a,
        "on_b": on_b,
        "after_a": after_a,
        "welcome": welcome,
        "follow": follow,
    }


def test_deleting_an_activity_with_its_descendants_and_their_traces(busy):
    campaign, steps = busy
    welcome = steps["welcome"]  # its traces are parents of Follow up's, moved under Email A
    ids = [welcome.pk, *services.descendants(welcome)]
    left = same_as_the_cascade(
        lambda: Activity.objects.filter(pk=welcome.pk).delete(),
        lambda: deletion.delete_activities(ids),
    )
    assert not any(activity == welcome.pk for _, activity, _ in left["traces"])
    assert Trace.objects.filter(activity=steps["follow"]).count() == 0  # their parents went


def test_deleting_a_split_with_its_branches(busy):
    campaign, steps = busy
    split = steps["split"]
    ids = [split.pk, *services.descendants(split)]
    same_as_the_cascade(
        lambda: Activity.objects.filter(pk=split.pk).delete(),
        lambda: deletion.delete_activities(ids),
    )
    assert not SplitAssignment.objects.filter(split=split.pk).exists()


def test_deleting_a_campaign(busy):
    campaign, _ = busy
    pk = campaign.pk
    left = same_as_the_cascade(
        lambda: Campaign.objects.get(pk=pk).delete(),
        lambda: deletion.delete_campaign(Campaign.objects.get(pk=pk)),
    )
    assert left["campaigns"] == [Campaign.objects.get(name="Other").pk]
    assert left["participants"] and left["traces"]  # the other campaign's
