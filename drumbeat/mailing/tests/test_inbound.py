"""Bounces and replies delivered over SMTP to the inbound server (`drumbeat inbound-smtp`)."""

import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from drumbeat.mailing.inbound import MAX_SIZE, make_controller, process_inbound
from drumbeat.mailing.models import EmailBlacklist, Message
from drumbeat.mailing.sending import Recipient, send_emails

from .conftest import RENDER_FIELDS, free_port

pytestmark = [pytest.mark.postgres]


def dsn(original_message_id: str, recipient: str, status="5.1.1", action="failed") -> bytes:
    """An RFC 3464 delivery status notification, as an MTA would write it."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: bounce@in.example.org
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain

This is the mail system at host mx.example.com. Your message could not be delivered.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Arrival-Date: Mon, 5 Jan 2026 10:00:00 +0000

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown

--BOUNDARY
Content-Type: text/rfc822-headers

From: Drumbeat <news@example.org>
To: {recipient}
Subject: Welcome
Message-ID: {original_message_id}

--BOUNDARY--
""".replace("\n", "\r\n").encode()


def reply(in_reply_to: str, to="news@example.org") -> bytes:
    return (
        "From: Alice <alice@example.com>\r\n"
        f"To: {to}\r\n"
        "Subject: Re: Welcome\r\n"
        f"In-Reply-To: {in_reply_to}\r\n"
        f"References: <older@example.org> {in_reply_to}\r\n"
        "\r\n"
        "Sounds great, call me.\r\n"
    ).encode()


@pytest.fixture
def inbound_server(mail_settings):
    port = free_port()
    controller = make_controller("127.0.0.1", port)
    controller.start()

    def deliver(rcpt: str, data: bytes, sender="") -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(sender, [rcpt], data)

    yield deliver
    controller.stop()


@pytest.fixture
def sent_message(smtp_sink, mail_settings, email_template, alice):
    send_emails(
        email_template,
        [Recipient(1, alice, alice.email)],
        campaign_id=1,
        activity_id=1,
        render_fields=RENDER_FIELDS,
    )
    return Message.objects.get(trace_id=1)


@pytest.mark.django_db(transaction=True)
def test_it_marks_a_hard_bounce_from_a_dsn_sent_over_smtp(inbound_server, sent_message):
    message = sent_message

    inbound_server(
        f"bounce+{message.token}@in.example.org", dsn(message.message_id, "alice@example.com")
    )

    message.refresh_from_db()
    assert message.state == Message.State.BOUNCED
    assert message.bounce_kind == "hard"
    assert "User unknown" in message.failure_reason


@pytest.mark.django_db(transaction=True)
def test_it_marks_a_reply_found_by_in_reply_to_over_smtp(inbound_server, sent_message):
    message = sent_message

    inbound_server("anything@in.example.org", reply(message.message_id))

    message.refresh_from_db()
    assert message.replied_at is not None and message.opened_at is not None
    assert message.state == Message.State.SENT


@pytest.mark.django_db(transaction=True)
def test_it_refuses_mail_for_other_domains(inbound_server, sent_message):
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        inbound_server("someone@elsewhere.example", reply(sent_message.message_id))


@pytest.mark.django_db
def test_it_reads_a_soft_bounce(sent_message):
    result = process_inbound(
        [f"bounce+{sent_message.token}@in.example.org"],
        dsn(sent_message.message_id, "alice@example.com", status="4.2.2", action="delayed"),
    )

    assert result.kind == "bounce"
    sent_message.refresh_from_db()
    assert (sent_message.state, sent_message.bounce_kind) == (Message.State.BOUNCED, "soft")


@pytest.mark.django_db
def test_it_matches_a_dsn_without_token_by_the_quoted_message_id(sent_message):
    result = process_inbound(["postmaster@in.example.org"], dsn(sent_message.message_id, "x@y.org"))

    assert result.kind == "bounce" and result.message_ids == [sent_message.pk]


@pytest.mark.django_db
def test_it_marks_a_reply_by_its_reply_token(sent_message):
    result = process_inbound([f"reply+{sent_message.token}@in.example.org"], reply("<nothing@x>"))

    assert result.kind == "reply"
    sent_message.refresh_from_db()
    assert sent_message.replied_at is not None


@pytest.mark.django_db
def test_it_unsubscribes_through_the_list_unsubscribe_mailto(sent_message):
    result = process_inbound(
        [f"unsubscribe+{sent_message.token}@in.example.org"], reply("<nothing@x>")
    )

    assert result.kind == "unsubscribe"
    assert EmailBlacklist.objects.filter(email="alice@example.com").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "rcpt, data, reason",
    [
        (["reply+" + "0" * 32 + "@in.example.org"], reply("<nope@x>"), "unmatched"),
        (["x@in.example.org"], b"\x00\xff garbage without headers", "unparseable"),
        (["x@in.example.org"], b"Subject: hi\r\n\r\n" + b"x" * (MAX_SIZE + 1), "too large"),
        (
            ["x@in.example.org"],
            b"Subject: hi\r\nAuto-Submitted: auto-replied\r\n\r\nout",
            "automatic reply",
        ),
    ],
)
def test_it_drops_garbage_with_a_log_line(sent_message, caplog, rcpt, data, reason):
    caplog.set_level("INFO", logger="drumbeat.mailing.inbound")

    result = process_inbound(rcpt, data)

    assert (result.kind, result.reason) == ("dropped", reason)
    assert "inbound mail dropped" in caplog.text
    sent_message.refresh_from_db()
    assert sent_message.replied_at is None and sent_message.state == Message.State.SENT


@pytest.mark.django_db
def test_it_does_not_accept_a_forged_bounce_token(sent_message):
    forged = sent_message.token[:-1] + ("0" if sent_message.token[-1] != "0" else "1")

    result = process_inbound(
        [f"bounce+{forged}@in.example.org"], dsn("<unknown@x>", "nobody@x.org")
    )

    assert result.kind == "dropped"
    sent_message.refresh_from_db()
    assert sent_message.state == Message.State.SENT


@pytest.mark.django_db
def test_it_blacklists_after_five_hard_bounces_in_thirteen_weeks(
    smtp_sink, mail_settings, email_template, alice
):
    start = timezone.now()
    for week in range(5):
        with time_machine.travel(start + timedelta(weeks=3 * week)):
            send_emails(
                email_template, [Recipient(10 + week, alice, alice.email)], campaign_id=1,
                activity_id=100 + week, render_fields=RENDER_FIELDS,
            )  # fmt: skip
            message = Message.objects.get(trace_id=10 + week)
            process_inbound(
                [f"bounce+{message.token}@in.example.org"],
                dsn(message.message_id, "alice@example.com"),
            )
            blacklisted = EmailBlacklist.objects.filter(email="alice@example.com").exists()
            assert blacklisted == (week == 4), week


@pytest.mark.django_db
def test_it_does_not_blacklist_bounces_spread_over_more_than_thirteen_weeks(
    smtp_sink, mail_settings, email_template, alice
):
    start = timezone.now()
    for week in range(5):
        with time_machine.travel(start + timedelta(weeks=4 * week)):
            send_emails(
                email_template, [Recipient(10 + week, alice, alice.email)], campaign_id=1,
                activity_id=100 + week, render_fields=RENDER_FIELDS,
            )  # fmt: skip
            message = Message.objects.get(trace_id=10 + week)
            process_inbound(
                [f"bounce+{message.token}@in.example.org"],
                dsn(message.message_id, "alice@example.com"),
            )

    assert Message.objects.filter(bounce_kind="hard").count() == 5
    assert not EmailBlacklist.objects.exists()
