"""The headers of outbound email, as a real SMTP server (aiosmtpd on loopback) receives them:
no Return-Path (the envelope carries VERP), folded lines, List-Id and Feedback-ID."""

import pytest

from drumbeat.mailing.models import Message, OutboxEntry
from drumbeat.mailing.sending import Recipient, send_emails, send_test_email

from .conftest import RENDER_FIELDS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def send(template, recipients, campaign_name="Spring sale"):
    return send_emails(
        template,
        recipients,
        campaign_id=3,
        activity_id=7,
        render_fields=RENDER_FIELDS,
        campaign_name=campaign_name,
    )


def header_block(data: bytes) -> list[str]:
    return data.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")


def test_it_writes_no_return_path_and_sends_the_verp_envelope(
    smtp_sink, mail_settings, email_template, alice
):
    send(email_template, [Recipient(1, alice, alice.email)])

    token = Message.objects.get().token
    got = smtp_sink.received[0]
    assert got.mail_from == f"bounce+{token}@in.example.org"
    assert not any(line.lower().startswith("return-path:") for line in header_block(got.data))


def test_the_outbox_keeps_the_envelope_sender(mail_settings, email_template, alice):
    mail_settings.EMAIL_URL = "outbox://"

    send(email_template, [Recipient(1, alice, alice.email)])

    entry = OutboxEntry.objects.get()
    assert entry.sender == f"bounce+{Message.objects.get().token}@in.example.org"
    assert "Return-Path" not in entry.raw


def test_it_folds_a_long_subject_and_list_unsubscribe_at_78(
    smtp_sink, mail_settings, email_template, alice
):
    mail_settings.BASE_URL = "https://newsletters.a-rather-long-company-name.example.com"
    subject = "Our spring collection is here with forty new models and free delivery " * 3
    email_template.subject = subject
    email_template.save()

    send(email_template, [Recipient(1, alice, alice.email)])

    token = Message.objects.get().token
    got = smtp_sink.received[0]
    lines = header_block(got.data)
    # Every line fits 78 characters, except one holding a single word that cannot be broken
    # (after the field name for the first word).
    for line in lines:
        assert len(line) <= 78 or " " not in line.strip().split(": ", 1)[-1], line
    one_click = f"<{mail_settings.BASE_URL}/u/{token}/one-click>"  # 105 characters
    mailto = f"<mailto:unsubscribe+{token}@in.example.org>,"  # 69 characters
    start = lines.index(f"List-Unsubscribe: {mailto}")
    assert lines[start + 1] == f" {one_click}"
    first_line = "Subject: Our spring collection is here with forty new models and free delivery"
    start = lines.index(first_line)
    assert lines[start + 1 : start + 3] == [  # the first line is exactly 78 characters
        " Our spring collection is here with forty new models and free delivery Our",
        " spring collection is here with forty new models and free delivery",
    ]
    parsed = got.parsed
    assert parsed["Subject"] == subject.strip()
    assert parsed["List-Unsubscribe"] == (
        f"<mailto:unsubscribe+{token}@in.example.org>, {one_click}"
    )


def test_it_folds_a_long_unicode_subject_into_encoded_words(
    smtp_sink, mail_settings, email_template, alice
):
    subject = "Été : nos nouveautés ✓ livraison offerte et retours gratuits"  # 65 bytes
    email_template.subject = subject
    email_template.save()

    send(email_template, [Recipient(1, alice, alice.email)])

    got = smtp_sink.received[0]
    lines = header_block(got.data)
    start = next(i for i, line in enumerate(lines) if line.startswith("Subject:"))
    assert lines[start].startswith("Subject: =?utf-8?b?")
    assert lines[start + 1].startswith(" =?utf-8?b?")  # the first word holds 42 bytes
    assert all(len(line) <= 78 for line in lines[start : start + 2])
    assert got.parsed["Subject"] == subject


def test_it_names_the_campaign_stream_with_list_id_and_feedback_id(
    smtp_sink, mail_settings, email_template, alice, bob
):
    send(email_template, [Recipient(1, alice, alice.email)], campaign_name="Spring: sale, 2026")
    mail_settings.FEEDBACK_SENDER_ID = "acme-news"
    send(email_template, [Recipient(2, bob, bob.email)], campaign_name="Été 2026")

    first, second = (r.parsed for r in smtp_sink.received)
    assert first["List-Id"] == '"Spring: sale, 2026" <campaign-3.list-id.in.example.org>'
    assert first["Feedback-ID"] == "c3:a7:drumbeat"
    assert second["List-Id"] == "Été 2026 <campaign-3.list-id.in.example.org>"
    assert second["Feedback-ID"] == "c3:a7:acme-news"
    raw_second = header_block(smtp_sink.received[1].data)
    assert "List-Id: =?utf-8?b?w4l0w6kgMjAyNg==?= <campaign-3.list-id.in.example.org>" in raw_second


def test_a_test_email_outside_campaigns_has_no_stream_headers(
    smtp_sink, mail_settings, email_template, alice
):
    assert send_test_email(email_template, alice, "me@example.org", RENDER_FIELDS).status == "sent"

    parsed = smtp_sink.received[0].parsed
    assert parsed["List-Id"] is None and parsed["Feedback-ID"] is None
    assert parsed["List-Unsubscribe"] is not None


def test_without_an_inbound_domain_the_stream_is_named_after_the_sender(
    smtp_sink, mail_settings, email_template, alice
):
    mail_settings.INBOUND_DOMAIN = ""

    send(email_template, [Recipient(1, alice, alice.email)])

    got = smtp_sink.received[0]
    assert got.mail_from == "news@example.org"
    assert got.parsed["List-Id"] == "Spring sale <campaign-3.list-id.example.org>"
