import base64
import re
import subprocess

import dkim
import pytest

from drumbeat.mailing.mime import build_email
from drumbeat.mailing.sending import Recipient, send_emails

from .conftest import RENDER_FIELDS


@pytest.fixture
def dkim_key(tmp_path):
    """A fresh RSA key and the DNS TXT record publishing it."""
    key_file = tmp_path / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(key_file), "2048"], check=True, capture_output=True
    )
    public_der = subprocess.run(
        ["openssl", "rsa", "-in", str(key_file), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)
    return key_file, record


@pytest.fixture
def signing(mail_settings, dkim_key):
    """DKIM configured with a fresh key; returns the DNS lookup that publishes it."""
    key_file, record = dkim_key
    mail_settings.DKIM_DOMAIN = "example.org"
    mail_settings.DKIM_SELECTOR = "drumbeat"
    mail_settings.DKIM_KEY_FILE = str(key_file)
    asked = []

    def dns(name, timeout=5):
        asked.append(name)
        return record if name == b"drumbeat._domainkey.example.org." else None

    dns.asked = asked
    return dns


@pytest.mark.postgres
@pytest.mark.django_db
def test_it_signs_with_dkim_and_the_signature_verifies(
    smtp_sink, mail_settings, email_template, alice, signing
):
    send_emails(
        email_template, [Recipient(1, alice, alice.email)], campaign_id=1, activity_id=1,
        render_fields=RENDER_FIELDS,
    )  # fmt: skip

    data = smtp_sink.received[0].data
    assert data.startswith(b"DKIM-Signature:")
    dns = signing

    assert dkim.verify(data, dnsfunc=dns)
    assert dns.asked == [b"drumbeat._domainkey.example.org."]
    signed = re.search(rb"h=([^;]+);", data.replace(b"\r\n", b"").replace(b" ", b"")).group(1)
    assert b"list-unsubscribe" in signed.lower() and b"message-id" in signed.lower()
    tampered = data.replace(b"Hello Alice", b"Hello Mallory")
    assert not dkim.verify(tampered, dnsfunc=dns)


@pytest.mark.postgres
@pytest.mark.django_db
def test_it_signs_relaxed_relaxed_so_whitespace_changes_in_transit_still_verify(
    smtp_sink, mail_settings, email_template, alice, signing
):
    email_template.subject = "A subject long enough to be folded by the sender, " * 2
    email_template.save()

    send_emails(
        email_template, [Recipient(1, alice, alice.email)], campaign_id=3, activity_id=7,
        render_fields=RENDER_FIELDS, campaign_name="Spring",
    )  # fmt: skip

    data = smtp_sink.received[0].data
    unfolded = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    assert re.search(rb"\bc=relaxed/relaxed;", unfolded)
    signed = re.search(rb"\bh=([^;]+);", unfolded.replace(b" ", b"")).group(1).lower().split(b":")
    assert b"list-id" in signed and b"feedback-id" in signed
    dns = signing

    assert dkim.verify(data, dnsfunc=dns)
    # What relays do: unfold or refold headers, change the spacing after a colon, pad
    # body lines with spaces. Relaxed canonicalisation (RFC 6376 §3.4.2, §3.4.4) ignores all.
    head, body = data.split(b"\r\n\r\n", 1)
    head = head.replace(b"Subject: ", b"Subject:   ").replace(b"\r\n ", b"\r\n\t")
    body = body.replace(b"Hello Alice,", b"Hello \t Alice,").replace(b"\r\n", b"  \r\n")
    relayed = head + b"\r\n\r\n" + body
    assert relayed != data
    assert dkim.verify(relayed, dnsfunc=dns)
    assert not dkim.verify(data.replace(b"Hello Alice", b"Hello Mallory"), dnsfunc=dns)
    assert not dkim.verify(data.replace(b"Spring", b"Autumn", 1), dnsfunc=dns)


def test_it_builds_crlf_messages_that_parse_back():
    import email
    import email.policy
    from datetime import UTC, datetime

    data = build_email(
        sender='"Zoë" <z@example.org>',
        to="a@example.com",
        subject="Ünïcode subject that is rather long " * 4,
        html="<p>" + "x" * 2000 + "</p>\n<p>Ünï</p>",
        text="line\n.dot\nfin",
        message_id="<abc@example.org>",
        date=datetime(2026, 1, 1, tzinfo=UTC),
        headers={"X-Injected": "a\r\nBcc: evil@example.com"},
    )

    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == ("Ünïcode subject that is rather long " * 4).strip()
    assert parsed["From"].addresses[0].display_name == "Zoë"
    assert parsed["Bcc"] is None
    html = parsed.get_body(("html",)).get_content()
    assert "x" * 2000 in html and "Ünï" in html
    plain = parsed.get_body(("plain",)).get_content()
    assert plain.replace("\r\n", "\n") == "line\n.dot\nfin"


def test_it_reports_bad_channel_settings(settings, tmp_path):
    from drumbeat.mailing.checks import check_channels

    settings.EMAIL_URL = "smtp+weird://host"
    settings.SMS_URL = "https:///no-host"
    settings.FROM_EMAIL = "not an address"
    settings.DKIM_KEY_FILE = str(tmp_path / "missing.pem")

    ids = [e.id for e in check_channels(None)]

    assert ids == ["drumbeat.E101", "drumbeat.E101", "drumbeat.E102", "drumbeat.E103"]


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("FEEDBACK_SENDER_ID", "news", "DRUMBEAT_FEEDBACK_SENDER_ID must be 5 to 15"),
        ("FEEDBACK_SENDER_ID", "acme:news", "DRUMBEAT_FEEDBACK_SENDER_ID must be 5 to 15"),
        ("FEEDBACK_SENDER_ID", "a-very-long-sender", "DRUMBEAT_FEEDBACK_SENDER_ID must be 5 to"),
        ("SMS_OPTOUT_FOOTER", "", "DRUMBEAT_SMS_OPTOUT_FOOTER must be one line of 1 to 60"),
        ("SMS_OPTOUT_FOOTER", "x" * 61, "DRUMBEAT_SMS_OPTOUT_FOOTER must be one line"),
        ("SMS_STOP_REPLY", "x" * 641, "DRUMBEAT_SMS_STOP_REPLY is longer than 640 characters"),
        ("SMS_HELP_REPLY", "x" * 641, "DRUMBEAT_SMS_HELP_REPLY is longer than 640 characters"),
    ],
)
def test_it_reports_bad_stream_and_sms_text_settings(settings, name, value, message):
    from drumbeat.mailing.checks import check_channels

    setattr(settings, name, value)

    assert [e.msg for e in check_channels(None) if message in e.msg] != []
    assert len(check_channels(None)) == 1


