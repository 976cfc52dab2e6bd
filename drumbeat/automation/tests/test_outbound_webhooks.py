"""Outbound event webhooks (automation/outbound.py): deliveries POSTed to a real HTTP receiver
on a loopback port, signed, retried with backoff, replayable; emission is set-based."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drumbeat.automation import outbound, services
from drumbeat.automation.engine.enroll import enroll_campaign
from drumbeat.automation.models import WebhookDelivery, WebhookEndpoint
from drumbeat.contacts.models import Contact
from drumbeat.mailing import events as mail_events
from drumbeat.mailing import services as mailing_services
from drumbeat.mailing.models import Message

from .fixtures import START, add_action, add_email, make_campaign, make_contacts, tick, traces

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HOUR = timedelta(hours=1)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


class Receiver:
    """A real HTTP server on 127.0.0.1 that records each request and answers `status`."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up (timeout)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    # The receiver listens on loopback, which webhooks may only call when allowed (netguard).
    settings.WEBHOOK_ALLOW = ["127.0.0.1"]
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def endpoint(url: str, *events: str, **fields) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url=url, events=list(events), **fields)


def assert_signed(request: dict, secret: str) -> None:
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Drumbeat-Signature"] == expected


def waiting_campaign(bob, **fields):
    """A campaign whose only activity waits a day: enrolment alone happens at start."""
    campaign = make_campaign(bob, **fields)
    add_action(campaign, delay_amount=1, delay_unit="days")
    return campaign


def test_it_posts_a_signed_enrolment_through_the_real_engine(clock, bob, receiver):
    hook = endpoint(receiver.url, "participant.enrolled", description="CRM sync")
    ann = Contact.objects.create(name="Ann", email="ann@example.com")
    campaign = waiting_campaign(bob)
    services.start_campaign(campaign, bob)
    tick()
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert_signed(request, hook.secret)
    delivery = WebhookDelivery.objects.get()
    assert request["headers"]["X-Drumbeat-Event"] == "participant.enrolled"
    assert request["headers"]["X-Drumbeat-Delivery"] == str(delivery.pk)
    assert request["headers"]["Content-Type"] == "application/json"
    body = json.loads(request["body"])
    assert body["id"] == delivery.pk and body["event"] == "participant.enrolled"
    data = body["data"]
    assert (data["campaign_id"], data["record_id"]) == (campaign.pk, ann.pk)
    assert data["target"] == "contacts.contact" and data["state"] == "running"
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    assert delivery.delivered_at == START and delivery.last_duration_ms is not None


def test_a_signature_made_with_another_secret_does_not_match(clock, bob, receiver):
    endpoint(receiver.url, "participant.enrolled")
    Contact.objects.create(name="Ann", email="ann@example.com")
    services.start_campaign(waiting_campaign(bob), bob)
    tick()
    with pytest.raises(AssertionError):
        assert_signed(receiver.requests[0], "not-the-secret")


