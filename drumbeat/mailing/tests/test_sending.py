import pytest
import time_machine
from django.utils import timezone

from drumbeat.mailing.models import EmailBlacklist, Link, Message
from drumbeat.mailing.sending import (
    Recipient,
    recover_interrupted,
    send_emails,
    send_test_email,
)
from drumbeat.mailing.tokens import is_valid_token

from .conftest import RENDER_FIELDS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def send(template, recipients, activity_id=7):
    return send_emails(
        template, recipients, campaign_id=3, activity_id=activity_id, render_fields=RENDER_FIELDS
    )


def test_it_sends_through_smtp_with_the_headers(smtp_sink, mail_settings, email_template, alice):
    results = send(email_template, [Recipient(101, alice, alice.email)])

    assert results[101].status == "sent"
    message = Message.objects.get(trace_id=101)
    assert message.state == Message.State.SENT
    assert message.recipient == "alice@example.com"
    assert is_valid_token(message.token)
    assert len(smtp_sink.received) == 1
    got = smtp_sink.received[0]
    assert got.mail_from == f"bounce+{message.token}@in.example.org"
    assert got.rcpt_tos == ["alice@example.com"]
    parsed = got.parsed
    assert parsed["Message-ID"] == message.message_id
    assert parsed["Subject"] == "Welcome Alice ✓"
    assert parsed["From"] == "Drumbeat <news@example.org>"
    assert parsed["Reply-To"] == f"reply+{message.token}@in.example.org"
    assert parsed["List-Unsubscribe"] == (
        f"<mailto:unsubscribe+{message.token}@in.example.org>, "
        f"<http://testserver/u/{message.token}/one-click>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = got.part("text/html")
    text = got.part("text/plain")
    assert "Hello Alice," in html and "#vip" in html
    assert 'style="color: #123456' in html or "color:#123456" in html.replace(" ", "")
    assert f"http://testserver/t/o/{message.token}" in html
    assert f"http://testserver/u/{message.token}" in html
    assert f"http://testserver/v/{message.token}" in html
    assert "A gift inside" in html
    assert "Hello Alice," in text
    links = Link.objects.filter(template=email_template, activity_id=7).order_by("id")
    assert [link.url for link in links] == [
        "https://example.com/offer?x=1&y=2",
        "https://example.com/about",
    ]
    assert links[0].title == "our offer"
    for link in links:
        assert f"http://testserver/r/{link.code}/{message.token}" in html
        assert f"http://testserver/r/{link.code}/{message.token}" in text
    assert "https://example.com/offer" not in html


def test_it_uses_one_connection_per_batch_and_creates_links_once(
    smtp_sink, mail_settings, email_template, alice, bob
):
    send(email_template, [Recipient(1, alice, alice.email), Recipient(2, bob, bob.email)])
    send(email_template, [Recipient(3, alice, "other@example.com")])

    assert len(smtp_sink.received) == 3
    assert smtp_sink.connections == 2
    assert Link.objects.filter(template=email_template, activity_id=7).count() == 2


def test_it_applies_the_rules_in_order(smtp_sink, mail_settings, email_template, alice, bob):
    EmailBlacklist.objects.create(email="BOB@example.com", reason="asked")
    results = send(
        email_template,
        [
            Recipient(1, bob, "bob@example.com"),
            Recipient(2, alice, ""),
            Recipient(3, alice, "not an address"),
            Recipient(4, alice, "alice@example.com"),
            Recipient(5, alice, " ALICE@example.com "),
        ],
    )

    assert results[1].status == "cancelled" and results[1].reason == "blacklisted"
    assert results[2].reason == "missing email"
    assert results[3].reason == "invalid email"
    assert results[4].status == "sent"
    assert results[5].status == "cancelled" and results[5].reason == "duplicate"
    again = send(email_template, [Recipient(6, alice, "alice@example.com")])
    assert again[6].reason == "duplicate"
    elsewhere = send(email_template, [Recipient(7, alice, "alice@example.com")], activity_id=8)
    assert elsewhere[7].status == "sent"
    assert len(smtp_sink.received) == 2


def test_it_does_not_resend_a_sent_trace(smtp_sink, mail_settings, email_template, alice):
    first = send(email_template, [Recipient(1, alice, alice.email)])
    second = send(email_template, [Recipient(1, alice, alice.email)])

    assert second[1] == first[1]
    assert len(smtp_sink.received) == 1


def test_it_errors_only_the_record_that_fails_to_render(
    smtp_sink, mail_settings, email_template, alice, bob
):
    email_template.body_html = "<p>{{ record.name }} {{ 1 / (record.name|length - 3) }}</p>"
    email_template.save()

    results = send(email_template, [Recipient(1, alice, alice.email), Recipient(2, bob, bob.email)])

    assert results[1].status == "sent"
    assert results[2].status == "error" and "division by zero" in results[2].reason
    assert Message.objects.get(trace_id=2).state == Message.State.ERROR
    assert len(smtp_sink.received) == 1


def test_it_retries_a_transient_failure_then_gives_up(
    smtp_sink, mail_settings, email_template, alice
):
    smtp_sink.refuse["alice@example.com"] = "451 4.3.0 Try again later"
    start = timezone.now()
    result = send(email_template, [Recipient(1, alice, alice.email)])[1]

    assert result.status == "retry"
    assert "451" in result.reason
    assert result.retry_at > start
    message = Message.objects.get(trace_id=1)
    assert (message.state, message.attempts) == (Message.State.DEFERRED, 1)
    token = message.token
    for _ in range(3):
        assert send(email_template, [Recipient(1, alice, alice.email)])[1].status == "retry"
    final = send(email_template, [Recipient(1, alice, alice.email)])[1]
    assert final.status == "error" and "451 4.3.0 Try again later" in final.reason
    message.refresh_from_db()
    assert (message.state, message.attempts, message.token) == (Message.State.ERROR, 5, token)


def test_it_reuses_the_deferred_message_when_the_server_recovers(
    smtp_sink, mail_settings, email_template, alice
):
    smtp_sink.refuse["alice@example.com"] = "421 4.7.0 Busy"
    assert send(email_template, [Recipient(1, alice, alice.email)])[1].status == "retry"
    smtp_sink.refuse.clear()

    result = send(email_template, [Recipient(1, alice, alice.email)])[1]

    assert result.status == "sent"
    assert Message.objects.filter(trace_id=1).count() == 1
    assert smtp_sink.received[0].parsed["Message-ID"] == Message.objects.get().message_id


def test_it_errors_on_a_permanent_failure(smtp_sink, mail_settings, email_template, alice):
    smtp_sink.refuse["alice@example.com"] = "550 5.1.1 No such user"

    result = send(email_template, [Recipient(1, alice, alice.email)])[1]

    assert result.status == "error"
    assert result.reason == "550 5.1.1 No such user"
    assert Message.objects.get(trace_id=1).state == Message.State.ERROR


def test_it_retries_when_the_server_is_unreachable(settings, mail_settings, email_template, alice):
    from .conftest import free_port

    settings.EMAIL_URL = f"smtp://127.0.0.1:{free_port()}?timeout=2"

    result = send(email_template, [Recipient(1, alice, alice.email)])[1]

    assert result.status == "retry"
    assert "connection" in result.reason


def test_it_reports_interrupted_sends(mail_settings, email_template, alice, bob):
    Message.objects.create(
        channel="email", trace_id=1, recipient="a@x.org", message_id="<1@x>", token="t1"
    )
    Message.objects.create(
        channel="email",
        trace_id=2,
        recipient="b@x.org",
        message_id="<2@x>",
        token="t2",
        state=Message.State.SENT,
    )

    results = recover_interrupted([1, 2, 3])

    assert results[1].status == "error" and results[1].reason == "interrupted"
    assert results[2].status == "sent"
    assert 3 not in results
    assert Message.objects.get(trace_id=1).state == Message.State.ERROR


def test_it_stores_messages_in_the_outbox_by_default(mail_settings, email_template, alice):
    from drumbeat.mailing.models import OutboxEntry

    mail_settings.EMAIL_URL = "outbox://"
    send(email_template, [Recipient(1, alice, alice.email)])

    entry = OutboxEntry.objects.get()
    assert entry.recipient == "alice@example.com"
    assert entry.subject == "Welcome Alice ✓"
    assert entry.message == Message.objects.get(trace_id=1)
    assert "Message-ID: " + entry.message.message_id in entry.raw


def test_it_sends_a_test_email_to_any_address(smtp_sink, mail_settings, email_template, alice):
    result = send_test_email(email_template, alice, "designer@example.net", RENDER_FIELDS)

    assert result.status == "sent"
    message = Message.objects.get(pk=result.message_id)
    assert message.is_test and message.trace_id is None
    assert smtp_sink.received[0].rcpt_tos == ["designer@example.net"]
    assert "Hello Alice" in smtp_sink.received[0].part("text/html")


def test_it_refuses_an_invalid_template_for_the_whole_batch(
    smtp_sink, mail_settings, email_template, alice
):
    email_template.body_html = "{{ record.__class__ }}"
    email_template.save()

    result = send(email_template, [Recipient(1, alice, alice.email)])[1]

    assert result.status == "error" and "internal attribute" in result.reason
    assert smtp_sink.received == []


@time_machine.travel("2026-01-05 10:00:00Z", tick=False)
def test_it_dates_messages_with_the_clock(smtp_sink, mail_settings, email_template, alice):
    send(email_template, [Recipient(1, alice, alice.email)])

    assert Message.objects.get().sent_at.isoformat() == "2026-01-05T10:00:00+00:00"
    assert smtp_sink.received[0].parsed["Date"] == "Mon, 05 Jan 2026 10:00:00 +0000"


def test_it_sends_to_an_international_address_with_smtputf8(
    smtp_sink, mail_settings, email_template, alice
):
    results = send(email_template, [Recipient(1, alice, "jürgen@example.com")])

    assert results[1].status == "sent"
    assert smtp_sink.received[0].rcpt_tos == ["jürgen@example.com"]


def test_it_errors_an_international_address_the_server_refuses_and_goes_on(
    settings, mail_settings, email_template, alice, bob
):
    from aiosmtpd.controller import Controller

    from .conftest import SinkHandler, free_port

    handler, port = SinkHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    controller.start()
    settings.EMAIL_URL = f"smtp://127.0.0.1:{port}"
    try:
        results = send(
            email_template,
            [Recipient(1, alice, "jürgen@example.com"), Recipient(2, bob, bob.email)],
        )
    finally:
        controller.stop()

    assert results[1].status == "error" and "international" in results[1].reason
    assert results[2].status == "sent"
    assert [r.rcpt_tos for r in handler.received] == [["bob@example.com"]]


def test_it_errors_the_batch_on_a_bad_transport_url(settings, mail_settings, email_template, alice):
    settings.EMAIL_URL = "smtp://:25"

    result = send(email_template, [Recipient(1, alice, alice.email)])[1]

    assert result.status == "error" and result.reason.startswith("transport: no host")
    assert Message.objects.get(trace_id=1).state == Message.State.ERROR


def test_it_errors_a_deferred_message_whose_template_broke(
    smtp_sink, mail_settings, email_template, alice
):
    smtp_sink.refuse["alice@example.com"] = "451 Later"
    assert send(email_template, [Recipient(1, alice, alice.email)])[1].status == "retry"
    email_template.body_html = "{{ record.nope }}"
    email_template.save()

    result = send(email_template, [Recipient(1, alice, alice.email)])[1]

    assert result.status == "error" and "unknown field 'nope'" in result.reason
    assert Message.objects.get(trace_id=1).state == Message.State.ERROR
