"""Oversized requests and inbound messages are refused without a 500 and without writes;
login brute force is throttled by django-axes (even the right password is refused once
locked)."""

from __future__ import annotations

import smtplib

import pytest
from django.test import Client

from drumbeat.automation.tests.fixtures import free_port
from drumbeat.contacts.models import Contact
from drumbeat.mailing import inbound

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def as_alice(alice):
    client = Client()
    client.force_login(alice)
    return client


def test_it_refuses_a_form_post_over_the_upload_limit(as_alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)

    response = as_alice.post("/records/contacts/new/", {"name": big, "email": "big@example.com"})

    assert response.status_code == 400
    assert not Contact.objects.exists()


def test_it_refuses_too_many_form_fields(as_alice, settings):
    data = {f"f{i}": "x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    data["name"] = "Many"
    assert as_alice.post("/records/contacts/new/", data).status_code == 400
    assert not Contact.objects.exists()


def test_the_api_refuses_an_oversized_json_body(alice, settings):
    from drumbeat.accounts.models import ApiToken

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    _, raw = ApiToken.issue(alice, "t")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}'

    response = client.post("/api/v1/contacts", body, content_type="application/json")

    assert 400 <= response.status_code < 500
    assert not Contact.objects.exists()


def test_it_drops_an_oversized_inbound_message_to_no_known_token(settings):
    settings.INBOUND_MAX_BYTES = 1024
    data = b"From: x@example.org\r\nSubject: big\r\n\r\n" + b"y" * 2048

    result = inbound.process_inbound(["reply+" + "0" * 32 + "@in.example.org"], data)

    assert result.kind == "dropped"
    assert result.reason == "2085 bytes, over the 1024 limit"


def test_the_inbound_smtp_server_refuses_an_oversized_message(settings):
    settings.INBOUND_DOMAIN = "in.example.org"
    settings.INBOUND_MAX_BYTES = 4096
    port = free_port()
    controller = inbound.make_controller("127.0.0.1", port)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            body = b"Subject: big\r\n\r\n" + b"y" * 8192
            with pytest.raises(smtplib.SMTPException) as refused:
                client.sendmail("x@example.org", ["reply+abc@in.example.org"], body)
    finally:
        controller.stop()
    code = (
        getattr(refused.value, "smtp_code", None)
        or next(iter(getattr(refused.value, "recipients", {}).values()), (None,))[0]
    )
    assert code == 552


@pytest.fixture
def lockout(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_ENABLED = True


def login(client: Client, password: str):
    return client.post("/login/", {"username": "bob", "password": password}, REMOTE_ADDR="10.0.0.9")


def test_it_locks_an_account_after_repeated_failures(lockout, bob):
    client = Client()
    for _ in range(3):
        response = login(client, "wrong")
        assert "_auth_user_id" not in client.session

    response = login(client, "pw-bob-long-enough")

    assert response.status_code in {403, 429}
    assert "_auth_user_id" not in client.session


def test_it_lets_the_right_password_in_below_the_limit(lockout, bob):
    client = Client()
    login(client, "wrong")
    login(client, "wrong")

    response = login(client, "pw-bob-long-enough")

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(bob.pk)