def test_it_posts_a_message_open_from_the_tracking_pixel(
    clock, bob, receiver, smtp, client, committed
):
    hook = endpoint(receiver.url, "message.opened")
    Contact.objects.create(name="Ann", email="ann@example.com")
    campaign = make_campaign(bob)
    email = add_email(campaign)
    services.start_campaign(campaign, bob)
    tick()
    assert receiver.requests == []  # nothing subscribed to the send itself
    pixel = [u for u in smtp.links(smtp.to("ann@example.com")[0]) if "/t/o/" in u][0]
    clock.move_to(START + HOUR)
    with committed():
        response = client.get(pixel.replace("http://testserver", ""), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200
    tick()
    assert len(receiver.requests) == 1
    assert_signed(receiver.requests[0], hook.secret)
    body = receiver.bodies()[0]
    message = Message.objects.get()
    assert body["event"] == "message.opened"
    assert body["data"]["id"] == message.pk
    assert body["data"]["recipient"] == "ann@example.com"
    assert body["data"]["trace_id"] == traces(email)[0].pk
    assert body["data"]["campaign_id"] == campaign.pk
    assert body["data"]["machine"] is False


def test_traces_and_completions_are_reported(clock, bob):
    hook = endpoint("http://127.0.0.1:9/unused", "trace.processed", "participant.completed")
    contacts = make_contacts(3)
    campaign = make_campaign(bob)
    action = add_action(campaign)
    services.start_campaign(campaign, bob)
    tick(START)
    processed = WebhookDelivery.objects.filter(event="trace.processed", endpoint=hook)
    assert sorted(d.payload["record_id"] for d in processed) == sorted(c.pk for c in contacts)
    assert {d.payload["activity_id"] for d in processed} == {action.pk}
    completed = WebhookDelivery.objects.filter(event="participant.completed")
    assert sorted(d.payload["record_id"] for d in completed) == sorted(c.pk for c in contacts)
    assert not WebhookDelivery.objects.filter(event="participant.enrolled").exists()


def test_a_failed_trace_is_reported_as_trace_error(clock, bob):
    endpoint("http://127.0.0.1:9/unused", "trace.error", "trace.processed")
    Contact.objects.create(name="Ann", email="ann@example.com")
    campaign = make_campaign(bob)
    email = add_email(campaign)
    services.start_campaign(campaign, bob)
    type(email).objects.filter(pk=email.pk).update(template=None)
    tick(START)
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.event == "trace.error"
    assert delivery.payload["reason"] == "no template configured"


def test_an_unsubscribe_is_reported(clock, bob, committed):
    endpoint("http://127.0.0.1:9/unused", "contact.unsubscribed")
    message = Message.objects.create(
        channel="email", recipient="ann@example.com", message_id="<m1@x>", token="tok1"
    )
    with committed():
        mailing_services.unsubscribe_message(message, "too many")
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.event == "contact.unsubscribed"
    assert delivery.payload["address"] == "ann@example.com"
    assert delivery.payload["message_id"] == message.pk
    assert delivery.payload["reason"] == "too many"


def test_inactive_or_unsubscribed_endpoints_get_nothing(clock, bob):
    endpoint("http://127.0.0.1:9/a", "participant.enrolled", active=False)
    endpoint("http://127.0.0.1:9/b", "message.opened")
    make_contacts(2)
    services.start_campaign(waiting_campaign(bob), bob)
    assert not WebhookDelivery.objects.exists()


def test_a_failing_endpoint_is_retried_with_backoff_then_failed(clock, bob, receiver):
    receiver.status = 500
    endpoint(receiver.url, "participant.enrolled")
    Contact.objects.create(name="Ann", email="ann@example.com")
    services.start_campaign(waiting_campaign(bob), bob)
    now = START
    waits = []
    assert outbound.deliver_due(now=now) is False
    delivery = WebhookDelivery.objects.get()
    while delivery.is_pending:
        assert (delivery.last_status, delivery.last_error) == (500, "HTTP 500")
        waits.append(delivery.next_attempt_at - now)
        now = delivery.next_attempt_at
        assert outbound.deliver_due(now=now - timedelta(seconds=1)) is False  # not due yet
        assert len(receiver.requests) == delivery.attempts
        clock.move_to(now)
        outbound.deliver_due(now=now)
        delivery.refresh_from_db()
    assert waits == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=12),
    ]
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 6, None)
    assert len(receiver.requests) == 6


def test_a_timeout_is_recorded_and_retried(clock, bob, receiver, monkeypatch):
    monkeypatch.setattr(outbound, "TIMEOUT", 0.2)
    receiver.delay = 1.0
    endpoint(receiver.url, "participant.enrolled")
    Contact.objects.create(name="Ann", email="ann@example.com")
    services.start_campaign(waiting_campaign(bob), bob)
    outbound.deliver_due(now=START)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1
    assert delivery.last_status is None
    assert "Timeout" in delivery.last_error
    assert delivery.next_attempt_at == START + timedelta(minutes=1)


