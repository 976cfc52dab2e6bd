"""The demo's audiences grow during the replayed days (drumbeat/demo/campaigns.py `Newcomers`).

People join the running campaigns day after day through the apps' services, so each
activity's 15-day chart shows many days rather than one tall bar. One test seeds the whole
demo (seconds); the other checks the arrival schedule alone.
"""

import datetime as dt
import random
import re
from collections import Counter

import pytest
from django.utils import timezone

from drumbeat import demo
from drumbeat.automation.models import Activity, Campaign, Participant, Trace
from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.demo.campaigns import DAYS, INFLOWS, NAMES, Newcomers


def local_day(at: dt.datetime) -> dt.date:
    return timezone.localtime(at).date()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_participants_join_the_running_campaigns_day_after_day(settings, tmp_path, capsys):
    settings.HOME = tmp_path
    demo.seed(progress=True)
    printed = capsys.readouterr().out

    for campaign in Campaign.objects.filter(state=Campaign.State.RUNNING):
        enrolled = list(
            Participant.objects.filter(campaign=campaign, is_test=False).values_list(
                "enrolled_at", flat=True
            )
        )
        started = min(enrolled)
        present = sum(at == started for at in enrolled) / len(enrolled)
        assert 0.15 <= present <= 0.5, campaign.name
        assert len({local_day(at) for at in enrolled}) >= 8, campaign.name
        sent_on = Trace.objects.filter(
            activity__campaign=campaign,
            activity__trigger=Activity.Trigger.BEGIN,
            state=Trace.State.PROCESSED,
        ).values_list("executed_at", flat=True)
        assert len({local_day(at) for at in sent_on}) >= 8, campaign.name

    # New leads were enrolled by their service the moment they were created.
    leads = Campaign.objects.get(name=NAMES[2])
    enrolled_at = dict(
        Participant.objects.filter(campaign=leads).values_list("record_id", "enrolled_at")
    )
    started = min(enrolled_at.values())
    new = list(Lead.objects.filter(created_at__gt=started).values_list("id", "created_at"))
    assert len(new) >= 40
    joined = [(pk, at) for pk, at in new if pk in enrolled_at]
    assert len(joined) >= 0.8 * len(new)
    assert all(enrolled_at[pk] == at for pk, at in joined)

    # Weekdays are busier than weekends (first enrolments and today, a part day, left out).
    per_day: Counter[dt.date] = Counter()
    for campaign in Campaign.objects.filter(state=Campaign.State.RUNNING):
        moments = Participant.objects.filter(campaign=campaign).values_list(
            "enrolled_at", flat=True
        )
        first = min(moments)
        per_day.update(local_day(at) for at in moments if at != first)
    today = timezone.localdate()
    days = [today - dt.timedelta(days=n) for n in range(1, DAYS)]
    weekdays = [per_day[d] for d in days if d.weekday() < 5]
    weekends = [per_day[d] for d in days if d.weekday() >= 5]
    assert sum(weekdays) / len(weekdays) > 2 * sum(weekends) / len(weekends)

    # The summary tells how many records the replay added to the seeded ones.
    new_contacts = int(re.search(r"(\d+) new contacts", printed).group(1))
    new_leads = int(re.search(r"(\d+) new leads", printed).group(1))
    assert Contact.objects.count() == demo.CONTACTS + new_contacts
    assert Lead.objects.count() == demo.LEADS + new_leads


@pytest.mark.django_db
def test_the_arrivals_keep_their_hours_and_are_fewer_at_weekends():
    start = timezone.make_aware(dt.datetime(2026, 3, 2))  # a Monday
    end = start + dt.timedelta(days=28) - dt.timedelta(seconds=1)

    planned = Newcomers(random.Random("seed")).schedule(start, end)

    again = Newcomers(random.Random("seed")).schedule(start, end)
    assert [(at, kind) for at, kind, _ in again] == [(at, kind) for at, kind, _ in planned]
    assert all(start <= at <= end for at, _, _ in planned)
    kinds = {inflow.kind for inflow in INFLOWS}
    assert {kind for _, kind, _ in planned} == kinds
    hours = {h for inflow in INFLOWS for h, weight in enumerate(inflow.hours) if weight}
    assert all(timezone.localtime(at).hour in hours for at, _, _ in planned)
    per_day = Counter(local_day(at) for at, _, _ in planned)
    weekday = sum(n for d, n in per_day.items() if d.weekday() < 5) / 20
    weekend = sum(n for d, n in per_day.items() if d.weekday() >= 5) / 8
    assert weekday > 2 * weekend > 0
