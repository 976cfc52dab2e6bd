"""Outbound webhooks over the API: endpoint CRUD, deliveries, replay; administrators only."""

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


def test_it_creates_reads_updates_and_deletes_an_endpoint(admin_api, alice):
    r = admin_api.post(
        "webhook-endpoints",
        {"url": "https://crm.example.org/in", "events": ["message.opened", "trace.error"]},
    )
    assert r.status_code == 201, r.content
    body = r.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["id"] == endpoint.pk and body["secret"] == endpoint.secret
    assert body["events"] == ["trace.error", "message.opened"]
    assert (body["created_by"], body["active"], body["description"]) == (alice.pk, True, "")
    assert admin_api.get(f"webhook-endpoints/{endpoint.pk}").json()["url"] == endpoint.url
    listing = admin_api.get("webhook-endpoints").json()
    assert listing["count"] == 1 and listing["items"][0]["id"] == endpoint.pk
    r = admin_api.patch(f"webhook-endpoints/{endpoint.pk}", {"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert r.json()["events"] == ["trace.error", "message.opened"]
    r = admin_api.post(f"webhook-endpoints/{endpoint.pk}/rotate-secret")
    assert r.status_code == 200 and r.json()["secret"] != body["secret"]
    assert admin_api.delete(f"webhook-endpoints/{endpoint.pk}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"url": "ftp://example.org/x", "events": ["trace.error"]}, "url"),
        ({"url": "not a url", "events": ["trace.error"]}, "url"),
        ({"url": "https://example.org/x", "events": []}, "events"),
        ({"url": "https://example.org/x", "events": ["trace.lost"]}, "events.0"),
        ({"events": ["trace.error"]}, "url"),
    ],
)
def test_bad_endpoints_are_refused_naming_the_field(admin_api, payload, field):
    r = admin_api.post("webhook-endpoints", payload)
    assert r.status_code == 422, r.content
    assert field in [e["field"] for e in r.json()["errors"]]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("http://127.0.0.1:6379/", "127.0.0.1 is loopback"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is loopback (embeds 127.0.0.1)"),
        ("http://localhost:8000/in", "localhost is loopback"),
        ("https://10.0.0.7/in", "10.0.0.7 is private"),
    ],
)
def test_inside_addresses_are_refused_naming_the_url(admin_api, settings, url, reason):
    settings.WEBHOOK_ALLOW = []
    r = admin_api.post("webhook-endpoints", {"url": url, "events": ["trace.error"]})
    assert r.status_code == 422, r.content
    (error,) = r.json()["errors"]
    assert error["field"] == "url" and f"address not allowed: {reason}" in error["message"]
    assert not WebhookEndpoint.objects.exists()


def test_an_allowed_inside_address_is_accepted(admin_api, settings):
    settings.WEBHOOK_ALLOW = ["10.0.5.0/24"]
    r = admin_api.post(
        "webhook-endpoints", {"url": "http://10.0.5.9/in", "events": ["trace.error"]}
    )
    assert r.status_code == 201, r.content


def test_an_update_is_validated_too(admin_api):
    endpoint = WebhookEndpoint.objects.create(url="https://a.example.org", events=["trace.error"])
    r = admin_api.patch(f"webhook-endpoints/{endpoint.pk}", {"url": "javascript:alert(1)"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url"
    r = admin_api.patch(f"webhook-endpoints/{endpoint.pk}", {"url": "http://127.0.0.1:6379/"})
    assert r.status_code == 422 and "127.0.0.1 is loopback" in r.json()["errors"][0]["message"]
    r = admin_api.patch(f"webhook-endpoints/{endpoint.pk}", {"events": None})
    assert r.status_code == 422
    endpoint.refresh_from_db()
    assert endpoint.url == "https://a.example.org"


def test_it_lists_and_filters_deliveries_then_replays_one(admin_api, receiver):
    endpoint = WebhookEndpoint.objects.create(url=receiver.url, events=["trace.error"])
    other = WebhookEndpoint.objects.create(url="https://b.example.org", events=["trace.error"])
    failed = WebhookDelivery.objects.create(
        endpoint=endpoint, event="trace.error", payload={"id": 5}, state="failed", attempts=6
    )
    WebhookDelivery.objects.create(endpoint=other, event="trace.error", payload={"id": 6})
    assert admin_api.get("webhook-deliveries").json()["count"] == 2
    page = admin_api.get("webhook-deliveries", state="failed").json()
    assert [d["id"] for d in page["items"]] == [failed.pk]
    assert page["items"][0]["endpoint"] == endpoint.pk
    assert admin_api.get("webhook-deliveries", endpoint=other.pk).json()["count"] == 1
    assert admin_api.get("webhook-deliveries", state="lost").status_code == 422
    r = admin_api.post(f"webhook-deliveries/{failed.pk}/replay")
    assert r.status_code == 200, r.content
    assert (r.json()["state"], r.json()["attempts"], r.json()["last_status"]) == (
        "delivered",
        1,
        200,
    )
    assert receiver.bodies()[0]["data"] == {"id": 5}
    assert admin_api.get(f"webhook-deliveries/{failed.pk}").json()["state"] == "delivered"


def test_webhook_routes_are_for_administrators(marketing_api):
    endpoint = WebhookEndpoint.objects.create(url="https://a.example.org", events=["trace.error"])
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="trace.error")
    for method, path in [
        ("GET", "webhook-endpoints"),
        ("POST", "webhook-endpoints"),
        ("GET", f"webhook-endpoints/{endpoint.pk}"),
        ("PATCH", f"webhook-endpoints/{endpoint.pk}"),
        ("DELETE", f"webhook-endpoints/{endpoint.pk}"),
        ("GET", "webhook-deliveries"),
        ("POST", f"webhook-deliveries/{delivery.pk}/replay"),
    ]:
        body = {"url": "https://x.example.org", "events": ["trace.error"]}
        r = marketing_api.request(method, path, body if method in ("POST", "PATCH") else None)
        assert r.status_code == 403, (method, path, r.content)
        assert "administrators" in r.json()["detail"]
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert WebhookDelivery.objects.get().attempts == 0


def test_unknown_ids_are_404(admin_api):
    for method, path in [
        ("GET", "webhook-endpoints/999"),
        ("DELETE", "webhook-endpoints/999"),
        ("GET", "webhook-deliveries/999"),
        ("POST", "webhook-deliveries/999/replay"),
    ]:
        r = admin_api.request(method, path, {} if method == "POST" else None)
        assert r.status_code == 404 and r.json()["detail"].startswith("Not found")


def test_the_schemas_have_examples(admin_api):
    spec = admin_api.get("openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("EndpointOut", "EndpointIn", "DeliveryOut"):
        assert schemas[name].get("examples"), name
    assert "/api/v1/webhook-deliveries/{id}/replay" in spec["paths"]
