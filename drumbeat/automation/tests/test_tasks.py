"""The Celery tasks' own logic, run in this process (with workers and a broker: test_celery.py):
the tick executes and recovers but leaves the filter sync to `drumbeat.sync`, which the beat
sends once a minute; and any task recovers a dead worker's batch, so recovery does not depend
on a tick getting through a queue of busy workers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drumbeat.automation import services, tasks
from drumbeat.automation.engine.execute import claim_due
from drumbeat.automation.models import Participant
from drumbeat.celery import app
from drumbeat.contacts.models import Contact

from .fixtures import START, add_action, assert_traces, make_campaign, make_contacts

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SECOND = timedelta(seconds=1)


@pytest.fixture
def sent():
    """The tasks queued on the broker, as (name, args); this process's recovery clock reset."""
    queued: list[tuple[str, list]] = []
    original = app.send_task
    app.send_task = lambda name, args=None, **kw: queued.append((name, args))
    tasks._recovered_at = None
    try:
        yield queued
    finally:
        app.send_task = original
        tasks._recovered_at = None


def started(bob, name: str, n: int):
    make_contacts(n, city=name)
    campaign = make_campaign(bob, name=name, domain=[["city", "=", name]])
    activity = add_action(campaign)
    services.start_campaign(campaign, bob)
    return campaign, activity


def test_the_tick_leaves_enrolment_to_the_sync_of_every_running_campaign(clock, bob, sent):
    campaign, _ = started(bob, "Lyon", 2)
    stopped, _ = started(bob, "Nice", 1)
    services.stop_campaign(stopped, bob)
    Contact.objects.bulk_create([Contact(name="Late", email="late@example.com", city="Lyon")])

    tasks.tick()
    assert tasks.ENROL_CAMPAIGN not in {name for name, _ in sent}
    assert Participant.objects.filter(campaign=campaign).count() == 2

    sent.clear()
    tasks.sync()
    assert [args for name, args in sent if name == tasks.ENROL_CAMPAIGN] == [[campaign.pk]]
    tasks.enrol_campaign(campaign.pk)
    assert Participant.objects.filter(campaign=campaign).count() == 3


def test_a_busy_worker_takes_over_a_dead_workers_batch_without_a_tick(clock, bob, sent):
    _, dead = started(bob, "Lyon", 2)
    claim_due(dead, START, 10)  # a worker claimed the batch, then was killed
    _, busy = started(bob, "Nice", 3)
    clock.move_to(START + 31 * SECOND)  # the lease (30 s) ran out; no tick got through

    tasks.execute_due(busy.pk)  # another worker's next task

    assert_traces(busy, ["processed"] * 3)
    assert_traces(dead, ["scheduled", "scheduled"])  # taken back, due again
    assert (tasks.EXECUTE_DUE, [dead.pk]) in sent  # and sent to a worker at once


def test_a_worker_looks_for_expired_leases_once_a_tick(clock, bob, sent, settings):
    settings.TICK_SECONDS = 60
    _, dead = started(bob, "Lyon", 2)
    assert tasks.recover_now_and_then() == 0  # looked: nothing expired
    claim_due(dead, START, 10)
    clock.move_to(START + 31 * SECOND)

    assert tasks.recover_now_and_then() == 0  # looked 31 s ago: not yet
    assert_traces(dead, ["processing", "processing"])
    clock.move_to(START + 60 * SECOND)
    assert tasks.recover_now_and_then() == 2
