"""The emails of the six campaign templates, as Drumbeat really sends them, pass an offline
SpamAssassin check (Debian's `spamassassin -L -t`: local rules only, no network tests) with
0 points from content rules.

Each email is sent by the template editor's "send a test" path to a loopback SMTP server and
the bytes it received are what SpamAssassin reads. Rules about the test set-up, not the
content, are left out and named below: there is no Received chain on a message handed
straight to a loopback server, and the test's recipient domain is not a real one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from drumbeat import demo
from drumbeat.automation import campaign_templates
from drumbeat.automation.models import Activity
from drumbeat.automation.targets import FILTERABLE, get_target
from drumbeat.mailing.sending import send_test_email
from scripts.system_needs import SPAMASSASSIN, install_command

# Rules that judge how the test message travelled, not what the marketer wrote.
NOT_CONTENT = {
    "NO_RELAYS",  # no Received header: handed straight to the loopback server
    "NO_RECEIVED",
}

pytestmark = [pytest.mark.django_db(transaction=True)]


def _report(raw: bytes) -> tuple[float, dict[str, float]]:
    """SpamAssassin's total and its rules with their points, from the -t report."""
    done = subprocess.run(
        [SPAMASSASSIN, "-L", "-t"], input=raw, capture_output=True, timeout=120, check=False
    )
    text = done.stdout.decode("utf-8", "replace")
    head = re.search(r"Content analysis details:\s+\(([-\d.]+) points", text)
    assert head, text[-2000:]
    rules = {
        name: float(points)
        for points, name in re.findall(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s", text, re.M)
    }
    return float(head.group(1)), rules


class _Keep:
    """The loopback server's handler: keeps the bytes of each message as received."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.raw.append(envelope.original_content)
        return "250 Message accepted"


@pytest.fixture
def smtp_server(settings):
    from aiosmtpd.controller import Controller

    from drumbeat.automation.tests.fixtures import free_port

    keep, port = _Keep(), free_port()
    controller = Controller(keep, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=10"
    settings.BASE_URL = "https://news.example.com"
    settings.FROM_EMAIL = "Acme News <news@example.com>"
    try:
        yield keep
    finally:
        controller.stop()


@pytest.fixture
def shipped_emails(smtp_server, settings, tmp_path):
    """Every email template of the six campaign templates with a demo record of its target."""
    settings.HOME = tmp_path
    ctx = demo.DemoContext(now=demo.timezone.now(), progress=False)
    for step in demo.STEPS:
        step(ctx)
    templates = {}
    for card in campaign_templates.list_templates():
        campaign = campaign_templates.instantiate(card.key)
        for activity in Activity.objects.filter(campaign=campaign, template__isnull=False):
            if activity.template.kind == "email":
                templates[activity.template.pk] = (activity.template, campaign.target)
    assert len(templates) >= 6
    return [
        (template, get_target(target).model.objects.order_by("pk").first())
        for template, target in templates.values()
    ]


def test_every_shipped_email_scores_zero_from_content_rules(shipped_emails, smtp_server):
    if not shutil.which(SPAMASSASSIN):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            command = install_command("spamassassin")
            pytest.fail(f"{SPAMASSASSIN} is required with CI=true: run `{command}`")
        pytest.skip(f"{SPAMASSASSIN} is not installed (make test installs it as root)")
    failures = []
    for template, record in shipped_emails:
        result = send_test_email(template, record, "reader@example.org", FILTERABLE)
        assert result.status == "sent", (template.name, result)
        raw = smtp_server.raw[-1]
        total, rules = _report(raw)
        content = {name: pts for name, pts in rules.items() if name not in NOT_CONTENT and pts}
        if content:
            failures.append(f"{template.name}: {content} (total {total})")
    assert not failures, "\n".join(failures)
