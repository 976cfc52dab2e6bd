import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from drumbeat.mailing.models import Message, OutboxEntry, PhoneBlacklist
from drumbeat.mailing.sending import Recipient, send_sms

from .conftest import RENDER_FIELDS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


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


def test_it_keeps_sms_in_the_outbox_with_tracked_short_links(mail_settings, sms_template, alice):
    mail_settings.SMS_URL = "outbox://"

    results = send(sms_template, [Recipient(1, alice, alice.phone)])

    assert results[1].status == "sent"
    message = Message.objects.get(trace_id=1)
    entry = OutboxEntry.objects.get()
    assert (entry.channel, entry.recipient) == ("sms", "+15555550101")
    assert entry.raw.startswith("Hi Alice, see http://testserver/r/")
    assert f"/{message.token}." in entry.raw  # the sentence's full stop stays outside the link
    assert entry.raw.endswith(f"Stop: http://testserver/sms/stop/{message.token}")


def test_it_posts_to_the_http_gateway_with_a_bearer_token(gateway, sms_template, alice, bob):
    results = send(sms_template, [Recipient(1, alice, alice.phone), Recipient(2, bob, bob.phone)])

    assert {r.status for r in results.values()} == {"sent"}
    assert [r["auth"] for r in gateway.requests] == ["Bearer s3cret-token"] * 2
    first = gateway.requests[0]["json"]
    assert first["to"] == "+15555550101"
    assert first["reference"] == Message.objects.get(trace_id=1).token
    assert first["status_url"] == "http://testserver/api/v1/webhooks/sms-status"


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
