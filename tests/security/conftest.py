"""Personas and a sent message for the security refusal tests.

alice is an administrator, bob a marketing user, mallory another marketing user. `sent` is an
email really handed to a transport (the outbox) by the sending service, so its token, links
and unsubscribe URLs are the ones a recipient would get.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from drumbeat.automation.targets import FILTERABLE
from drumbeat.contacts.models import Contact
from drumbeat.mailing import rendering
from drumbeat.mailing.models import Message, Template
from drumbeat.mailing.sending import Recipient, send_emails, send_sms

BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}


def make_user(username: str, role: str = "marketing"):
    return get_user_model().objects.create_user(
        username=username, password=f"pw-{username}-long-enough", role=role
    )


@pytest.fixture
def alice(db):
    return make_user("alice", "admin")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def mallory(db):
    return make_user("mallory")


@pytest.fixture
def mail_settings(settings):
    settings.EMAIL_URL = "outbox://"
    settings.SMS_URL = "outbox://"
    settings.BASE_URL = "http://testserver"
    settings.INBOUND_DOMAIN = "in.example.org"
    settings.FROM_EMAIL = "Drumbeat <news@example.org>"
    settings.DKIM_DOMAIN = settings.DKIM_SELECTOR = settings.DKIM_KEY_FILE = ""
    rendering.register_render_fields(FILTERABLE)
    return settings


@pytest.fixture
def carol(db):
    return Contact.objects.create(name="Carol", email="carol@example.com", phone="+15555550103")


@pytest.fixture
def dave(db):
    return Contact.objects.create(name="Dave", email="dave@example.com", phone="+15555550104")


def email_template(name: str = "Offer", url: str = "https://example.com/offer") -> Template:
    return Template.objects.create(
        name=name,
        kind="email",
        target="contacts.contact",
        subject="Hello {{ record.name }}",
        body_html=f'<p>Hi {{{{ record.name }}}}, see <a href="{url}">the offer</a>.</p>',
    )


def send_one(template: Template, contact: Contact, trace_id: int, activity_id: int) -> Message:
    send_emails(
        template,
        [Recipient(trace_id, contact, contact.email)],
        campaign_id=1,
        activity_id=activity_id,
        render_fields=FILTERABLE,
    )
    return Message.objects.get(trace_id=trace_id)


@pytest.fixture
def sent(mail_settings, carol):
    """An email to carol (activity 7) with one tracked link."""
    return send_one(email_template(), carol, trace_id=1, activity_id=7)


@pytest.fixture
def other_sent(mail_settings, dave):
    """An email to dave from another activity and template (activity 8)."""
    template = email_template("Other", "https://example.com/other")
    return send_one(template, dave, trace_id=2, activity_id=8)


@pytest.fixture
def sent_sms(mail_settings, carol):
    template = Template.objects.create(
        name="SMS", kind="sms", target="contacts.contact", body_text="Hi {{ record.name }}"
    )
    send_sms(
        template,
        [Recipient(3, carol, carol.phone)],
        campaign_id=1,
        activity_id=9,
        render_fields=FILTERABLE,
    )
    return Message.objects.get(trace_id=3)
