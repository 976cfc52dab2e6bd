"""Benchmark: rendered emails over one SMTP connection to a local aiosmtpd sink.

    DRUMBEAT_HOME=/tmp/bench-mail .venv/bin/python bench/mail_send.py [--count 10000] [--batch N]

Creates COUNT contacts in a fresh SQLite database under DRUMBEAT_HOME, then sends a 5 KB
template (placeholders, a loop over tags, two tracked links, CSS to inline) to all of them with
`mailing.sending.send_emails`, in batches of BATCH (default: all in one batch = one SMTP
connection). Prints the rate and where the time goes.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drumbeat.settings")
os.environ.setdefault("DRUMBEAT_HOME", "/tmp/drumbeat-bench-mail")


def start_sink(port: int) -> subprocess.Popen:
    """aiosmtpd's discarding sink in its own process (in this one it would share our GIL)."""
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
    sink = subprocess.Popen([*command, "-c", "aiosmtpd.handlers.Sink"], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return sink
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the SMTP sink did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=0, help="batch size (0: one batch)")
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ["DRUMBEAT_EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    os.environ.setdefault("DRUMBEAT_INBOUND_DOMAIN", "in.example.org")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction

    from drumbeat.automation.targets import FILTERABLE
    from drumbeat.contacts.models import Contact, Tag
    from drumbeat.mailing.models import Message, Template
    from drumbeat.mailing.sending import Recipient, send_emails

    db = Path(settings.DATABASES["default"]["NAME"])
    if db.exists() and "bench" in str(db):
        db.unlink()
    call_command("migrate", verbosity=0)

    with transaction.atomic():
        tags = [Tag.objects.create(name=f"bench-{i}") for i in range(3)]
        Contact.objects.bulk_create(
            [
                Contact(name=f"Person {i}", email=f"person{i}@example.com", city="Lyon")
                for i in range(args.count)
            ],
            batch_size=500,
        )
        contacts = list(Contact.objects.order_by("id"))
        through = Contact.tags.through
        through.objects.bulk_create(
            [through(contact_id=c.pk, tag_id=tags[c.pk % 3].pk) for c in contacts],
            batch_size=500,
        )
    paragraph = (
        "<p>We have put together a selection for you, {{ record.name }}. "
        "Our team in {{ record.city or 'your city' }} is ready to help with anything.</p>\n"
    )
    body = (
        "<html><head><style>p { color: #333; font-family: sans-serif } "
        ".cta { background: #5538d6; color: #fff }</style></head><body>"
        '<h1>Hello {{ record.name or "there" }}</h1>'
        + paragraph
        * 30
        + '<p><a class="cta" href="https://example.com/offer">See the offer</a> '
        '<a href="https://example.com/about">About us</a></p>'
        "{% for tag in record.tags %}<span>#{{ tag.name }}</span>{% endfor %}"
        "</body></html>"
    )
    template = Template.objects.create(
        name="Bench", target="contacts.contact", subject="Hello {{ record.name }}", body_html=body
    )
    print(f"template source: {len(body):,} bytes; {len(contacts):,} contacts")

    sink = start_sink(port)
    batch = args.batch or len(contacts)
    started = time.perf_counter()
    sent = 0
    for i in range(0, len(contacts), batch):
        chunk = contacts[i : i + batch]
        results = send_emails(
            template,
            [Recipient(c.pk, c, c.email) for c in chunk],
            campaign_id=1,
            activity_id=1,
            render_fields=FILTERABLE,
        )
        sent += sum(r.status == "sent" for r in results.values())
    elapsed = time.perf_counter() - started
    sink.terminate()
    sink.wait()
    connections = -(-len(contacts) // batch)
    assert Message.objects.filter(state="sent").count() == sent
    print(
        f"sent {sent:,} emails in {elapsed:.1f} s = {sent / elapsed:,.0f}/s "
        f"over {connections} SMTP connection(s)"
    )

    # The CPU side alone: render + MIME (+ CSS inlining), no database, no transport.
    from drumbeat.lib import clock
    from drumbeat.mailing import mime, rendering
    from drumbeat.mailing.sending import message_urls

    compiled = rendering.compile_email(template, FILTERABLE)
    rendering.prefetch_records(contacts, compiled.prefetch)
    now = clock.now()
    started = time.perf_counter()
    for contact in contacts:
        urls = message_urls("0" * 32, ["abcdefgh", "ijklmnop"])
        rendered = rendering.render_email(compiled, contact, FILTERABLE, urls)
        mime.build_email(
            sender=settings.FROM_EMAIL,
            to=contact.email,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            message_id="<x@example.org>",
            date=now,
        )
    cpu = time.perf_counter() - started
    print(f"render + MIME only: {len(contacts) / cpu:,.0f}/s on one core")


if __name__ == "__main__":
    main()
