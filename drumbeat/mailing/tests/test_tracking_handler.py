"""`drumbeat serve` answers /t/ and /r/ with a lean handler (security headers, no session)."""

import io

import pytest

from drumbeat.mailing.models import Message
from drumbeat.mailing.tokens import make_token
from drumbeat.web.serving import with_tracking_handler

pytestmark = [pytest.mark.django_db(transaction=True)]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def call(app, path: str) -> tuple[str, dict[str, str], bytes]:
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": BROWSER,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(),
        "wsgi.url_scheme": "http",
    }
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def test_tracking_paths_get_the_lean_handler_and_others_the_full_app():
    message = Message.objects.create(
        channel="email",
        recipient="ann@example.com",
        message_id="<m1@example.org>",
        token=make_token(),
        state=Message.State.SENT,
    )
    full = []

    def application(environ, start_response):
        full.append(environ["PATH_INFO"])
        start_response("204 No Content", [])
        return [b""]

    app = with_tracking_handler(application)
    status, headers, body = call(app, f"/t/o/{message.token}")
    assert status.startswith("200") and headers["Content-Type"] == "image/gif"
    assert headers.get("X-Content-Type-Options") == "nosniff"  # security middleware ran
    assert "Content-Security-Policy" in headers
    assert "Set-Cookie" not in headers
    message.refresh_from_db()
    assert message.opened_at is not None
    assert call(app, "/t/o/not-a-token")[0].startswith("404")
    assert call(app, "/login/")[0].startswith("204")
    assert full == ["/login/"]
