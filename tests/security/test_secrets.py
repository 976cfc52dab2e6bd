"""Secrets (the SMTP password in DRUMBEAT_EMAIL_URL, the SMS gateway token, API tokens, the DKIM
key) never appear in logs, in trace or message reasons, on pages, or on error pages."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.test import Client, RequestFactory
from django.views.debug import technical_500_response

from drumbeat.accounts.models import ApiToken
from drumbeat.automation import services
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Trace
from drumbeat.automation.tests.fixtures import add_email, make_campaign
from drumbeat.contacts.models import Contact
from drumbeat.mailing.models import Message

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SMTP_PASSWORD = "Sup3rS3cretSmtpPassw0rd"
SMS_TOKEN = "SmsGatewayT0kenXYZ"
DB_PASSWORD = "DbPassw0rdQWERTY"
DKIM_MATERIAL = "set by dkim_key"


class RefusingAuth:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        return "250 OK"


def deny(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)


@pytest.fixture
def refusing_smtp(settings):
    from drumbeat.automation.tests.fixtures import free_port

    port = free_port()
    controller = Controller(
        RefusingAuth(),
        hostname="127.0.0.1",
        port=port,
        authenticator=deny,
        auth_require_tls=False,
    )
    controller.start()
    settings.EMAIL_URL = f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:{port}?timeout=5"
    try:
        yield port
    finally:
        controller.stop()


def leaked(text: str) -> list[str]:
    return [s for s in (SMTP_PASSWORD, SMS_TOKEN, DB_PASSWORD, DKIM_MATERIAL) if s in text]


@pytest.fixture
def dkim_key(settings, tmp_path):
    """A real RSA key for DKIM; DKIM_MATERIAL becomes a line from its body."""
    global DKIM_MATERIAL
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True, capture_output=True)
    DKIM_MATERIAL = key.read_text().splitlines()[3]
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR, settings.DKIM_KEY_FILE = "ex.org", "s1", str(key)
    return key


@pytest.mark.parametrize("server", ["refusing auth", "unreachable"])
def test_a_failing_smtp_send_never_shows_the_password(
    settings, caplog, refusing_smtp, dkim_key, alice, server
):
    from drumbeat.automation.tests.fixtures import free_port

    if server == "unreachable":
        settings.EMAIL_URL = f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:{free_port()}?timeout=2"
    settings.SMS_URL = f"https://{SMS_TOKEN}@sms.example/v1/messages"
    caplog.set_level(logging.DEBUG)
    Contact.objects.create(name="Carol", email="carol@example.com")
    campaign = make_campaign(alice)
    add_email(campaign)
    services.start_campaign(campaign, alice)

    run_once()

    trace = Trace.objects.get()
    message = Message.objects.get()
    assert message.state in {Message.State.DEFERRED, Message.State.ERROR}
    assert leaked(caplog.text) == []
    assert leaked(f"{trace.reason} {message.failure_reason}") == []
    client = Client()
    client.force_login(alice)
    for url in (
        f"/campaigns/{campaign.pk}/",
        "/settings/",
        f"/records/contacts/{trace.participant.record_id}/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert leaked(response.content.decode()) == [], url


def test_the_debug_error_page_hides_service_credentials(settings, dkim_key, rf: RequestFactory):
    settings.DEBUG = True
    settings.EMAIL_URL = f"smtps://mailer:{SMTP_PASSWORD}@smtp.example:465"
    settings.SMS_URL = f"https://{SMS_TOKEN}@sms.example/v1"
    settings.DATABASE_URL = f"postgresql://drumbeat:{DB_PASSWORD}@db.example/drumbeat"
    settings.BROKER_URL = f"redis://:{DB_PASSWORD}@redis.example:6379/0"
    request = rf.get("/boom", HTTP_AUTHORIZATION=f"Bearer dbt_{SMS_TOKEN}")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())

    page = response.content.decode()
    assert "boom" in page
    assert leaked(page) == []


def test_the_production_error_page_is_generic(settings, alice):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(alice)

    response = client.get("/records/contacts/999999999/")

    assert response.status_code == 404
    assert b"Traceback" not in response.content and b"SECRET_KEY" not in response.content


def test_api_tokens_stay_out_of_logs_and_pages(caplog, alice, bob):
    caplog.set_level(logging.DEBUG)
    token, raw = ApiToken.issue(bob, "sync")
    secret_part = raw[len(token.prefix) :]
    Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/contacts")
    Client(HTTP_AUTHORIZATION=f"Bearer {raw}x").get("/api/v1/contacts")
    admin = Client()
    admin.force_login(alice)
    listed = admin.get("/settings/tokens/").content.decode()
    api_listed = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/tokens").content.decode()

    assert token.prefix in listed
    for text in (caplog.text, listed, api_listed):
        assert secret_part not in text
    assert ApiToken.objects.filter(token_hash__contains=secret_part).count() == 0
