"""`POST /api/v1/webhooks/sms-inbound`: what people text back (STOP, START, HELP, replies)."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import RequestFactory
from django.utils import timezone

from drumbeat.lib import hooks
from drumbeat.mailing.models import InboundSms, Message, PhoneBlacklist, WebhookEvent
from drumbeat.mailing.sms_webhook import twilio_signature_ok
from drumbeat.mailing.tokens import make_token

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
SECRET = "webhook-secret"
PATH = "/api/v1/webhooks/sms-inbound"
NUMBER = "+15555550101"
STOP_REPLY = "You will receive no more messages from us. Reply START to subscribe again."


def post_json(client, payload, secret=SECRET, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        PATH, data=body, content_type="application/json", HTTP_X_DRUMBEAT_SIGNATURE=signature
    )


def post_form(client, fields, **headers):
    body = urlencode(fields)
    if "HTTP_X_TWILIO_SIGNATURE" not in headers:
        headers["HTTP_X_DRUMBEAT_SIGNATURE"] = hmac.new(
            SECRET.encode(), body.encode(), hashlib.sha256
        ).hexdigest()
    return client.post(PATH, data=body, content_type="application/x-www-form-urlencoded", **headers)


def sms(text, id="SM1", sender=NUMBER):  # noqa: A002
    return {"id": id, "from": sender, "to": "+15550001111", "text": text}


def sent_sms(recipient=NUMBER, minutes_ago=60, **fields):
    return Message.objects.create(
        channel="sms",
        recipient=recipient,
        message_id=f"<{make_token()}@in.example.org>",
        token=make_token(),
        state=Message.State.SENT,
        sent_at=timezone.now() - timedelta(minutes=minutes_ago),
        **fields,
    )


@pytest.fixture
def heard(mail_settings):
    """What the webhook tells the listeners: unsubscriptions and message events."""
    seen: dict[str, list] = {"unsubscribed": [], "message": []}
    hooks.listen_unsubscribed(seen["unsubscribed"].append)
    hooks.listen_message_event(seen["message"].append)
    yield seen
    hooks._unsubscribed_listeners.remove(seen["unsubscribed"].append)
    hooks._message_listeners.remove(seen["message"].append)


def test_it_blacklists_on_stop_and_answers_the_confirmation(
    client, heard, django_capture_on_commit_callbacks
):
    older = sent_sms(minutes_ago=120, campaign_id=4)
    latest = sent_sms(minutes_ago=5, campaign_id=5, record_model="contacts.contact", record_id=9)
    sent_sms(recipient="+15555550199")  # another person's

    with django_capture_on_commit_callbacks(execute=True):
        answer = post_json(client, sms("STOP"))

    assert answer.status_code == 200
    assert answer.json() == {"kind": "stop", "reply": STOP_REPLY, "duplicate": False}
    entry = PhoneBlacklist.objects.get()
    assert (entry.number, entry.active) == (NUMBER, True)
    assert entry.reason == "opted out by SMS reply (STOP)"
    inbound = InboundSms.objects.get()
    assert (inbound.kind, inbound.sender, inbound.text, inbound.message) == (
        "stop",
        NUMBER,
        "STOP",
        latest,
    )
    assert inbound.message != older
    [event] = heard["unsubscribed"]
    assert (event.channel, event.address, event.message_id, event.campaign_id) == (
        "sms",
        NUMBER,
        latest.pk,
        5,
    )
    assert (event.record_model, event.record_id) == ("contacts.contact", 9)
    assert event.reason == "opted out by SMS reply (STOP)"


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", "  Stop  ", "Stop.", "STOP!", "stop all", "STOPALL", "Unsubscribe",
     "cancel", "End", "QUIT", "Arrêt", "ARRET", "halt", "s t o p", "\tstop\n"],
)  # fmt: skip
def test_it_reads_every_opt_out_keyword_whatever_its_case_and_spaces(client, heard, text):
    answer = post_json(client, sms(text))

    assert answer.json()["kind"] == "stop"
    assert PhoneBlacklist.objects.filter(number=NUMBER, active=True).exists()


@pytest.mark.parametrize(
    "text", ["stop please", "Stopping by tomorrow", "don't stop", "STOP2", "", "🛑"]
)
def test_it_takes_other_texts_as_replies_without_blacklisting(client, heard, text):
    message = sent_sms()

    answer = post_json(client, sms(text))

    assert answer.json() == {"kind": "reply", "reply": None, "duplicate": False}
    assert not PhoneBlacklist.objects.exists()
    inbound = InboundSms.objects.get()
    assert (inbound.kind, inbound.text, inbound.message) == ("reply", text, message)


def test_a_reply_is_kept_with_the_latest_sms_and_fires_no_campaign_event(
    client, heard, django_capture_on_commit_callbacks
):
    sent_sms(minutes_ago=90)
    latest = sent_sms(minutes_ago=10)
    unsent = sent_sms()
    Message.objects.filter(pk=unsent.pk).update(state=Message.State.OUTGOING, sent_at=None)

    with django_capture_on_commit_callbacks(execute=True):
        post_json(client, sms("Yes, I'll come on Friday"))

    inbound = InboundSms.objects.get()
    assert inbound.message == latest
    latest.refresh_from_db()
    assert latest.replied_at is None  # SMS has no reply trigger: the engine is not told
    assert heard["message"] == [] and heard["unsubscribed"] == []


def test_a_reply_from_a_number_never_texted_is_kept_without_a_message(client, heard):
    post_json(client, sms("Who is this?", sender="+15555550142"))

    inbound = InboundSms.objects.get()
    assert (inbound.sender, inbound.message) == ("+15555550142", None)


@pytest.mark.parametrize("text", ["START", "unstop", " Start "])
def test_start_lifts_the_blacklisting(client, heard, text):
    post_json(client, sms("STOP", id="SM1"))

    answer = post_json(client, sms(text, id="SM2"))

    assert answer.json() == {
        "kind": "start",
        "reply": "You are subscribed again. Reply STOP to opt out.",
        "duplicate": False,
    }
    entry = PhoneBlacklist.objects.get()
    assert entry.active is False
    assert entry.reason == f"opted in by SMS reply ({text.strip().upper()})"


def test_help_answers_the_help_text_and_changes_nothing(client, heard, settings):
    settings.SMS_HELP_REPLY = "Acme offers: reply STOP to end. Help: acme.example/help"

    answer = post_json(client, sms("help"))

    assert answer.json()["reply"] == "Acme offers: reply STOP to end. Help: acme.example/help"
    assert not PhoneBlacklist.objects.exists()
    assert InboundSms.objects.get().kind == "help"


def test_it_is_idempotent_on_the_gateway_message_id(
    client, heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = post_json(client, sms("STOP", id="SM1"))
    post_json(client, sms("START", id="SM2"))
    with django_capture_on_commit_callbacks(execute=True):
        again = post_json(client, sms("STOP", id="SM1"))  # the gateway retries

    assert first.json()["duplicate"] is False
    assert again.json() == {"kind": "stop", "reply": STOP_REPLY, "duplicate": True}
    assert PhoneBlacklist.objects.get().active is False  # the later START stands
    assert InboundSms.objects.count() == 2
    assert WebhookEvent.objects.filter(source="sms-in").count() == 2
    assert len(heard["unsubscribed"]) == 1


def test_it_answers_a_form_post_with_twiml(client, heard):
    answer = post_form(
        client,
        {
            "MessageSid": "SM9",
            "From": NUMBER,
            "To": "+15550001111",
            "Body": "Stop",
            "NumSegments": "1",
        },
    )

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/xml")
    assert answer.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Message>{STOP_REPLY}</Message></Response>\n"
    )
    assert PhoneBlacklist.objects.get().number == NUMBER


def test_twiml_escapes_the_reply_and_is_empty_for_a_reply(client, heard, settings):
    settings.SMS_HELP_REPLY = "Terms & help: <acme.example>"

    help_answer = post_form(client, {"MessageSid": "SM1", "From": NUMBER, "Body": "HELP"})
    reply_answer = post_form(client, {"MessageSid": "SM2", "From": NUMBER, "Body": "Thanks!"})

    escaped = "<Message>Terms &amp; help: &lt;acme.example&gt;</Message>"
    assert escaped in help_answer.content.decode()
    assert reply_answer.content.decode().endswith("<Response></Response>\n")


def twilio_signature(token: str, url: str, params: dict) -> str:
    """Twilio's documented algorithm: the URL, then each name and value sorted by name."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_it_accepts_twilio_signed_form_posts(client, heard, settings):
    settings.BASE_URL = "https://drumbeat.example.org"
    fields = {"MessageSid": "SM7", "From": NUMBER, "To": "+15550001111", "Body": "STOP"}
    signature = twilio_signature(SECRET, "https://drumbeat.example.org" + PATH, fields)

    answer = post_form(client, fields, HTTP_X_TWILIO_SIGNATURE=signature)
    forged = post_form(client, {**fields, "MessageSid": "SM8"}, HTTP_X_TWILIO_SIGNATURE=signature)

    assert answer.status_code == 200 and "<Message>" in answer.content.decode()
    assert forged.status_code == 401
    assert InboundSms.objects.count() == 1


