"""`drumbeat serve` answers the tracking requests that succeed without Django's request cycle:
with the same status, headers and body as the Django handler, which still answers the rest."""

import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from drumbeat.mailing.models import Click, Link, Message, ShortLink, Template
from drumbeat.mailing.tokens import make_token
from drumbeat.web.serving import with_tracking_handler

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def full_app(environ, start_response):
    start_response("204 No Content", [])
    return [b""]


def call(app, path, method="GET", query="", **headers) -> tuple[str, dict[str, str], bytes]:
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(response_headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": BROWSER,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(),
        "wsgi.url_scheme": "http",
        **headers,
    }
    body = b"".join(app(environ, start_response))
    # What changes from one answer to the next: its time, the CSRF token of an error page.
    seen["headers"].pop("Expires", None)
    seen["headers"].pop("Set-Cookie", None)
    body = re.sub(rb'"X-CSRFToken": "\w+"', b"", body)
    return seen["status"], seen["headers"], body


@pytest.fixture
def mailing():
    template = Template.objects.create(name="News", kind="email", subject="N", body_html="<p>")
    message = Message.objects.create(
        channel="email",
        template=template,
        activity_id=7,
        recipient="ann@example.com",
        message_id="<m1@example.org>",
        token=make_token(),
        state=Message.State.SENT,
        sent_at=timezone.now() - timedelta(hours=1),
    )
    link = Link.objects.create(
        url="https://example.com/offre?é=1", code="abc123", template=template, activity_id=7
    )
    return message, link


@pytest.fixture(params=["http", "https behind a proxy"])
def scheme(request, settings):
    if request.param == "http":
        return {}
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    return {"HTTP_X_FORWARDED_PROTO": "https"}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_it_answers_like_the_django_handler(mailing, scheme, method):
    message, link = mailing
    fast, django = with_tracking_handler(full_app), with_tracking_handler(full_app, fast=False)

    for path in [f"/t/o/{message.token}", f"/r/{link.code}/{message.token}", f"/r/{link.code}"]:
        assert call(fast, path, method, **scheme) == call(django, path, method, **scheme), path

    status, headers, _ = call(fast, f"/r/{link.code}/{message.token}", method, **scheme)
    assert headers["Location"] == "https://example.com/offre?%C3%A9=1"
    assert ("Strict-Transport-Security" in headers) == bool(scheme)
    message.refresh_from_db()
    assert message.opened_at is not None and message.clicked_at is not None
    assert Click.objects.filter(message=message).count() == 3


@pytest.mark.parametrize(
    "path, method, query, status",
    [
        ("/t/o/{forged}", "GET", "", "404"),
        ("/r/{code}/{forged}", "GET", "", "404"),
        ("/r/nosuchcode/{token}", "GET", "", "404"),
        ("/t/o/{token}", "POST", "", "405"),
        ("/t/o/{token}", "GET", "x=%00", "400"),
        ("/t/o/{token}%00", "GET", "", "404"),
        ("/t/o/{token}", "GET", "utm=1", "200"),
    ],
)
def test_what_it_does_not_answer_gets_the_django_answer(mailing, path, method, query, status):
    message, link = mailing
    forged = message.token[:-1] + ("0" if message.token[-1] != "0" else "1")
    path = path.format(forged=forged, code=link.code, token=message.token)
    fast, django = with_tracking_handler(full_app), with_tracking_handler(full_app, fast=False)

    answer = call(fast, path, method, query)

    assert answer[0].startswith(status)
    assert answer == call(django, path, method, query)
    assert not Click.objects.exists()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_it_answers_sms_short_links_like_the_django_handler(mailing, scheme, method):
    message, link = mailing
    short = ShortLink.objects.create(code="Ab3dEf9h", message=message, link=link)
    fast, django = with_tracking_handler(full_app), with_tracking_handler(full_app, fast=False)

    assert call(fast, "/s/Ab3dEf9h", method, **scheme) == call(
        django, "/s/Ab3dEf9h", method, **scheme
    )
    status, headers, _ = call(fast, f"/s/{short.code}", method, **scheme)
    assert status == "302 Found"
    assert headers["Location"] == "https://example.com/offre?%C3%A9=1"
    message.refresh_from_db()
    assert message.clicked_at is not None
    assert Click.objects.filter(message=message, link=link).count() == 3
    for refused in ("/s/Zz9Zz9Zz", "/s/short", "/s/Ab3dEf9h/x"):  # unknown, malformed, extra
        answer = call(fast, refused, method, **scheme)
        assert answer[0].startswith("404") and answer == call(django, refused, method, **scheme)
    assert Click.objects.count() == 3
