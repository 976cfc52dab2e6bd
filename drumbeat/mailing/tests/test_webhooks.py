import hashlib
import hmac
import json

import pytest

from drumbeat.mailing.models import EmailBlacklist, Message, WebhookEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
SECRET = "webhook-secret"


def signed(client, path, payload, secret=SECRET, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        path, data=body, content_type="application/json", HTTP_X_DRUMBEAT_SIGNATURE=signature
    )


@pytest.fixture
def message(mail_settings):
    return Message.objects.create(
        channel="email",
        trace_id=1,
        recipient="alice@example.com",
        message_id="<abc.1@in.example.org>",
        token="a" * 32,
        state=Message.State.SENT,
    )


@pytest.fixture
def sms(mail_settings):
    from drumbeat.mailing.tokens import make_token

    return Message.objects.create(
        channel="sms",
        trace_id=2,
        recipient="+15555550101",
        message_id="<sms.2@in.example.org>",
        token=make_token(),
        state=Message.State.SENT,
    )


def test_it_applies_provider_events(client, message, django_capture_on_commit_callbacks):
    from drumbeat.lib import hooks

    seen = []
    hooks.listen_message_event(seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = signed(
                client,
                "/api/v1/webhooks/mail-events",
                [
                    {"id": "e1", "type": "click", "message_id": "abc.1@in.example.org",
                     "at": "2026-01-05T10:00:00Z"},
                    {"id": "e2", "type": "bounce", "message_id": "<abc.1@in.example.org>",
                     "bounce_kind": "soft", "at": "2026-01-05T11:00:00+00:00"},
                    {"id": "e3", "type": "open", "message_id": "<unknown@x>"},
                ],
            )  # fmt: skip
    finally:
        hooks._message_listeners.remove(seen.append)

    assert response.status_code == 200
    assert response.json() == {"processed": 2, "duplicates": 0, "unknown": 1}
    message.refresh_from_db()
    assert message.clicked_at.isoformat() == "2026-01-05T10:00:00+00:00"
    assert (message.state, message.bounce_kind) == (Message.State.BOUNCED, "soft")
    assert [e.kind for e in seen] == ["open", "click", "bounce"]


def test_it_is_idempotent_on_provider_event_ids(client, message):
    event = [{"id": "e1", "type": "reply", "message_id": message.message_id}]

    first = signed(client, "/api/v1/webhooks/mail-events", event)
    replied_at = Message.objects.get().replied_at
    second = signed(client, "/api/v1/webhooks/mail-events", event)

    assert first.json()["processed"] == 1
    assert second.json() == {"processed": 0, "duplicates": 1, "unknown": 0}
    assert Message.objects.get().replied_at == replied_at
    assert WebhookEvent.objects.count() == 1


def test_it_blacklists_on_complaint(client, message):
    signed(
        client,
        "/api/v1/webhooks/mail-events",
        [{"id": "c1", "type": "complaint", "message_id": message.message_id}],
    )

    entry = EmailBlacklist.objects.get()
    assert (entry.reason, entry.message_id) == (
        f"spam complaint about message {message.pk}",
        message.pk,
    )
    message.refresh_from_db()
    assert message.complained_at is not None and message.state == "sent"


@pytest.mark.parametrize(
    "raw, detail",
    [
        (b"{not json", "malformed JSON"),
        (b'"a string"', "expected a JSON list"),
        (b'[{"type": "open", "message_id": "x"}]', "'id' is required"),
        (b'[{"id": "1", "type": "explode", "message_id": "x"}]', "'type' must be one of"),
        (b'[{"id": "1", "type": "open", "message_id": "x", "at": "yesterday"}]', "ISO 8601"),
        (
            b'[{"id": "1", "type": "bounce", "message_id": "x", "bounce_kind": "big"}]',
            "hard, soft or block",
        ),
        (b"[1]", "expected an object"),
    ],
)
def test_it_refuses_malformed_payloads_with_400_and_no_change(client, message, raw, detail):
    response = signed(client, "/api/v1/webhooks/mail-events", None, raw=raw)

    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert not WebhookEvent.objects.exists()


def test_it_applies_nothing_when_one_event_of_the_list_is_bad(client, message):
    response = signed(
        client,
        "/api/v1/webhooks/mail-events",
        [
            {"id": "ok", "type": "open", "message_id": message.message_id},
            {"id": "bad", "type": "open"},
        ],
    )

    assert response.status_code == 400
    assert Message.objects.get().opened_at is None


def test_it_refuses_a_bad_signature_with_401_and_no_change(client, message):
    payload = [{"id": "e1", "type": "open", "message_id": message.message_id}]

    wrong = signed(client, "/api/v1/webhooks/mail-events", payload, secret="guess")
    missing = client.post(
        "/api/v1/webhooks/mail-events", data=json.dumps(payload), content_type="application/json"
    )

    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert Message.objects.get().opened_at is None
    assert not WebhookEvent.objects.exists()


def test_it_refuses_everything_when_no_secret_is_configured(client, message, settings):
    settings.WEBHOOK_SECRET = ""

    response = signed(client, "/api/v1/webhooks/mail-events", [], secret="")

    assert response.status_code == 401


def test_it_only_accepts_post(client, message):
    assert client.get("/api/v1/webhooks/mail-events").status_code == 405
    assert client.get("/api/v1/webhooks/sms-status").status_code == 405


def test_it_marks_sms_failures_bounced(client, sms):
    response = signed(
        client,
        "/api/v1/webhooks/sms-status",
        [
            {"id": "s1", "status": "delivered", "message_id": sms.token},
            {"id": "s2", "status": "failed", "message_id": sms.token, "reason": "unreachable"},
        ],
    )

    assert response.json() == {"processed": 2, "duplicates": 0, "unknown": 0}
    sms.refresh_from_db()
    assert (sms.state, sms.bounce_kind, sms.failure_reason) == (
        Message.State.BOUNCED,
        "hard",
        "unreachable",
    )
