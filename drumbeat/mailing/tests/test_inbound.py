"""Bounces and replies delivered over SMTP to the inbound server (`drumbeat inbound-smtp`)."""

import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from drumbeat.mailing.inbound import make_controller, process_inbound
from drumbeat.mailing.models import EmailBlacklist, InboundEvent, Message
from drumbeat.mailing.sending import Recipient, send_emails

from .conftest import RENDER_FIELDS, free_port

pytestmark = [pytest.mark.postgres]


WORDING = {
    "5.1.1": "<{}>: Recipient address rejected: User unknown",
    "4.2.2": "<{}>: mailbox full, try again later",
    "5.2.2": "<{}>: Mailbox full",
}


def dsn(original_message_id: str, recipient: str, status="5.1.1", action="failed") -> bytes:
    """An RFC 3464 delivery status notification, as Postfix writes it."""
    wording = WORDING[status].format(recipient)
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
Diagnostic-Code: smtp; {"550" if status[0] == "5" else "452"} {status} {wording}

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
def test_it_records_a_delay_without_bouncing_the_message(sent_message):
    result = process_inbound(
        [f"bounce+{sent_message.token}@in.example.org"],
        dsn(sent_message.message_id, "alice@example.com", status="4.2.2", action="delayed"),
    )

    assert result.kind == "delay"
    sent_message.refresh_from_db()
    assert (sent_message.state, sent_message.bounce_kind) == (Message.State.SENT, "")
    event = InboundEvent.objects.get(message=sent_message)
    assert (event.kind, event.status, event.category) == ("delay", "4.2.2", "mailbox_full")


@pytest.mark.django_db
def test_it_never_downgrades_a_hard_bounce(sent_message):
    bounce = f"bounce+{sent_message.token}@in.example.org"
    process_inbound([bounce], dsn(sent_message.message_id, "alice@example.com"))
    process_inbound([bounce], dsn(sent_message.message_id, "alice@example.com", "4.2.2", "delayed"))
    process_inbound([bounce], dsn(sent_message.message_id, "alice@example.com", "5.2.2"))

    sent_message.refresh_from_db()
    assert (sent_message.state, sent_message.bounce_kind) == (Message.State.BOUNCED, "hard")
    assert sent_message.bounce_category == "user_unknown"
    kinds = list(InboundEvent.objects.values_list("kind", "bounce_kind"))
    assert kinds == [("bounce", "hard"), ("delay", ""), ("bounce", "soft")]


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
        (["reply+" + "0" * 32 + "@in.example.org"], reply("<nope@x>"), "unmatched reply"),
        (["x@in.example.org"], b"\x00\xff garbage without headers", "unparseable"),
        (["x@in.example.org"], b"Subject: hi\r\n\r\n" + b"x" * 100_001, "over the"),
        (
            ["x@in.example.org"],
            b"Subject: hi\r\nAuto-Submitted: auto-replied\r\n\r\nout",
            "unmatched auto_reply",
        ),
    ],
)
def test_it_drops_garbage_with_a_log_line(sent_message, settings, caplog, rcpt, data, reason):
    settings.INBOUND_MAX_BYTES = 100_000
    caplog.set_level("INFO", logger="drumbeat.mailing.inbound")

    result = process_inbound(rcpt, data)

    assert result.kind == "dropped" and reason in result.reason
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


def _bounce_week_after_week(email_template, alice, status: str, weeks: list[int]) -> list[bool]:
    """Send alice a message and bounce it with `status` at each week of `weeks`; whether she
    was blacklisted after each bounce."""
    start = timezone.now()
    blacklisted = []
    for n, week in enumerate(weeks):
        with time_machine.travel(start + timedelta(weeks=week)):
            send_emails(
                email_template, [Recipient(10 + n, alice, alice.email)], campaign_id=1,
                activity_id=100 + n, render_fields=RENDER_FIELDS,
            )  # fmt: skip
            message = Message.objects.get(trace_id=10 + n)
            process_inbound(
                [f"bounce+{message.token}@in.example.org"],
                dsn(message.message_id, "alice@example.com", status=status),
            )
            blacklisted.append(EmailBlacklist.objects.filter(email="alice@example.com").exists())
    return blacklisted


@pytest.mark.django_db
def test_it_blacklists_at_the_first_hard_bounce_saying_which_message(
    smtp_sink, mail_settings, email_template, alice
):
    assert _bounce_week_after_week(email_template, alice, "5.1.1", [0]) == [True]

    entry = EmailBlacklist.objects.get(email="alice@example.com")
    message = Message.objects.get(trace_id=10)
    assert entry.message_id == message.pk
    assert entry.reason == f"hard bounce of message {message.pk}"


@pytest.mark.django_db
def test_it_blacklists_after_the_hard_bounce_limit(smtp_sink, mail_settings, email_template, alice):
    mail_settings.HARD_BOUNCE_LIMIT = 2

    assert _bounce_week_after_week(email_template, alice, "5.1.1", [0, 3]) == [False, True]


@pytest.mark.django_db
def test_it_blacklists_after_five_soft_bounces_in_thirteen_weeks(
    smtp_sink, mail_settings, email_template, alice
):
    blacklisted = _bounce_week_after_week(email_template, alice, "5.2.2", [0, 3, 6, 9, 12])

    assert blacklisted == [False, False, False, False, True]
    assert "5 soft bounces in 13 weeks" in EmailBlacklist.objects.get().reason


@pytest.mark.django_db
def test_it_does_not_blacklist_soft_bounces_spread_over_more_than_thirteen_weeks(
    smtp_sink, mail_settings, email_template, alice
):
    blacklisted = _bounce_week_after_week(email_template, alice, "5.2.2", [0, 4, 8, 12, 16])

    assert blacklisted == [False] * 5
    assert Message.objects.filter(bounce_kind="soft").count() == 5


@pytest.mark.django_db
def test_a_bounce_or_complaint_of_a_test_message_suppresses_nobody(sent_message):
    Message.objects.filter(pk=sent_message.pk).update(is_test=True)
    bounce = f"bounce+{sent_message.token}@in.example.org"

    process_inbound([bounce], dsn(sent_message.message_id, "alice@example.com"))

    sent_message.refresh_from_db()
    assert (sent_message.state, sent_message.bounce_kind) == (Message.State.BOUNCED, "hard")
    assert not EmailBlacklist.objects.exists()
