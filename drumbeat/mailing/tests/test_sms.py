import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from django.utils import timezone

from drumbeat.contacts.models import Contact
from drumbeat.mailing.models import (
    Click,
    Link,
    Message,
    OutboxEntry,
    PhoneBlacklist,
    ShortLink,
    Template,
)
from drumbeat.mailing.sending import Recipient, send_sms

from .conftest import RENDER_FIELDS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
STOP = "http://testserver/sms/stop/"


def send(template, recipients):
    return send_sms(template, recipients, campaign_id=1, activity_id=2, render_fields=RENDER_FIELDS)


class Gateway:
    """A tiny SMS gateway: records requests, answers with `status`."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append(
                    {"auth": self.headers.get("Authorization"), "json": json.loads(body)}
                )
                answer = json.dumps({"id": f"gw-{len(gateway.requests)}"}).encode()
                self.send_response(gateway.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway(mail_settings):
    gw = Gateway()
    mail_settings.SMS_URL = f"http://s3cret-token@127.0.0.1:{gw.port}/v1/messages"
    yield gw
    gw.close()


def test_it_keeps_sms_in_the_outbox_with_short_tracked_links(
    client, mail_settings, sms_template, alice
):
    mail_settings.SMS_URL = "outbox://"
    sms_template.body_text = (
        "Hi {{ record.name }}, see https://example.com/spring-sale?utm_source=sms. "
        "Map: https://ex.co/m. Stop: {{ stop_url }}"
    )
    sms_template.save()

    results = send(sms_template, [Recipient(1, alice, alice.phone)])

    assert results[1].status == "sent"
    message = Message.objects.get(trace_id=1)
    entry = OutboxEntry.objects.get()
    assert (entry.channel, entry.recipient) == ("sms", "+15555550101")
    # The long URL (46 characters) becomes http://testserver/s/<8> (28); the short one (15)
    # would grow, so it goes as written, untracked. The full stop stays outside the link.
    sent = re.fullmatch(
        r"Hi Alice, see http://testserver/s/([0-9A-Za-z]{8})\. Map: https://ex\.co/m\. "
        r"Stop: http://testserver/sms/stop/([0-9a-f]{32})",
        entry.raw,
    )
    assert sent is not None, entry.raw
    code, token = sent.groups()
    assert token == message.token
    short = ShortLink.objects.get()
    assert (short.code, short.message, short.link.url) == (
        code,
        message,
        "https://example.com/spring-sale?utm_source=sms",
    )
    assert list(Link.objects.values_list("url", flat=True)) == [short.link.url]

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):  # a person, not a scanner
        answer = client.get(f"/s/{code}", HTTP_USER_AGENT="Mozilla/5.0 (iPhone) Safari/604.1")

    assert answer.status_code == 302
    assert answer["Location"] == "https://example.com/spring-sale?utm_source=sms"
    message.refresh_from_db()
    assert message.clicked_at is not None and message.opened_at is not None
    click = Click.objects.get()
    assert (click.message, click.link, click.is_machine) == (message, short.link, False)


@pytest.mark.parametrize("length, tracked", [(27, False), (28, True), (29, True)])
def test_it_never_sends_a_link_longer_than_written(mail_settings, alice, length, tracked):
    mail_settings.SMS_URL = "outbox://"  # the short form is http://testserver/s/XXXXXXXX: 28
    url = "https://example.com/" + "p" * (length - len("https://example.com/"))
    template = Template.objects.create(
        name="Link", kind="sms", target="contacts.contact", body_text=f"Go {url}"
    )

    send(template, [Recipient(1, alice, alice.phone)])

    raw = OutboxEntry.objects.get().raw
    assert len(raw) == len("Go ") + (28 if tracked else length)
    assert (url in raw) is not tracked
    assert ShortLink.objects.count() == int(tracked)


def test_it_answers_404_to_unknown_and_malformed_short_codes(client, mail_settings):
    for path in ["/s/AAAAAAAA", "/s/short", "/s/AAAA-AAA", "/s/" + "A" * 9]:
        assert client.get(path).status_code == 404, path
    assert not Click.objects.exists()


def test_it_adds_the_opt_out_footer_when_the_template_asks(mail_settings, sms_template, alice):
    mail_settings.SMS_URL = "outbox://"
    mail_settings.SMS_OPTOUT_FOOTER = "STOP to opt out"
    sms_template.body_text = "Sale today"
    sms_template.sms_optout_footer = True
    sms_template.save()

    send(sms_template, [Recipient(1, alice, alice.phone)])

    assert OutboxEntry.objects.get().raw == "Sale today\nSTOP to opt out"


def test_it_posts_to_the_http_gateway_with_a_bearer_token(gateway, sms_template, alice, bob):
    results = send(sms_template, [Recipient(1, alice, alice.phone), Recipient(2, bob, bob.phone)])

    assert {r.status for r in results.values()} == {"sent"}
    assert [r["auth"] for r in gateway.requests] == ["Bearer s3cret-token"] * 2
    first = gateway.requests[0]["json"]
    assert first["to"] == "+15555550101"
    token = Message.objects.get(trace_id=1).token
    assert first["reference"] == token
    assert first["status_url"] == "http://testserver/api/v1/webhooks/sms-status"
    # "Hi Alice, see https://example.com/sale. Stop: http://testserver/sms/stop/" (73
    # characters) + the token (32): 105 GSM-7 septets, one SMS
    assert first["text"] == f"Hi Alice, see https://example.com/sale. Stop: {STOP}{token}"
    assert (first["encoding"], first["segments"]) == ("GSM-7", 1)


def test_it_tells_the_gateway_the_encoding_and_segments(gateway, sms_template, alice, bob):
    sms_template.body_text = "Ça va ? " + "x" * 63  # Ç is GSM-7, ç is not; 71 characters
    sms_template.save()
    send(sms_template, [Recipient(1, alice, alice.phone)])
    sms_template.body_text = "ça va ? " + "x" * 63
    sms_template.save()
    send(sms_template, [Recipient(2, bob, bob.phone)])

    counts = [(r["json"]["encoding"], r["json"]["segments"]) for r in gateway.requests]
    assert counts == [("GSM-7", 1), ("UCS-2", 2)]  # 71 units: 67 + 4


def test_it_gives_a_deferred_sms_the_same_short_link_again(gateway, mail_settings, alice):
    template = Template.objects.create(
        name="Sale",
        kind="sms",
        target="contacts.contact",
        body_text="Sale: https://example.com/spring-sale-2026",
    )
    gateway.status = 503
    assert send(template, [Recipient(1, alice, alice.phone)])[1].status == "retry"
    gateway.status = 200
    assert send(template, [Recipient(1, alice, alice.phone)])[1].status == "sent"

    texts = [r["json"]["text"] for r in gateway.requests]
    code = ShortLink.objects.get().code
    assert texts == [f"Sale: http://testserver/s/{code}"] * 2


def test_it_retries_on_gateway_5xx_and_errors_on_4xx(gateway, sms_template, alice, bob):
    gateway.status = 503
    assert send(sms_template, [Recipient(1, alice, alice.phone)])[1].status == "retry"
    gateway.status = 400
    result = send(sms_template, [Recipient(2, bob, bob.phone)])[2]
    assert result.status == "error" and result.reason.startswith("400")
    assert "s3cret" not in result.reason


def test_it_cancels_blacklisted_missing_and_invalid_numbers(
    mail_settings, sms_template, alice, bob
):
    mail_settings.SMS_URL = "outbox://"
    PhoneBlacklist.objects.create(number="+1 555 555 0101")

    results = send(
        sms_template,
        [
            Recipient(1, alice, "(555) 555-0101"),
            Recipient(2, bob, ""),
            Recipient(3, bob, "12"),
            Recipient(4, bob, bob.phone),
        ],
    )

    assert [results[i].reason for i in (1, 2, 3)] == [
        "blacklisted",
        "missing phone",
        "invalid phone",
    ]
    assert results[4].status == "sent"


def test_it_stops_sms_after_asking_the_number(client, mail_settings, sms_template, alice):
    mail_settings.SMS_URL = "outbox://"
    send(sms_template, [Recipient(1, alice, alice.phone)])
    token = Message.objects.get().token

    page = client.get(f"/sms/stop/{token}")
    assert page.status_code == 200 and b"phone number" in page.content
    assert not PhoneBlacklist.objects.exists()

    wrong = client.post(f"/sms/stop/{token}", {"number": "+1 555 555 0199"})
    assert b"does not match" in wrong.content
    assert not PhoneBlacklist.objects.exists()

    done = client.post(f"/sms/stop/{token}", {"number": "(555) 555-0101"})
    assert b"no more" in done.content
    assert PhoneBlacklist.objects.get().number == "+15555550101"


@pytest.mark.parametrize(
    "country, phone, typed",
    [
        ("FR", "+33612345678", "06 12 34 56 78"),  # read in the record's country
        ("", "+447400123456", "07400 123456"),  # no country: that of the number sent to
        ("BE", "+447400123456", "+44 7400 123456"),  # an international number as it is
    ],
)
def test_the_stop_page_reads_national_numbers_in_their_country(
    client, mail_settings, sms_template, country, phone, typed
):
    mail_settings.SMS_URL = "outbox://"
    person = Contact.objects.create(name="Zoé", phone=phone, country=country)
    send(sms_template, [Recipient(1, person, person.phone)])
    token = Message.objects.get().token

    done = client.post(f"/sms/stop/{token}", {"number": typed})

    assert b"no more" in done.content
    assert PhoneBlacklist.objects.get().number == phone


def test_the_stop_page_refuses_a_national_number_of_another_subscriber(
    client, mail_settings, sms_template
):
    mail_settings.SMS_URL = "outbox://"
    person = Contact.objects.create(name="Zoé", phone="+33612345678", country="FR")
    send(sms_template, [Recipient(1, person, person.phone)])
    token = Message.objects.get().token

    wrong = client.post(f"/sms/stop/{token}", {"number": "06 12 34 56 79"})

    assert b"does not match" in wrong.content
    assert not PhoneBlacklist.objects.exists()