def test_it_accepts_the_default_stream_and_sms_text_settings(settings):
    from drumbeat.mailing.checks import check_feedback_sender_id, check_sms_texts

    assert check_feedback_sender_id() == [] and check_sms_texts() == []
    settings.SMS_STOP_REPLY = ""  # no confirmation text: the gateway answers nothing
    assert check_sms_texts() == []


def test_it_refuses_a_dkim_key_that_does_not_parse(settings, tmp_path, dkim_key):
    from drumbeat.mailing.checks import check_dkim

    key_file, _ = dkim_key
    lines = key_file.read_text().splitlines()
    broken = tmp_path / "broken.pem"  # the PEM armour is there, the key inside is cut short
    broken.write_text("\n".join([lines[0], *lines[1:4], lines[-1]]) + "\n")

    settings.DKIM_KEY_FILE = str(key_file)
    assert check_dkim() == []
    settings.DKIM_KEY_FILE = str(broken)
    errors = check_dkim()
    assert [e.id for e in errors] == ["drumbeat.E103"]
    assert "broken.pem" in errors[0].msg


def test_it_accepts_the_default_channel_settings(settings):
    from drumbeat.mailing.checks import check_channels

    settings.EMAIL_URL = "smtps://user:p%40ss@smtp.example.org:465"
    settings.SMS_URL = "outbox://"
    settings.FROM_EMAIL = "Drumbeat <marketing@example.org>"
    settings.DKIM_KEY_FILE = ""

    assert check_channels(None) == []


def test_it_accepts_the_laptop_default_sender(settings):
    from drumbeat.mailing.checks import check_channels

    settings.FROM_EMAIL = "Drumbeat <marketing@localhost>"
    settings.DKIM_KEY_FILE = ""

    assert check_channels(None) == []
