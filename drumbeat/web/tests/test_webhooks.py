"""Configuration → Webhooks: administrators register outbound webhooks, see deliveries, replay."""

from __future__ import annotations

import pytest

from drumbeat.automation.models import WebhookDelivery, WebhookEndpoint
from drumbeat.automation.tests.test_outbound_webhooks import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings):
    # The receiver listens on loopback, which webhooks may only call when allowed (netguard).
    settings.WEBHOOK_ALLOW = ["127.0.0.1"]
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def make_endpoint(url: str = "https://hooks.example.org/in", **fields) -> WebhookEndpoint:
    fields.setdefault("events", ["participant.enrolled"])
    return WebhookEndpoint.objects.create(url=url, **fields)


def test_it_creates_a_webhook_and_shows_its_secret(admin_client, alice):
    response = admin_client.post(
        "/configuration/webhooks/new/",
        {
            "url": "https://hooks.example.org/in",
            "events": ["message.opened", "participant.enrolled"],
            "description": "CRM",
            "active": "on",
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/configuration/webhooks/{endpoint.pk}/"
    assert endpoint.events == ["participant.enrolled", "message.opened"]
    assert endpoint.created_by == alice and endpoint.active and len(endpoint.secret) == 64
    page = admin_client.get(response["Location"]).content.decode()
    assert endpoint.secret in page


def test_it_refuses_a_bad_url_or_no_event(admin_client):
    response = admin_client.post(
        "/configuration/webhooks/new/", {"url": "ftp://example.org", "events": []}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter a valid URL" in page and "This field is required" in page
    response = admin_client.post(
        "/configuration/webhooks/new/", {"url": "https://x.example.org", "events": ["nope"]}
    )
    assert "not one of the available choices" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_it_refuses_an_inside_address_next_to_the_url(admin_client, settings):
    settings.WEBHOOK_ALLOW = []
    response = admin_client.post(
        "/configuration/webhooks/new/",
        {"url": "http://127.0.0.1:6379/", "events": ["participant.enrolled"]},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["url"] == ["address not allowed: 127.0.0.1 is loopback."]
    assert "address not allowed: 127.0.0.1 is loopback." in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_it_edits_pauses_and_deletes_a_webhook(admin_client):
    endpoint = make_endpoint()
    response = admin_client.post(
        f"/configuration/webhooks/{endpoint.pk}/",
        {"url": "https://other.example.org/x", "events": ["trace.error"], "description": ""},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events, endpoint.active) == (
        "https://other.example.org/x",
        ["trace.error"],
        False,
    )
    old = endpoint.secret
    admin_client.post(f"/configuration/webhooks/{endpoint.pk}/secret/")
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert admin_client.get(f"/configuration/webhooks/{endpoint.pk}/delete/").status_code == 405
    response = admin_client.post(f"/configuration/webhooks/{endpoint.pk}/delete/")
    assert response.status_code == 302 and not WebhookEndpoint.objects.exists()


def test_it_lists_deliveries_and_replays_one(admin_client, receiver):
    endpoint = make_endpoint(receiver.url)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="participant.enrolled",
        payload={"record_id": 7},
        state="failed",
        attempts=6,
        last_status=500,
        last_error="HTTP 500",
    )
    page = admin_client.get("/configuration/webhooks/").content.decode()
    assert receiver.url in page and "HTTP 500" in page and "Failed" in page
    failed = admin_client.get("/configuration/webhooks/?state=failed").content.decode()
    assert f'action="/configuration/webhook-deliveries/{delivery.pk}/replay/"' in failed
    assert (
        "No deliveries"
        in admin_client.get("/configuration/webhooks/?state=pending").content.decode()
    )
    response = admin_client.post(
        f"/configuration/webhook-deliveries/{delivery.pk}/replay/",
        {"next": f"/configuration/webhooks/{endpoint.pk}/"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/configuration/webhooks/{endpoint.pk}/"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.last_status) == ("delivered", 200)
    assert receiver.bodies()[0]["data"] == {"record_id": 7}


def test_a_test_delivery_reports_its_outcome(admin_client, receiver):
    endpoint = make_endpoint(receiver.url)
    response = admin_client.post(f"/configuration/webhooks/{endpoint.pk}/test/", follow=True)
    assert "Test delivered: HTTP 200" in response.content.decode()
    assert receiver.bodies()[0]["data"] == {"test": True}


def test_webhooks_are_for_administrators_only(admin_client, marketer_client):
    endpoint = make_endpoint()
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="trace.error")
    for url in (
        "/configuration/webhooks/",
        "/configuration/webhooks/new/",
        f"/configuration/webhooks/{endpoint.pk}/",
    ):
        assert marketer_client.get(url).status_code == 403
    for url in (
        f"/configuration/webhooks/{endpoint.pk}/delete/",
        f"/configuration/webhook-deliveries/{delivery.pk}/replay/",
    ):
        assert marketer_client.post(url).status_code == 403
    assert WebhookEndpoint.objects.exists()
    nav = "/configuration/templates/"
    assert "/configuration/webhooks/" not in marketer_client.get(nav).content.decode()
    assert "/configuration/webhooks/" in admin_client.get(nav).content.decode()
    assert admin_client.get("/configuration/webhooks/999/").status_code == 404
