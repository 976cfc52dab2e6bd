"""The shipped designs (the campaign templates' emails) score 0 points from SpamAssassin's
content rules, offline (`spamassassin -L -t`: local tests only, no network lookups).

Each email is compiled from its design with a configured brand, rendered for a record through
the sending pipeline (placeholders, CSS inlining, tracked link URLs, the plain-text part) and
wrapped in a plain MIME message."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from email.message import EmailMessage

import pytest

from drumbeat.automation.campaign_designs import EMAILS, design_for
from drumbeat.automation.targets import FILTERABLE
from drumbeat.brand.kit import Brand
from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.mailing import rendering
from drumbeat.mailing.design import compile_design
from drumbeat.mailing.models import MailingContact, Template

from .fixtures import make_user

pytestmark = pytest.mark.django_db
BRAND = Brand(sender_name="Acme Tools", postal_address="12 Rue de la Paix\n75002 Paris")
WHY = "You receive this email because you are one of our contacts."
REPORT_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


def _message(html: str, text: str, subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Acme Tools <news@acme.example.com>"
    message["To"] = "ann.smith@example.com"
    message["Subject"] = subject
    message["Date"] = "Fri, 04 Dec 2026 15:00:00 +0000"
    message["Message-ID"] = "<20261204150000.4f2a9c1e7b@mail.acme.example.com>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


TARGETS = {
    "welcome_contact": "contacts.contact",
    "catalog_offer": "contacts.contact",
    "partnership": "contacts.contact",
    "catalog_reminder": "contacts.contact",
    "welcome_discount": "mailing.mailingcontact",
    "confirm_subscription": "mailing.mailingcontact",
    "lead_welcome": "crm.lead",
    "lead_welcome_short": "crm.lead",
}


def _rendered(key: str, record) -> tuple[str, str]:
    template = Template(
        kind="email",
        target=TARGETS[key],
        subject="Hello",
        body_html=compile_design(design_for(key, BRAND, WHY), BRAND).html,
    )
    compiled = rendering.compile_email(template, FILTERABLE)
    token = "k3J9x2Lm8QpR4tVw6YzA1bCd"
    urls = rendering.MessageUrls(
        token=token,
        link_urls=[f"https://mail.acme.example.com/r/L{i}/{token}" for i in range(20)],
        unsubscribe_url=f"https://mail.acme.example.com/u/{token}",
        view_online_url=f"https://mail.acme.example.com/v/{token}",
        open_pixel_url=f"https://mail.acme.example.com/t/o/{token}",
    )
    rendered = rendering.render_email(compiled, record, FILTERABLE, urls)
    return rendered.html, rendered.text


def test_the_shipped_designs_score_zero_from_content_rules():
    if not shutil.which("spamassassin"):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("spamassassin is required with CI=true: apt-get install -y spamassassin")
        pytest.skip("spamassassin is not installed")
    sofia = make_user("sofia")
    sofia.first_name = "Sofia"
    sofia.save(update_fields=["first_name"])
    records = {
        "contacts.contact": Contact.objects.create(name="Ann Smith", email="ann@example.com"),
        "mailing.mailingcontact": MailingContact.objects.create(name="Ann Smith"),
        "crm.lead": Lead.objects.create(title="Pilot", contact_name="Ann Smith", salesperson=sofia),
    }
    assert set(TARGETS) == set(EMAILS)
    runs = {}
    for key in EMAILS:  # all at once: each run spends most of its time loading the rules
        html, text = _rendered(key, records[TARGETS[key]])
        assert "Ann Smith" in html and "{{" not in html
        runs[key] = subprocess.Popen(
            ["spamassassin", "-L", "-t"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        runs[key].stdin.write(_message(html, text, "Hello Ann"))
        runs[key].stdin.close()
    scored = {}
    for key, process in runs.items():
        report = process.stdout.read().decode(errors="replace")
        process.wait(timeout=300)
        details = report.split("Content analysis details:", 1)[1]
        rules = [m.groups() for m in map(REPORT_LINE.match, details.splitlines()) if m]
        assert rules, report  # the report was read
        scored[key] = {name: float(points) for points, name, _ in rules if float(points) != 0}
    assert scored == {key: {} for key in EMAILS}
