"""Configuration → Webhooks in a real browser: create, test against a loopback receiver,
replay, delete with confirmation."""

import pytest
from playwright.sync_api import expect

from drumbeat.automation.models import WebhookDelivery, WebhookEndpoint
from drumbeat.automation.tests.test_outbound_webhooks import Receiver

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver(settings):
    # The receiver listens on loopback, which webhooks may only call when allowed (netguard).
    settings.WEBHOOK_ALLOW = ["127.0.0.1"]
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def test_an_administrator_manages_a_webhook(page, live_server, alice, receiver, tmp_path):
    login(page, live_server, "alice")
    page.goto(live_server.url + "/configuration/templates/")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="No webhooks yet")).to_be_visible()
    page.get_by_role("link", name="New webhook").first.click()
    page.fill("#id_url", receiver.url)
    page.get_by_label("Participant enrolled").check()
    page.get_by_label("Message opened").check()
    page.fill("#id_description", "CRM sync")
    page.get_by_role("button", name="Create webhook").click()
    endpoint = WebhookEndpoint.objects.get()
    expect(page.locator("#webhook-secret")).to_have_text(endpoint.secret)
    assert endpoint.events == ["participant.enrolled", "message.opened"]

    page.get_by_role("button", name="Send a test").click()
    expect(page.locator(".toast")).to_contain_text("Test delivered: HTTP 200")
    expect(page.locator("#webhook-deliveries")).to_contain_text("Delivered")
    page.get_by_role("button", name="Replay").click()
    expect(page.locator(".toast")).to_contain_text("replayed: HTTP 200")
    assert len(receiver.requests) == 2
    page.screenshot(path=str(tmp_path / "webhook.png"), full_page=True)

    page.get_by_role("button", name="Delete").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Delete the webhook")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="No webhooks yet")).to_be_visible()
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()
