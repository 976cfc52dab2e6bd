import pytest

from drumbeat.accounts.models import User
from drumbeat.mailing.models import OutboxEntry
from drumbeat.mailing.sending import Recipient, send_emails, send_sms

from .conftest import RENDER_FIELDS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def bob_marketer(client):
    user = User.objects.create_user("bob", password="pw-bob-123456")
    client.force_login(user)
    return user


@pytest.fixture
def outbox(mail_settings, email_template, sms_template, alice):
    mail_settings.EMAIL_URL = mail_settings.SMS_URL = "outbox://"
    kwargs = {"campaign_id": 1, "activity_id": 1, "render_fields": RENDER_FIELDS}
    send_emails(email_template, [Recipient(1, alice, alice.email)], **kwargs)
    send_sms(sms_template, [Recipient(2, alice, alice.phone)], **kwargs)
    return OutboxEntry.objects.get(channel="email"), OutboxEntry.objects.get(channel="sms")


def test_it_requires_login(client, outbox):
    assert client.get("/outbox/").status_code == 302
    assert client.get(f"/outbox/{outbox[0].pk}/").status_code == 302


def test_it_lists_and_filters_the_outbox(client, bob_marketer, outbox):
    page = client.get("/outbox/")
    only_sms = client.get("/outbox/?channel=sms")

    assert page.status_code == 200
    assert b"Welcome Alice" in page.content and b"(text message)" in page.content
    assert b"Welcome Alice" not in only_sms.content
    assert b"alice@example.com" not in client.get("/outbox/?q=nobody").content


def test_it_shows_an_email_sandboxed(client, bob_marketer, outbox):
    email, sms = outbox

    page = client.get(f"/outbox/{email.pk}/")

    assert page.status_code == 200
    assert b'sandbox=""' in page.content
    assert b"Hello Alice," in page.content
    assert b"List-Unsubscribe" in page.content
    assert b"Hi Alice, see" in client.get(f"/outbox/{sms.pk}/").content
    assert client.get("/outbox/999999/").status_code == 404


def test_it_shows_the_stream_headers_the_envelope_and_the_sms_count(client, bob_marketer, outbox):
    email, sms = outbox

    email_page = client.get(f"/outbox/{email.pk}/").content.decode()
    sms_page = client.get(f"/outbox/{sms.pk}/").content.decode()

    assert "<dt>List-Id</dt><dd>&lt;campaign-1.list-id.in.example.org&gt;</dd>" in email_page
    assert "<dt>Feedback-ID</dt><dd>c1:a1:drumbeat</dd>" in email_page
    assert f"<dt>Return-Path</dt><dd>{email.sender}</dd>" in email_page
    # "Hi Alice, see https://example.com/sale. Stop: http://testserver/sms/stop/" (73) + 32
    assert "105 characters · 1 segment (GSM-7)" in sms_page
