"""A burst of transient failures pauses sending on that channel and says so in the UI; the
first message after the pause probes the server and a success resumes sending."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from drumbeat.automation import services
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Trace
from drumbeat.automation.tests.fixtures import add_email, make_campaign
from drumbeat.contacts.models import Contact
from drumbeat.lib import clock as engine_clock
from drumbeat.mailing import circuit
from drumbeat.mailing.models import Message

from .servers import FaultySmtp, start_smtp

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


class Switchable(FaultySmtp):
    """Answers 421 to every recipient while `down`."""

    down: bool = True

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.lock:
            self.tries[address] += 1
        if self.down:
            return "421 4.3.2 Service shutting down"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def switchable(channel_settings, tmp_path):
    channel_settings.HOME = tmp_path
    channel_settings.TRANSPORT_PAUSE_AFTER = 3
    channel_settings.TRANSPORT_PAUSE_MINUTES = 30
    handler = Switchable()
    controller, port = start_smtp(handler)
    channel_settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=2"
    try:
        yield handler
    finally:
        controller.stop()


def test_a_burst_of_failures_pauses_the_channel_then_a_success_resumes(clock, bob, switchable):
    for i in range(10):
        Contact.objects.create(name=f"P{i}", email=f"p{i}@example.com")
    campaign = make_campaign(bob)
    add_email(campaign)
    services.start_campaign(campaign, bob)

    run_once()

    # three real attempts, then the other seven wait without the server being contacted
    assert sum(switchable.tries.values()) == 3
    pause = circuit.current_pause("email")
    assert pause is not None and "421 4.3.2" in pause.reason
    assert pause.until == engine_clock.now() + timedelta(minutes=30)
    assert set(Trace.objects.values_list("state", flat=True)) == {"scheduled"}
    reasons = set(Message.objects.values_list("failure_reason", flat=True))
    assert any(r and r.startswith("sending paused until") for r in reasons)

    client = Client()
    client.force_login(bob)
    page = client.get("/campaigns/").content.decode()
    assert "Email sending is paused" in page and "421 4.3.2" in page

    # the server comes back; once the pause is over the probe succeeds and everyone gets mail
    switchable.down = False
    for _ in range(10):
        due = (
            Trace.objects.filter(state="scheduled")
            .order_by("scheduled_at")
            .values_list("scheduled_at", flat=True)
            .first()
        )
        if due is None:
            break
        clock.move_to(max(due, engine_clock.now()))
        run_once()
    assert set(Trace.objects.values_list("state", flat=True)) == {"processed"}
    assert circuit.current_pause("email") is None
    assert "sending is paused" not in client.get("/campaigns/").content.decode()
    assert sorted(rcpt for rcpt, _ in switchable.accepted) == sorted(
        f"p{i}@example.com" for i in range(10)
    )


def test_permanent_refusals_do_not_pause(clock, bob, channel_settings, tmp_path):
    channel_settings.HOME = tmp_path
    channel_settings.TRANSPORT_PAUSE_AFTER = 2
    handler = FaultySmtp()
    controller, port = start_smtp(handler)
    channel_settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=2"
    try:
        for i in range(5):
            Contact.objects.create(name=f"H{i}", email=f"hard{i}@example.com")
        campaign = make_campaign(bob)
        add_email(campaign)
        services.start_campaign(campaign, bob)
        run_once()
    finally:
        controller.stop()

    assert circuit.current_pause("email") is None
    assert set(Trace.objects.values_list("state", flat=True)) == {"error"}
