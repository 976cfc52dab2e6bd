"""Leases on claimed batches (engine/leases.py): 30 seconds unless DRUMBEAT_LEASE_SECONDS says
otherwise, renewed by the worker while it works (a slow SMTP conversation included), taken over
only when its holder is gone; a worker that lost its batch neither sends nor writes for it."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from drumbeat.automation import services
from drumbeat.automation.engine import leases
from drumbeat.automation.engine.execute import (
    claim_due,
    execute_batch,
    execute_claimed,
    load_claimed,
    recover_leases,
)
from drumbeat.automation.engine.leases import LEASE, lease_length
from drumbeat.automation.engine.runner import run_forever, run_once
from drumbeat.automation.models import Trace
from drumbeat.mailing.models import Message

from .fixtures import (
    START,
    add_action,
    add_email,
    assert_traces,
    free_port,
    make_campaign,
    make_contacts,
    make_user,
    traces,
)

pytestmark = [pytest.mark.postgres]

SECOND = timedelta(seconds=1)


def started_campaign(bob, n: int, email: bool = False):
    make_contacts(n)
    campaign = make_campaign(bob)
    activity = add_email(campaign) if email else add_action(campaign)
    services.start_campaign(campaign, bob)
    return activity


@pytest.mark.django_db
def test_a_claim_holds_its_batch_thirty_seconds_by_default(clock, bob):
    activity = started_campaign(bob, 2)

    lease = claim_due(activity, START, 10)

    assert LEASE == lease_length() == timedelta(seconds=30)
    rows = Trace.objects.filter(activity=activity).values_list(
        "state", "claim_expires_at", "claim_id"
    )
    assert set(rows) == {("processing", START + 30 * SECOND, lease.claim_id)}
    assert recover_leases(START + 29 * SECOND) == 0  # its holder may still be working
    assert recover_leases(START + 31 * SECOND) == 2


@pytest.mark.django_db
def test_a_lease_runs_from_the_claim_not_from_an_older_pass_start(clock, bob):
    activity = started_campaign(bob, 1)
    clock.move_to(START + 300 * SECOND)  # a pass that began at START has worked 5 minutes

    claim_due(activity, START, 10)

    assert Trace.objects.get(activity=activity).claim_expires_at == START + 330 * SECOND


@pytest.mark.django_db
def test_the_lease_follows_the_setting(clock, bob, settings):
    settings.LEASE_SECONDS = 20
    activity = started_campaign(bob, 1)

    claim_due(activity, START, 10)

    assert Trace.objects.get(activity=activity).claim_expires_at == START + 20 * SECOND
    assert recover_leases(START + 21 * SECOND) == 1


@pytest.mark.django_db
def test_a_renewed_lease_outlives_its_first_term(clock, bob):
    activity = started_campaign(bob, 2)
    lease = claim_due(activity, START, 10)

    clock.move_to(START + 20 * SECOND)
    assert lease.renew()  # now runs to START + 50 s

    assert recover_leases(START + 31 * SECOND) == 0
    assert recover_leases(START + 51 * SECOND) == 2


@pytest.mark.django_db
def test_each_claim_gets_its_own_claim_id(clock, bob):
    activity = started_campaign(bob, 4)

    first, second = claim_due(activity, START, 2), claim_due(activity, START, 2)

    assert first.claim_id != second.claim_id
    assert not set(first.trace_ids) & set(second.trace_ids)


@pytest.mark.django_db
def test_a_worker_writes_nothing_for_a_batch_another_worker_recovered(clock, bob, smtp):
    email = started_campaign(bob, 3, email=True)
    lease = claim_due(email, START, 10)  # worker A claims, then stalls past its lease
    clock.move_to(START + 31 * SECOND)
    assert recover_leases() == 3  # worker B takes the batch over: never started, due again

    execute_claimed(email, load_claimed(lease.trace_ids), START, lease=lease)  # A resumes

    assert lease.lost
    assert smtp.messages == []
    assert not Message.objects.exists()
    assert [(t.state, t.started_at) for t in traces(email)] == [("scheduled", None)] * 3
    run_once()  # B's pass: each recipient once
    assert sorted(str(m["To"]) for m in smtp.messages) == [
        f"person{i}@example.com" for i in range(3)
    ]
    assert_traces(email, ["processed"] * 3)


@pytest.mark.django_db(transaction=True)
def test_the_embedded_runner_recovers_expired_leases_when_it_starts(clock):
    activity = started_campaign(make_user("bob"), 2)
    claim_due(activity, START, 10)  # a runner claimed them, then died
    clock.move_to(START + 31 * SECOND)
    stop = threading.Event()
    stop.set()  # no pass: only what the runner does when it starts

    run_forever(stop)

    assert_traces(activity, ["scheduled", "scheduled"])


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_in_its_send_journal_before_its_messages_are_committed(smtp, settings, tmp_path):
    """A worker killed after its batch's messages are committed as outgoing, before its first
    send, must leave them to be sent again, not "interrupted" (in no journal, never sent): at
    every commit, each outgoing message is already listed by a send journal."""
    from drumbeat.mailing import journal

    settings.HOME = tmp_path  # the send journal of this test only
    email = started_campaign(make_user("bob"), 3, email=True)
    unlisted: list[set[int]] = []
    original = connection._commit

    def commit(*args):
        outgoing = set(Message.objects.filter(state="outgoing").values_list("pk", flat=True))
        unlisted.append(outgoing - set(journal.read_all().fates))
        return original(*args)

    connection._commit = commit
    try:
        assert execute_batch(email, timezone.now()) == 3
    finally:
        del connection._commit
    assert len(smtp.messages) == 3
    assert len(unlisted) >= 2 and not any(unlisted), unlisted


# --- with real threads: a worker mid-send while the test plays the other worker ---------------


class HeldSink:
    """An SMTP server that holds the reply to the first message until `release` is set."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.received.extend(envelope.rcpt_tos)
            first = len(self.received) == 1
        if first:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return "250 Message accepted"


