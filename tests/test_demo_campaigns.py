"""The demo's campaigns (drumbeat/demo/campaigns.py): 15 days of history made by the engine.

One test (the seed takes seconds): it checks the campaigns, the outbox, the engagement rates,
the spread over the last days, the business effects and that a second seed adds nothing.
"""

import datetime as dt

import pytest
from django.db.models import Count, F, Q
from django.utils import timezone

from drumbeat import demo
from drumbeat.automation import results
from drumbeat.automation.models import Campaign, Participant, SplitAssignment, Trace
from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.demo.campaigns import DAYS, NAMES, seed_campaigns
from drumbeat.mailing.models import Click, Message, OutboxEntry
from drumbeat.timeline.models import Task

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_the_demo_campaigns_have_a_history_made_by_the_engine(settings, tmp_path):
    settings.HOME = tmp_path
    settings.EMAIL_URL = "smtp://127.0.0.1:9"  # nothing listens there: demo mail must not go
    demo.seed()
    now = timezone.now()

    campaigns = {c.name: c for c in Campaign.objects.all()}
    assert set(campaigns) == set(NAMES)
    running = [c for c in campaigns.values() if c.state == Campaign.State.RUNNING]
    assert len(running) == 3
    for campaign in running:
        participants = Participant.objects.filter(campaign=campaign, is_test=False).count()
        assert 100 <= participants <= 400, campaign.name
    ready = campaigns["Welcome Flow"]
    assert ready.state == Campaign.State.DRAFT and not ready.participants.exists()

    sent = Message.objects.filter(is_test=False, channel="email", sent_at__isnull=False)
    total = sent.count()
    assert total >= 500
    assert OutboxEntry.objects.filter(message__in=sent).count() == total
    assert not Message.objects.filter(state__in=["error", "deferred", "outgoing"]).exists()
    rates = sent.aggregate(
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        replied=Count("id", filter=Q(replied_at__isnull=False)),
        bounced=Count("id", filter=Q(bounced_at__isnull=False)),
    )
    assert 0.25 <= rates["opened"] / total <= 0.55
    assert 0.05 <= rates["clicked"] / total <= 0.20
    assert 0 < rates["replied"] / total <= 0.05
    assert 0 < rates["bounced"] / total <= 0.06
    assert (
        Click.objects.filter(message__in=sent).values("message").distinct().count()
        == (rates["clicked"])
    )
    assert not sent.filter(opened_at__lt=F("sent_at")).exists()

    executed = list(Trace.objects.filter(state="processed").values_list("executed_at", flat=True))
    assert min(executed) >= now - dt.timedelta(days=DAYS + 1)
    assert max(executed) <= now
    assert len({at.date() for at in executed}) >= 5

    clicked = sent.filter(
        activity_id__in=campaigns[NAMES[0]].activities.values("id"), clicked_at__isnull=False
    ).values("record_id")
    hot = set(Contact.objects.filter(tags__name="Hot").values_list("id", flat=True))
    assert hot and hot <= set(Contact.objects.filter(id__in=clicked).values_list("id", flat=True))
    assert Lead.objects.filter(priority=3).exists()
    assert Task.objects.filter(summary="Call back: replied to the catalog offer").exists()

    # The leads campaign runs its template's split; won leads are its conversions, and the
    # Results compare the branches with the holdout.
    leads = campaigns[NAMES[2]]
    assert leads.goal_domain == [["stage.is_won", "=", True]] and leads.exit_on_goal
    (split,) = results.campaign_results(leads).splits
    assert split.control == "Holdout" and split.metric == "conversions"
    by_name = {b.name: b for b in split.branches}
    assert set(by_name) == {"Welcome email", "Short email", "Holdout"}
    assert all(b.figures.participants > 0 for b in split.branches)
    assert by_name["Holdout"].figures.sends == 0 < by_name["Short email"].figures.sends
    assert sum(b.figures.conversions for b in split.branches) > 0
    assert all(b.comparison is not None for b in split.branches if not b.is_control)
    assigned = SplitAssignment.objects.filter(split=split.split).count()
    assert (
        assigned
        == Participant.objects.filter(
            campaign=leads, is_test=False, assignments__split=split.split
        ).count()
    )
    converted = Participant.objects.filter(campaign=leads, converted_at__isnull=False)
    assert converted.exists()
    assert set(
        Lead.objects.filter(id__in=converted.values("record_id")).values_list(
            "stage__is_won", flat=True
        )
    ) == {True}

    before = (Campaign.objects.count(), Message.objects.count(), Trace.objects.count())
    assert seed_campaigns() == {}
    demo.seed()
    assert (Campaign.objects.count(), Message.objects.count(), Trace.objects.count()) == before
