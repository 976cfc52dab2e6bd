"""The inbound SMTP server itself: long lines, the size limit, STARTTLS, block bursts."""

import smtplib
import ssl
import subprocess

import pytest
from django.core import checks
from django.utils import timezone

from drumbeat.mailing import circuit, events
from drumbeat.mailing.inbound import make_controller
from drumbeat.mailing.models import EmailBlacklist, InboundEvent, Message
from drumbeat.mailing.sending import Recipient, send_emails

from .conftest import RENDER_FIELDS, free_port
from .test_inbound import dsn

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def sent_message(smtp_sink, mail_settings, email_template, alice):
    send_emails(
        email_template, [Recipient(1, alice, alice.email)], campaign_id=1, activity_id=1,
        render_fields=RENDER_FIELDS,
    )  # fmt: skip
    return Message.objects.get(trace_id=1)


def serve(settings):
    port = free_port()
    controller = make_controller("127.0.0.1", port)
    controller.start()
    return controller, port


@pytest.mark.django_db(transaction=True)
def test_it_accepts_a_report_with_a_line_of_ten_thousand_bytes(sent_message, settings):
    controller, port = serve(settings)
    report = dsn(sent_message.message_id, "alice@example.com").replace(
        b"This is the mail system", b"X" * 10_000 + b"\r\nThis is the mail system"
    )
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("", [f"bounce+{sent_message.token}@in.example.org"], report)
    finally:
        controller.stop()

    sent_message.refresh_from_db()
    assert (sent_message.state, sent_message.bounce_kind) == ("bounced", "hard")


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_message_over_the_size_limit_at_smtp(sent_message, settings):
    settings.INBOUND_MAX_BYTES = 200_000
    controller, port = serve(settings)
    try:
        with (
            smtplib.SMTP("127.0.0.1", port, timeout=10) as client,
            pytest.raises(smtplib.SMTPException) as refused,
        ):
            client.sendmail("", [f"bounce+{sent_message.token}@in.example.org"], b"X" * 300_000)
    finally:
        controller.stop()

    assert "552" in str(refused.value)  # the sender keeps the mail and reports the failure
    assert not InboundEvent.objects.exists()


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=in.example.org", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.django_db(transaction=True)
def test_it_offers_starttls_with_a_configured_certificate(sent_message, settings, certificate):
    settings.INBOUND_TLS_CERT, settings.INBOUND_TLS_KEY = map(str, certificate)
    controller, port = serve(settings)
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = False
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            client.starttls(context=context)
            client.ehlo()
            assert client.sock.version() in {"TLSv1.2", "TLSv1.3"}
            client.sendmail(
                "",
                [f"bounce+{sent_message.token}@in.example.org"],
                dsn(sent_message.message_id, "alice@example.com"),
            )
    finally:
        controller.stop()

    assert InboundEvent.objects.get().bounce_kind == "hard"


@pytest.mark.django_db(transaction=True)
def test_it_offers_no_starttls_without_a_certificate(sent_message, settings):
    controller, port = serve(settings)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo()
            assert not client.has_extn("starttls")
    finally:
        controller.stop()


def test_it_reports_bad_inbound_settings(settings, tmp_path):
    settings.INBOUND_TLS_CERT, settings.INBOUND_TLS_KEY = str(tmp_path / "missing.pem"), ""
    settings.HARD_BOUNCE_LIMIT, settings.INBOUND_MAX_BYTES = 0, 10

    ids = {error.id for error in checks.run_checks() if error.id.startswith("drumbeat.E10")}

    assert {"drumbeat.E104", "drumbeat.E105", "drumbeat.E106"} <= ids


@pytest.mark.django_db
def test_a_burst_of_blocks_pauses_the_channel_without_suppressing(sent_message, settings):
    settings.TRANSPORT_PAUSE_AFTER = 3
    circuit.resume("email")
    now = timezone.now()
    for n in range(3):
        message = Message.objects.create(
            channel="email", recipient=f"r{n}@example.com", message_id=f"<b{n}@x>",
            token=f"{n:032x}", state="sent", sent_at=now,
        )  # fmt: skip
        assert circuit.current_pause("email") is None
        events.mark_bounced(message.pk, now, "block", "554 5.7.1 blocked using Spamhaus", "policy")

    pause = circuit.current_pause("email")
    assert pause is not None and pause.cause == "blocks" and pause.failures == 3
    assert pause.until > now
    assert "blocks reported" in circuit.paused_reply(pause)
    assert not EmailBlacklist.objects.exists()
    assert Message.objects.filter(bounce_kind="block", bounced_at__isnull=True).count() == 3
    circuit.resume("email")
