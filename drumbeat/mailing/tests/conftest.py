"""Fixtures for the channel tests: a real SMTP server on a loopback port, records, templates."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

from drumbeat.contacts.models import Contact, Tag
from drumbeat.mailing.models import Template

RENDER_FIELDS = {
    "contacts.contact": ["id", "name", "email", "phone", "company_name", "country", "tags"],
    "contacts.tag": ["id", "name"],
    "mailing.mailingcontact": ["id", "name", "email", "phone", "lists"],
    "mailing.mailinglist": ["id", "name"],
}

BODY = """<html><head><style>p.lead { color: #123456; }</style></head><body>
<p class="lead">Hello {{ record.name or "there" }},</p>
<p>Read <a href="https://example.com/offer?x=1&amp;y=2">our offer</a>
or <a href="https://example.com/about">about us</a>.</p>
{% for tag in record.tags %}<span>#{{ tag.name }}</span>{% endfor %}
</body></html>"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def part(self, content_type: str) -> str:
        for part in self.parsed.walk():
            if part.get_content_type() == content_type:
                return part.get_content()
        raise AssertionError(f"no {content_type} part")

    def links(self) -> list[str]:
        return re.findall(r'href="([^"]+)"', self.part("text/html"))


@dataclass
class SinkHandler:
    """Collects what it receives; `refuse` maps a recipient to an SMTP reply ("451 ...")."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 Message accepted"


@pytest.fixture
def smtp_sink(settings):
    handler = SinkHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=5"
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def mail_settings(settings):
    settings.BASE_URL = "http://testserver"
    settings.INBOUND_DOMAIN = "in.example.org"
    settings.FROM_EMAIL = "Drumbeat <news@example.org>"
    settings.DKIM_DOMAIN = settings.DKIM_SELECTOR = settings.DKIM_KEY_FILE = ""
    settings.WEBHOOK_SECRET = "webhook-secret"
    return settings


@pytest.fixture
def alice(db):
    contact = Contact.objects.create(name="Alice", email="Alice@Example.com", phone="+15555550101")
    contact.tags.add(Tag.objects.create(name="vip"))
    return contact


@pytest.fixture
def bob(db):
    return Contact.objects.create(name="Bob", email="bob@example.com", phone="+15555550102")


@pytest.fixture
def email_template(db):
    return Template.objects.create(
        name="Welcome",
        kind="email",
        target="contacts.contact",
        subject="Welcome {{ record.name }} ✓",
        preview_text="A gift inside",
        body_html=BODY,
    )


@pytest.fixture
def sms_template(db):
    return Template.objects.create(
        name="Promo SMS",
        kind="sms",
        target="contacts.contact",
        body_text="Hi {{ record.name }}, see https://example.com/sale. Stop: {{ stop_url }}",
    )