def test_an_unreachable_endpoint_is_an_error_not_a_crash(clock, bob, settings):
    settings.WEBHOOK_ALLOW = ["127.0.0.0/8"]
    endpoint("http://127.0.0.1:9/closed", "participant.enrolled")
    Contact.objects.create(name="Ann", email="ann@example.com")
    services.start_campaign(waiting_campaign(bob), bob)
    tick()
    delivery = WebhookDelivery.objects.get()
    assert delivery.is_pending and delivery.attempts == 1 and "ConnectError" in delivery.last_error


def test_a_delivery_to_an_inside_address_fails_at_once_without_a_request(
    clock, bob, receiver, settings
):
    """The URL names a host that resolves to loopback (saved before the allow-list changed)."""
    endpoint(receiver.url.replace("127.0.0.1", "localhost"), "participant.enrolled")
    settings.WEBHOOK_ALLOW = []
    Contact.objects.create(name="Ann", email="ann@example.com")
    services.start_campaign(waiting_campaign(bob), bob)
    tick()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 1, None)
    assert delivery.last_error == "address not allowed: 127.0.0.1 is loopback"
    assert receiver.requests == []


def test_a_redirect_is_not_followed(clock, bob, receiver):
    receiver.status = 307
    hook = endpoint(receiver.url, "participant.enrolled")
    delivery = outbound.send_test(hook)
    assert (delivery.state, delivery.last_status) == ("pending", 307)
    assert delivery.last_error == "HTTP 307, redirect not followed"
    assert len(receiver.requests) == 1


def test_replay_sends_a_failed_delivery_again(clock, bob, receiver):
    receiver.status = 500
    hook = endpoint(receiver.url, "participant.enrolled")
    Contact.objects.create(name="Ann", email="ann@example.com")
    services.start_campaign(waiting_campaign(bob), bob)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="failed", attempts=6)
    receiver.status = 204
    delivery.refresh_from_db()
    outbound.replay(delivery)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 204)
    assert len(receiver.requests) == 1
    assert receiver.requests[0]["headers"]["X-Drumbeat-Delivery"] == str(delivery.pk)
    assert_signed(receiver.requests[0], hook.secret)
    outbound.replay(delivery)
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]


def enrol_statements(bob, size: int, name: str) -> tuple[int, list[str]]:
    make_contacts(size, city=name)
    campaign = waiting_campaign(bob, name=name, domain=[["city", "=", name]])
    campaign.state = "running"
    campaign.save()
    outbound.subscribed_events()  # the steady state: the cache is warm (one query per 30 s)
    with CaptureQueriesContext(connection) as ctx:
        assert enroll_campaign(campaign).enrolled == size
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def test_emission_takes_the_same_statements_for_10_or_1000_enrolments(clock, bob):
    endpoint("http://127.0.0.1:9/a", "participant.enrolled")
    endpoint("http://127.0.0.1:9/b", "participant.enrolled", "trace.error")
    small, _ = enrol_statements(bob, 10, "Small")
    large, _ = enrol_statements(bob, 1000, "Large")
    assert small == large
    assert WebhookDelivery.objects.count() == 2 * 1010


def test_without_endpoints_emission_costs_no_statement(clock, bob):
    small, statements = enrol_statements(bob, 10, "Small")
    large, _ = enrol_statements(bob, 1000, "Large")
    assert small == large
    assert not any("webhook" in sql for sql in statements)
    assert not WebhookDelivery.objects.exists()


def test_saving_an_endpoint_refreshes_the_subscription_cache(db):
    assert outbound.subscribed_events() == frozenset()
    hook = endpoint("http://127.0.0.1:9/a", "message.clicked")
    assert outbound.subscribed_events() == {"message.clicked"}
    hook.active = False
    hook.save()
    assert outbound.subscribed_events() == frozenset()


