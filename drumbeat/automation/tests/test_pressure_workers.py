"""Two workers never exceed a frequency cap (PostgreSQL: per-recipient advisory locks).

Two threads, each with its own database connection, execute the batches of two campaigns
that email the same 1,000 people at the same moment under a cap of 1 per day.
PostgreSQL only, like test_claims.py (SQLite serialises writers with BEGIN IMMEDIATE).
"""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from drumbeat.automation import services
from drumbeat.automation.engine.execute import execute_batch
from drumbeat.automation.models import Trace
from drumbeat.mailing.models import Message

from .fixtures import add_email, make_campaign, make_contacts, make_user

PEOPLE = 1000


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_send_exactly_one_email_per_person_under_a_daily_cap(settings):
    settings.PRESSURE_EMAIL_CAP = "1/day"
    settings.EMAIL_URL = "outbox://"
    bob = make_user("bob")
    make_contacts(PEOPLE, time_zone="Europe/Paris")
    activities = []
    for name in ("Spring sale", "Newsletter"):
        campaign = make_campaign(bob, name=name)
        activities.append(add_email(campaign, name=f"{name} email"))
        services.start_campaign(campaign, bob)
    now = timezone.now()
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def work(activity) -> None:
        try:
            barrier.wait()
            while execute_batch(activity, now):
                pass
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(a,)) for a in activities]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    sent = Message.objects.filter(state="sent")
    assert sent.count() == PEOPLE
    assert sent.values("recipient").distinct().count() == PEOPLE
    deferred = Trace.objects.filter(state="scheduled", reason__startswith="deferred: frequency cap")
    assert deferred.count() == PEOPLE
    assert Trace.objects.filter(state="processed").count() == PEOPLE
