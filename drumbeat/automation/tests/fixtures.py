"""Personas and builders for engine tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model

from drumbeat.automation import services
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Activity, Campaign, Participant, ServerAction, Trace
from drumbeat.contacts.models import Contact, Tag
from drumbeat.mailing.models import Template

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_user(username: str = "bob", role: str = "marketing"):
    User = get_user_model()
    return User.objects.create_user(username=username, password="pw-" + username, role=role)


def make_contacts(n: int, **fields: Any) -> list[Contact]:
    rows = [Contact(name=f"Person {i}", email=f"person{i}@example.com", **fields) for i in range(n)]
    return Contact.objects.bulk_create(rows)


def make_tag(name: str = "Hot") -> Tag:
    return Tag.objects.get_or_create(name=name)[0]


def make_action(kind: str = "update_record", target: str = "contacts.contact", **params):
    if kind == "update_record" and not params:
        params = {"field": "tags", "operation": "add", "value": [make_tag().pk]}
    return ServerAction.objects.create(
        name=f"{kind} action", target=target, kind=kind, params=params
    )


def make_template(kind: str = "email", target: str = "contacts.contact") -> Template:
    return Template.objects.create(
        name=f"{kind} template",
        kind=kind,
        target=target,
        subject="Hello {{ record.name }}",
        body_html='<p>Hi {{ record.name }}, <a href="https://example.org/offer">offer</a></p>',
        body_text="Hi {{ record.name }} https://example.org/offer",
    )


def make_campaign(user=None, target: str = "contacts.contact", **fields: Any) -> Campaign:
    fields.setdefault("unique_field", "email")
    return services.create_campaign(fields.pop("name", "Spring"), target, owner=user, **fields)


def add_action(campaign: Campaign, parent: Activity | None = None, **fields: Any) -> Activity:
    fields.setdefault("name", "Tag them")
    fields.setdefault("server_action", fields.pop("action", None) or make_action())
    fields.setdefault("trigger", "activity" if parent else "begin")
    return services.create_activity(campaign, kind="action", parent=parent, **fields)


def add_email(campaign: Campaign, parent: Activity | None = None, **fields: Any) -> Activity:
    fields.setdefault("name", "Welcome email")
    fields.setdefault("template", make_template("email", campaign.target))
    fields.setdefault("trigger", "activity" if parent else "begin")
    return services.create_activity(campaign, kind="email", parent=parent, **fields)


def add_sms(campaign: Campaign, parent: Activity | None = None, **fields: Any) -> Activity:
    fields.setdefault("name", "Welcome SMS")
    fields.setdefault("template", make_template("sms", campaign.target))
    fields.setdefault("trigger", "activity" if parent else "begin")
    return services.create_activity(campaign, kind="sms", parent=parent, **fields)


def run_together(work: Callable[[], None], threads: int, timeout: float = 120) -> list[Exception]:
    """Run `work` in `threads` threads released at the same moment, each closing its database
    connection at the end; returns the exceptions they raised."""
    import threading

    from django.db import connection

    errors: list[Exception] = []
    barrier = threading.Barrier(threads)

    def run() -> None:
        try:
            barrier.wait()
            work()
        except Exception as exc:  # returned to the test
            errors.append(exc)
        finally:
            connection.close()

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=timeout)
    return errors


def tick(now: datetime | None = None):
    return run_once(now)


def traces(activity: Activity, **filters: Any) -> list[Trace]:
    return list(Trace.objects.filter(activity=activity, **filters).order_by("id"))


def states(activity: Activity) -> list[str]:
    return [t.state for t in traces(activity)]


def assert_traces(activity: Activity, expected: list[tuple[str, str]] | list[str]) -> None:
    """Assert the traces of `activity` (in id order) as states or (state, reason) pairs."""
    found = traces(activity)
    if expected and isinstance(expected[0], tuple):
        assert [(t.state, t.reason) for t in found] == expected
    else:
        assert [t.state for t in found] == expected


def participant_states(campaign: Campaign) -> list[str]:
    return list(
        Participant.objects.filter(campaign=campaign).order_by("id").values_list("state", flat=True)
    )


# --- a real SMTP server on a loopback port ---------------------------------------------------

import email as _email  # noqa: E402
import email.policy  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sink:
    """What the loopback SMTP server received."""

    messages: list[_email.message.EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        parsed = _email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append(parsed)
        return "250 Message accepted"

    def to(self, address: str) -> list[_email.message.EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    @staticmethod
    def html(message) -> str:
        for part in message.walk():
            if part.get_content_type() == "text/html":
                return part.get_content()
        raise AssertionError("no HTML part")

    def links(self, message) -> list[str]:
        return re.findall(r'(?:href|src)="([^"]+)"', self.html(message))


def _connect():
    """PostgreSQL: a connection of our own to the test database, outside Django's."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    return psycopg.connect(**params)


def assert_second_waits_for_first(leading: tuple, following: tuple) -> None:
    """PostgreSQL: run `leading` (sql, params) in one transaction, then `following` in another
    while the first is still open: the second must wait (a lock held by the first's trigger)
    until the first commits, then go through."""
    with _connect() as one, _connect() as two:
        one.execute(*leading)  # its trigger has run; not committed yet

        def second() -> None:
            two.execute(*following)
            two.commit()

        waiting = threading.Thread(target=second)
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive()  # held by the lock until the first one commits
        one.commit()
        waiting.join(timeout=30)
        assert not waiting.is_alive()