def test_the_twilio_check_matches_twilios_published_examples(settings):
    """The example request of Twilio's own validator tests: auth token 12345."""
    settings.WEBHOOK_SECRET = "12345"
    settings.BASE_URL = "https://mycompany.com"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
        "Caller": "+14158675309",
    }
    request = RequestFactory().post(
        "/myapp.php?foo=1&bar=2",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE="RSOYDt4T1cUTdK1PDd93/VVr8B8=",
    )
    assert twilio_signature_ok(request)
    repeated = RequestFactory().post(
        "/myapp.php?foo=1&bar=2",
        "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234",
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE="IK+Dwps556ElfBT0I3Rgjkr1wJU=",
    )
    assert twilio_signature_ok(repeated)
    settings.WEBHOOK_SECRET = "54321"
    assert not twilio_signature_ok(request)


def test_it_reads_international_numbers_sent_without_their_plus(client, heard):
    answer = post_form(
        client, {"messageId": "0A0000000123ABCD1", "msisdn": "447400123456", "text": "STOP"}
    )

    assert answer.status_code == 200
    assert PhoneBlacklist.objects.get().number == "+447400123456"


@pytest.mark.parametrize(
    "raw, detail",
    [
        (b"{not json", "malformed JSON"),
        (b"[]", "expected a JSON object"),
        (json.dumps({"from": NUMBER, "text": "STOP"}).encode(), "'id' is required"),
        (json.dumps({"id": "SM1", "text": "STOP"}).encode(), "'from' is required"),
        (json.dumps({"id": "SM1", "from": NUMBER, "text": ["STOP"]}).encode(), "'text' must be"),
        (json.dumps({"id": "SM1", "from": "hello", "text": "STOP"}).encode(), "not a phone"),
        (json.dumps({"id": "x" * 201, "from": NUMBER, "text": "STOP"}).encode(), "'id' is longer"),
    ],
)
def test_it_refuses_malformed_bodies_with_400_and_no_change(client, heard, raw, detail):
    answer = post_json(client, None, raw=raw)

    assert answer.status_code == 400
    assert detail in answer.json()["detail"]
    assert not InboundSms.objects.exists() and not WebhookEvent.objects.exists()
    assert not PhoneBlacklist.objects.exists()


def test_it_refuses_bad_signatures_other_methods_and_a_missing_secret(client, heard, settings):
    assert post_json(client, sms("STOP"), secret="wrong").status_code == 401
    unsigned = client.post(PATH, data=json.dumps(sms("STOP")), content_type="application/json")
    assert unsigned.status_code == 401
    assert client.get(PATH).status_code == 405
    settings.WEBHOOK_SECRET = ""
    assert post_json(client, sms("STOP"), secret="").status_code == 401
    assert not PhoneBlacklist.objects.exists() and not InboundSms.objects.exists()