@pytest.fixture
def held_smtp(settings, tmp_path):
    settings.HOME = tmp_path  # the send journal of this test only
    settings.BASE_URL = "http://testserver"
    settings.FROM_EMAIL = "Drumbeat <news@example.org>"
    settings.LEASE_SECONDS = 5  # the smallest lease, to wait it out in a few seconds
    sink = HeldSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_URL = f"smtp://127.0.0.1:{controller.port}?timeout=60"
    try:
        yield sink
    finally:
        sink.release.set()
        controller.stop()


def in_worker(activity) -> threading.Thread:
    """Execute one batch of `activity` in a thread of its own, as a runner would."""

    def work() -> None:
        try:
            execute_batch(activity, timezone.now())
        finally:
            connection.close()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    return worker


def wait_past(moment) -> None:
    while timezone.now() <= moment:
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_slow_smtp_conversation_leased(held_smtp):
    email = started_campaign(make_user("bob"), 3, email=True)
    worker = in_worker(email)
    assert held_smtp.holding.wait(30)  # the first message waits for the server's reply
    first_lease = Trace.objects.aggregate(at=Max("claim_expires_at"))["at"]

    wait_past(first_lease + SECOND)

    assert recover_leases() == 0  # renewed by the heartbeat: nobody takes the batch over
    assert Trace.objects.aggregate(at=Max("claim_expires_at"))["at"] > first_lease
    held_smtp.release.set()
    worker.join(30)
    assert_traces(email, ["processed"] * 3)
    assert sorted(held_smtp.received) == [f"person{i}@example.com" for i in range(3)]


@pytest.mark.django_db(transaction=True)
def test_a_worker_cut_off_past_its_lease_stops_before_its_next_send_and_writes_nothing(
    held_smtp, monkeypatch
):
    monkeypatch.setattr(leases, "HEARTBEAT", 1000.0)  # its renewals never reach the database
    email = started_campaign(make_user("bob"), 3, email=True)
    worker = in_worker(email)
    assert held_smtp.holding.wait(30)
    wait_past(Trace.objects.aggregate(at=Max("claim_expires_at"))["at"])

    assert recover_leases() == 3  # another worker takes the batch over
    held_smtp.release.set()  # the cut-off worker's message in flight completes...
    worker.join(30)

    # ...and it stops there: it sent nothing more and wrote nothing over the recovery
    assert held_smtp.received == ["person0@example.com"]
    assert_traces(email, [("error", "interrupted"), ("scheduled", ""), ("scheduled", "")])
    assert [m.state for m in Message.objects.order_by("trace_id")] == [
        "error",
        "deferred",
        "deferred",
    ]
    run_once()  # the other worker sends what never left, once
    assert sorted(held_smtp.received) == [f"person{i}@example.com" for i in range(3)]
    assert_traces(email, [("error", "interrupted"), ("processed", ""), ("processed", "")])