def test_an_sms_stop_is_reported(clock, bob, committed):
    endpoint("http://127.0.0.1:9/unused", "contact.unsubscribed")
    message = Message.objects.create(
        channel="sms", recipient="+15555550101", message_id="<s1@x>", token="tok2"
    )
    with committed():
        assert mailing_services.stop_sms(message, "+1 555 555 0101")
    (delivery,) = WebhookDelivery.objects.all()
    assert (delivery.payload["channel"], delivery.payload["address"]) == ("sms", "+15555550101")


def test_the_celery_task_delivers_what_is_due(clock, bob, receiver):
    from drumbeat.automation.tasks import deliver_webhooks

    endpoint(receiver.url, "participant.enrolled")
    make_contacts(3)
    services.start_campaign(waiting_campaign(bob), bob)
    assert deliver_webhooks() == {"batches": 1}
    assert len(receiver.requests) == 3
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert deliver_webhooks() == {"batches": 1}  # nothing left: one look, no request
    assert len(receiver.requests) == 3


def batch_statements(bob, size: int, name: str) -> int:
    from drumbeat.automation.engine.execute import execute_one_batch

    make_contacts(size, city=name)
    campaign = make_campaign(bob, name=name, domain=[["city", "=", name]])
    activity = add_action(campaign)
    services.start_campaign(campaign, bob)
    outbound.subscribed_events()
    with CaptureQueriesContext(connection) as ctx:
        execute_one_batch(activity, START, limit=1000)
    return len(ctx.captured_queries)


def test_trace_and_completion_emission_is_constant_per_batch(clock, bob):
    endpoint("http://127.0.0.1:9/a", "trace.processed", "participant.completed")
    assert batch_statements(bob, 10, "Small") == batch_statements(bob, 1000, "Large")
    assert WebhookDelivery.objects.filter(event="trace.processed").count() == 1010
    assert WebhookDelivery.objects.filter(event="participant.completed").count() == 1010


def test_the_delivery_log_forgets_old_finished_deliveries_only(clock, settings):
    settings.WEBHOOK_LOG_DAYS = 30
    hook = endpoint("http://127.0.0.1:9/hook", "participant.enrolled")
    old = START - timedelta(days=31)

    def delivery(state: str, created_at) -> WebhookDelivery:
        return WebhookDelivery.objects.create(
            endpoint=hook, event="participant.enrolled", state=state, created_at=created_at
        )

    old_delivered = delivery("delivered", old)
    old_failed = delivery("failed", old)
    old_pending = delivery("pending", old)  # still being retried: kept whatever its age
    recent = delivery("delivered", START - timedelta(days=29))

    assert outbound.prune_log(limit=1) == 1  # oldest first, at most `limit` per call
    assert outbound.prune_log() == 1
    assert outbound.prune_log() == 0

    left = set(WebhookDelivery.objects.values_list("id", flat=True))
    assert left == {old_pending.pk, recent.pk}
    assert not {old_delivered.pk, old_failed.pk} & left
    settings.WEBHOOK_LOG_DAYS = 0
    recent.created_at = START - timedelta(days=400)
    recent.save()
    assert outbound.prune_log() == 0


def test_a_complaint_queues_message_complained(clock, bob, smtp, committed):
    hook = endpoint("http://127.0.0.1:9/unused", "message.complained", "message.bounced")
    Contact.objects.create(name="Ann", email="ann@example.com")
    campaign = make_campaign(bob)
    add_email(campaign)
    services.start_campaign(campaign, bob)
    tick()
    message = Message.objects.get()
    with committed():
        mail_events.mark_complained_many([message.pk], START + HOUR)

    [delivery] = WebhookDelivery.objects.filter(endpoint=hook)
    assert delivery.event == "message.complained"
    assert (delivery.payload["id"], delivery.payload["recipient"]) == (
        message.pk,
        "ann@example.com",
    )
