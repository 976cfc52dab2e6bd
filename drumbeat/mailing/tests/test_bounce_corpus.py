"""The corpus (tests/bounces/) read the way Drumbeat reads inbound mail.

`test_it_classifies_each_sample` reads each sample alone (no database); the end-to-end test
sends one real message per sample through Drumbeat, delivers every sample over SMTP to the
inbound server (aiosmtpd on loopback) at the message's VERP bounce address (or its reply,
unsubscribe, fbl@ or abuse@ address) and checks what was recorded on each message.
"""

import email
import smtplib

import pytest

from drumbeat.contacts.models import Contact
from drumbeat.mailing import reports
from drumbeat.mailing.inbound import make_controller
from drumbeat.mailing.models import EmailBlacklist, InboundEvent, Message
from drumbeat.mailing.sending import Recipient, send_emails

from .conftest import RENDER_FIELDS, free_port
from .corpus import BOUNCE_KINDS, Sample, samples

pytestmark = [pytest.mark.postgres]

SAMPLES = samples()
TOKEN = "0123456789abcdef0123456789abcdef"


def outcome(kind: str, bounce_kind: str) -> str:
    """The outcome in the terms of expected.csv: a bounce is named by its kind."""
    return bounce_kind if kind == "bounce" else kind


def test_it_has_a_corpus_of_at_least_150_samples_of_every_kind():
    kinds = {sample.kind for sample in SAMPLES}

    assert len(SAMPLES) >= 150
    assert kinds >= {"hard", "soft", "block", "delay", "delivered", "complaint", "auto_reply"}
    assert len({sample.name for sample in SAMPLES}) == len(SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_it_classifies_each_sample(sample: Sample):
    data = sample.filled("reader@example.com", "<original@example.org>", TOKEN)
    report = reports.read_report(email.message_from_bytes(data), sample.mail_from(data))

    got = outcome(report.kind, report.bounce_kind)
    if sample.kind == "unsubscribe":  # a human message: its address makes it an unsubscribe
        assert got == "reply"
    else:
        assert got == sample.kind, report
    if sample.kind in BOUNCE_KINDS:
        assert report.category == sample.category, report


@pytest.fixture
def inbound_smtp(mail_settings):
    port = free_port()
    controller = make_controller("127.0.0.1", port)
    controller.start()
    yield port
    controller.stop()


@pytest.mark.django_db(transaction=True)
def test_it_accounts_for_every_sample_delivered_to_messages_drumbeat_sent(
    smtp_sink, mail_settings, email_template, inbound_smtp
):
    contacts = Contact.objects.bulk_create(
        [Contact(name=f"Reader {n}", email=f"reader{n}@example.com") for n in range(len(SAMPLES))]
    )
    send_emails(
        email_template,
        [Recipient(n + 1, c, c.email) for n, c in enumerate(contacts)],
        campaign_id=1,
        activity_id=1,
        render_fields=RENDER_FIELDS,
    )
    messages = {m.trace_id: m for m in Message.objects.filter(state=Message.State.SENT)}
    assert len(messages) == len(SAMPLES)

    with smtplib.SMTP("127.0.0.1", inbound_smtp, timeout=30) as client:
        for n, sample in enumerate(SAMPLES):
            message = messages[n + 1]
            data = sample.filled(message.recipient, message.message_id, message.token)
            client.sendmail(sample.mail_from(data), [sample.address(message.token)], data)

    events = {e.message.trace_id: e for e in InboundEvent.objects.select_related("message")}
    lost = [s.name for n, s in enumerate(SAMPLES) if n + 1 not in events]
    assert lost == []
    assert InboundEvent.objects.count() == len(SAMPLES)

    wrong, hard, hard_right, non_hard, called_hard = [], 0, 0, 0, 0
    for n, sample in enumerate(SAMPLES):
        event = events[n + 1]
        got = outcome(event.kind, event.bounce_kind)
        if got != sample.kind or (
            sample.kind in BOUNCE_KINDS and event.category != sample.category
        ):
            wrong.append((sample.name, sample.kind, sample.category, got, event.category))
        if sample.kind == "hard":
            hard += 1
            hard_right += got == "hard"
        elif sample.kind in {"soft", "block", "delay"}:
            non_hard += 1
            called_hard += got == "hard"
    assert hard_right / hard >= 0.95, wrong
    assert called_hard / non_hard < 0.01, wrong
    assert wrong == []

    # What each outcome did to its message.
    for n, sample in enumerate(SAMPLES):
        message = Message.objects.get(pk=messages[n + 1].pk)
        if sample.kind in {"hard", "soft"}:
            assert (message.state, message.bounce_kind) == ("bounced", sample.kind), sample
        elif sample.kind == "block":
            assert (message.state, message.bounce_kind, message.bounced_at) == (
                "sent",
                "block",
                None,
            ), sample
        else:
            assert (message.state, message.bounce_kind) == ("sent", ""), sample
        assert (message.complained_at is not None) == (sample.kind == "complaint"), sample
        assert (message.replied_at is not None) == (sample.kind in {"reply", "unsubscribe"})

    suppressed = set(EmailBlacklist.objects.values_list("email", flat=True))
    expected = {
        messages[n + 1].recipient
        for n, s in enumerate(SAMPLES)
        if s.kind in {"hard", "complaint", "unsubscribe"}
    }
    assert suppressed == expected
