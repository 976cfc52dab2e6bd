"""Transport faults, driven through the engine against misbehaving servers on loopback ports:
transient failures (4xx, connections dropped before the message was sent, gateway 5xx and
timeouts) are retried with a growing delay and then succeed or end as Error with the server's
reply; permanent ones (5xx, gateway 4xx) error at once; an SMTP connection lost after the end
of DATA, before the server's reply, ends as Error "uncertain delivery" and is never sent again;
the campaign goes on for everyone else; nobody receives a message twice."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from drumbeat.automation import services
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Trace
from drumbeat.automation.tests.fixtures import (
    add_action,
    add_email,
    add_sms,
    make_action,
    make_campaign,
)
from drumbeat.contacts.models import Contact
from drumbeat.lib import clock as engine_clock
from drumbeat.mailing.models import Message
from drumbeat.mailing.sending import MAX_ATTEMPTS

from .servers import NUMBER_OF, FaultyHttp, FaultySmtp, start_smtp

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def settle(clock, passes: int = 30) -> list:
    """Run passes, moving the clock to the next due trace, until nothing is scheduled."""
    seen = []
    for _ in range(passes):
        run_once()
        due = (
            Trace.objects.filter(state="scheduled", scheduled_at__isnull=False)
            .order_by("scheduled_at")
            .values_list("scheduled_at", flat=True)
            .first()
        )
        seen.append(due)
        if due is None:
            return seen
        clock.move_to(max(due, engine_clock.now()))
    raise AssertionError("traces still scheduled after many passes")


def trace_of(email_or_phone: str) -> Trace:
    contact = Contact.objects.get(name=email_or_phone)
    return Trace.objects.get(participant__record_id=contact.pk)


@pytest.fixture
def faulty_smtp(channel_settings):
    handler = FaultySmtp(soft_failures=2, stall_seconds=3)
    controller, port = start_smtp(handler)
    channel_settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=1"
    try:
        yield handler
    finally:
        controller.stop()


EMAIL_PEOPLE = ["hard", "never", "soft", "drop", "cut", "stall", "ok1", "ok2", "ok3"]


def test_email_faults_retry_transient_error_permanent_and_go_on(clock, bob, faulty_smtp):
    for name in EMAIL_PEOPLE:
        Contact.objects.create(name=name, email=f"{name}@example.com")
    campaign = make_campaign(bob)
    add_email(campaign)
    services.start_campaign(campaign, bob)

    run_once()

    # first pass: everyone else went out (the connection cut at RCPT was opened again for
    # the same message), the permanent failure errored at once
    for name in ("ok1", "ok2", "ok3", "cut"):
        assert trace_of(name).state == "processed", name
    hard = trace_of("hard")
    assert (hard.state, hard.reason) == ("error", "550 5.1.1 No such user here")
    # the server had the whole message when the connection dropped (or went silent): it may
    # have accepted it, so it is never sent again
    for name in ("drop", "stall"):
        trace = trace_of(name)
        assert trace.state == "error" and trace.reason.startswith("uncertain delivery: "), name
        assert Message.objects.get(trace_id=trace.pk).state == Message.State.ERROR
    for name in ("never", "soft"):
        trace = trace_of(name)
        assert trace.state == "scheduled" and trace.scheduled_at > engine_clock.now(), name
        assert Message.objects.get(trace_id=trace.pk).state == Message.State.DEFERRED

    delays = []
    start = engine_clock.now()
    for _ in range(10):
        never = trace_of("never")
        if never.state != "scheduled":
            break
        delays.append(never.scheduled_at - engine_clock.now())
        clock.move_to(never.scheduled_at)
        run_once()
    assert delays == sorted(delays) and len(set(delays)) == len(delays)  # growing backoff
    assert delays[0] >= timedelta(minutes=1)
    assert engine_clock.now() - start < timedelta(days=1)

    never, soft = trace_of("never"), trace_of("soft")
    assert never.state == "error" and "451 4.3.0 Mailbox busy" in never.reason
    assert Message.objects.get(trace_id=never.pk).attempts == MAX_ATTEMPTS
    assert soft.state == "processed"
    # exactly one copy of each accepted message, with the Message-ID recorded for its trace
    for name in ("ok1", "ok2", "ok3", "soft", "cut"):
        message = Message.objects.get(trace_id=trace_of(name).pk)
        assert faulty_smtp.received_by(f"{name}@example.com") == [message.message_id], name
    assert faulty_smtp.tries["hard@example.com"] == 1  # permanent: never retried
    assert faulty_smtp.tries["cut@example.com"] == 2  # cut before DATA: once more
    # one DATA each, never a second: the dropped one was in fact accepted, and only once
    assert faulty_smtp.tries["drop@example.com"] == faulty_smtp.tries["stall@example.com"] == 1
    drop = Message.objects.get(trace_id=trace_of("drop").pk)
    assert faulty_smtp.received_by("drop@example.com") == [drop.message_id]
    assert faulty_smtp.received_by("stall@example.com") == []
    assert not Trace.objects.exclude(
        state__in=["processed", "error", "cancelled", "rejected"]
    ).exists()


@pytest.fixture
def gateway(channel_settings, monkeypatch):
    from drumbeat.mailing.transports import http_sms

    monkeypatch.setattr(http_sms, "TIMEOUT", httpx.Timeout(1.0, connect=1.0))
    server = FaultyHttp(key="to", stall_seconds=2.5)
    channel_settings.SMS_URL = server.start().replace("http://", "http://gw-token@") + "/send"
    try:
        yield server
    finally:
        server.stop()


SMS_MODES = ["refuse4xx", "error5xx", "timeout", "reset", "malformed", "flaky", "ok"]


def test_sms_gateway_faults(clock, bob, gateway):
    for mode in SMS_MODES:
        Contact.objects.create(name=mode, email=f"{mode}@example.com", phone=NUMBER_OF[mode])
    campaign = make_campaign(bob)
    add_sms(campaign)
    services.start_campaign(campaign, bob)

    settle(clock)

    outcome = {mode: (trace_of(mode).state, trace_of(mode).reason) for mode in SMS_MODES}
    assert outcome["ok"] == ("processed", "")
    assert outcome["malformed"] == ("processed", "")  # 200 = accepted, whatever the body
    assert outcome["flaky"] == ("processed", "")
    assert outcome["refuse4xx"][0] == "error" and outcome["refuse4xx"][1].startswith("400")
    assert outcome["error5xx"][0] == "error" and outcome["error5xx"][1].startswith("503")
    for mode in ("timeout", "reset"):
        assert outcome[mode][0] == "error" and "gateway unreachable" in outcome[mode][1]
    assert gateway.count(NUMBER_OF["refuse4xx"]) == 1
    assert gateway.count(NUMBER_OF["error5xx"]) == MAX_ATTEMPTS
    assert gateway.count(NUMBER_OF["flaky"]) == 2
    assert gateway.count(NUMBER_OF["ok"]) == 1


@pytest.fixture
def webhook_receiver(channel_settings, monkeypatch):
    from drumbeat.automation import actions

    channel_settings.WEBHOOK_ALLOW = ["127.0.0.1"]  # the faulty server listens on loopback
    monkeypatch.setattr(actions, "WEBHOOK_TIMEOUT", 1.0)
    monkeypatch.setattr(actions, "WEBHOOK_BACKOFF", 0.01)
    server = FaultyHttp(key="email", stall_seconds=2.5)
    url = server.start() + "/hook"
    try:
        yield server, url
    finally:
        server.stop()


WEBHOOK_MODES = ["refuse4xx", "error5xx", "timeout", "reset", "flaky", "ok"]


def test_webhook_action_faults(clock, bob, webhook_receiver):
    server, url = webhook_receiver
    for mode in WEBHOOK_MODES:
        Contact.objects.create(name=mode, email=f"{mode}@example.com")
    campaign = make_campaign(bob)
    add_action(campaign, action=make_action("send_webhook", url=url, fields=["email"]))
    services.start_campaign(campaign, bob)

    settle(clock)

    outcome = {mode: (trace_of(mode).state, trace_of(mode).reason) for mode in WEBHOOK_MODES}
    assert outcome["ok"] == ("processed", "webhook: HTTP 200")
    assert outcome["flaky"] == ("processed", "webhook: HTTP 200")
    assert outcome["refuse4xx"] == ("error", "webhook failed after retries: HTTP 400")
    assert outcome["error5xx"] == ("error", "webhook failed after retries: HTTP 503")
    for mode in ("timeout", "reset"):
        assert outcome[mode][0] == "error" and "webhook failed" in outcome[mode][1]
    assert server.count("refuse4xx@example.com") == 1  # refused: not retried
    assert server.count("ok@example.com") == 1
