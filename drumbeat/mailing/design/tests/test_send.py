"""A designed email end to end: saved through the template services (compiled on save), sent
over SMTP to a loopback server, then the received message opened in Chromium at phone and
desktop widths, its tracked link and unsubscribe link followed."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from drumbeat.mailing import rendering
from drumbeat.mailing import services as template_services
from drumbeat.mailing.models import Click, EmailBlacklist, Link, Message
from drumbeat.mailing.sending import Recipient, send_emails
from drumbeat.mailing.tests.conftest import RENDER_FIELDS

from .helpers import full_design
from .test_compile_browser import _png, layout_at

# A browser test: SQLite pass only, as the other browser tests (the campaign templates' e2e
# tests send designed emails on PostgreSQL too).
pytestmark = [pytest.mark.django_db, pytest.mark.browser]
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}


@pytest.fixture(autouse=True)
def registered_fields():
    saved = dict(rendering.registered_render_fields())
    rendering.register_render_fields(RENDER_FIELDS)
    yield
    rendering.register_render_fields(saved)


@pytest.fixture
def brand(settings):
    settings.SENDER_NAME = "Acme Tools"
    settings.SENDER_ADDRESS = "12 Rue de la Paix\n75002 Paris"


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_a_designed_email_is_sent_tracked_and_unsubscribable(
    smtp_sink, mail_settings, brand, alice, client, page
):
    template = template_services.create_template(
        RENDER_FIELDS,
        name="Spring",
        kind="email",
        target="contacts.contact",
        subject="Spring news for {{ record.name }}",
        preview_text="Two weeks of good prices",
        design=full_design(),
    )
    assert "<mj-" not in template.body_html and "{{ record.name }}" in template.body_html

    send_emails(
        template,
        [Recipient(1, alice, alice.email)],
        campaign_id=3,
        activity_id=7,
        render_fields=RENDER_FIELDS,
    )
    message = Message.objects.get(trace_id=1)
    assert message.state == Message.State.SENT
    [received] = smtp_sink.received
    assert received.parsed["Subject"] == "Spring news for Alice"
    html = received.part("text/html")
    text = received.part("text/plain")
    assert "Hello Alice" in html and "Welcome back, Alice." in html
    assert "Hello Alice" in text
    assert "Acme Tools" in html and "75002 Paris" in html
    assert "{{" not in html and "%%drumbeat" not in html

    # every image has an alt (the open pixel's is empty by design: it is invisible)
    images = re.findall(r"<img\b[^>]*>", html)
    pixel = [i for i in images if "/t/o/" in i]
    assert len(pixel) == 1
    for image in images:
        if image not in pixel:
            assert re.search(r'alt="[^"]+"', image), image

    # static links are tracked (the button, the text's link, the social link)
    assert sorted(Link.objects.filter(template=template).values_list("url", flat=True)) == [
        "https://fb.com/a",
        "https://shop.example.com/",
        "https://shop.example.com/news",
    ]
    tracked = [u for u in received.links() if "/r/" in u]
    assert len(tracked) == 3
    response = client.get(path_of(tracked[0]), **BROWSER)
    assert response.status_code == 302
    assert Click.objects.filter(message=message).count() == 1

    # the footer's unsubscribe link works
    unsubscribe = next(u for u in received.links() if "/u/" in u)
    assert client.get(path_of(unsubscribe), **BROWSER).status_code == 200
    response = client.post(path_of(unsubscribe))
    assert b"You are unsubscribed" in response.content
    assert EmailBlacklist.objects.get().email == "alice@example.com"

    # the received message in Chromium: no horizontal scroll at 375 and 600 px
    png = _png()
    page.route(
        "https://media.example.com/**",
        lambda route: route.fulfill(status=200, content_type="image/png", body=png),
    )
    page.route("http://testserver/**", lambda route: route.abort())
    for width in (320, 375, 600):
        found = layout_at(page, html, width)
        assert found["scroll"] <= found["inner"], (width, found)
        assert found["images"]
        for image in found["images"]:
            assert image["right"] <= found["inner"], (width, image)
