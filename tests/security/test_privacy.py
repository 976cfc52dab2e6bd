"""Data safety: forgetting a person deletes their records and anonymises their messages, clicks
and traces while every aggregate metric stays the same; `export_person` gives everything held
about an address (GDPR erasure and access requests)."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db.models import Count

from drumbeat.automation import services
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Participant, Trace
from drumbeat.automation.privacy import ANONYMOUS_RECIPIENT, export_person, forget_person
from drumbeat.automation.tests.fixtures import add_email, make_campaign
from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.events.models import Event, Registration
from drumbeat.mailing.models import (
    Click,
    EmailBlacklist,
    Link,
    MailingContact,
    MailingList,
    Message,
    OutboxEntry,
    Subscription,
)
from drumbeat.timeline.models import Note, Task

from .conftest import BROWSER

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def history(mail_settings, client, alice, carol, dave):
    """carol and dave got a campaign email; carol opened, clicked and unsubscribed; carol also
    has a lead, a registration, a mailing-list subscription, a note and a task."""
    campaign = make_campaign(alice)
    activity = add_email(campaign)
    services.start_campaign(campaign, alice)
    run_once()
    message = Message.objects.get(recipient="carol@example.com")
    link = Link.objects.get()
    client.get(f"/t/o/{message.token}", **BROWSER)
    client.get(f"/r/{link.code}/{message.token}", **BROWSER, REMOTE_ADDR="203.0.113.9")
    client.post(f"/u/{message.token}")
    dave_message = Message.objects.get(recipient="dave@example.com")
    client.get(f"/r/{link.code}/{dave_message.token}", **BROWSER)

    Lead.objects.create(title="Big deal", email="CAROL@example.com", contact=carol)
    event = Event.objects.create(
        name="Fair",
        date_begin=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        date_end=dt.datetime(2026, 5, 2, tzinfo=dt.UTC),
    )
    Registration.objects.create(event=event, name="Carol", email="carol@example.com")
    newsletter = MailingList.objects.create(name="News")
    carol_mc = MailingContact.objects.create(name="Carol", email=" carol@example.com ")
    Subscription.objects.create(contact=carol_mc, list=newsletter, confirmed=True)
    contact_type = ContentType.objects.get_for_model(Contact)
    Note.objects.create(content_type=contact_type, object_id=carol.pk, body="Met at the fair")
    Task.objects.create(
        content_type=contact_type,
        object_id=carol.pk,
        summary="Call Carol",
        due_date=dt.date(2026, 6, 1),
    )
    return campaign, activity


def aggregates(activity) -> dict:
    messages = Message.objects.filter(activity_id=activity.pk)
    return {
        "traces": dict(
            Trace.objects.filter(activity=activity).values_list("state").annotate(n=Count("id"))
        ),
        "participants": Participant.objects.filter(campaign=activity.campaign).count(),
        "sent": messages.filter(sent_at__isnull=False).count(),
        "opened": messages.filter(opened_at__isnull=False).count(),
        "clicked": messages.filter(clicked_at__isnull=False).count(),
        "clicks": dict(Link.objects.annotate(n=Count("clicks")).values_list("url", "n")),
        "messages by state": dict(messages.values_list("state").annotate(n=Count("id"))),
    }


def mentions(text: str) -> bool:
    return "carol" in text.lower() or "203.0.113.9" in text


def test_it_forgets_a_person_and_keeps_the_metrics(history):
    campaign, activity = history
    before = aggregates(activity)
    assert before["clicked"] == 2 and before["opened"] == 2

    report = forget_person("  Carol@Example.COM ")

    assert aggregates(activity) == before
    assert report.records == {
        "contacts.contact": 1,
        "crm.lead": 1,
        "events.registration": 1,
        "mailing.mailingcontact": 1,
    }
    assert (report.messages, report.clicks, report.participants) == (1, 1, 1)
    assert (report.notes, report.tasks) == (1, 1)
    assert report.suppression_kept
    assert not Contact.objects.filter(name="Carol").exists()
    assert not Subscription.objects.exists()
    assert not Note.objects.exists() and not Task.objects.exists()
    forgotten = Message.objects.get(recipient=ANONYMOUS_RECIPIENT)
    assert forgotten.record_id is None and forgotten.subject == ""
    assert forgotten.opened_at is not None and forgotten.clicked_at is not None
    rows = [
        *Message.objects.values_list("recipient", "subject", "failure_reason"),
        *Click.objects.values_list("ip", "user_agent"),
        *Participant.objects.values_list("unique_key"),
        *OutboxEntry.objects.values_list("recipient", "raw"),
        *Contact.objects.values_list("name", "email"),
        *Lead.objects.values_list("title", "email"),
    ]
    assert not any(mentions(str(row)) for row in rows)
    assert EmailBlacklist.objects.filter(email="carol@example.com", active=True).exists()
    assert Message.objects.filter(recipient="dave@example.com").exists()


def test_it_cancels_scheduled_work_of_a_forgotten_person(mail_settings, alice, carol, dave):
    campaign = make_campaign(alice)
    activity = add_email(campaign, delay_amount=2, delay_unit="days")
    services.start_campaign(campaign, alice)
    run_once()
    assert set(Trace.objects.values_list("state", flat=True)) == {"scheduled"}

    forget_person("carol@example.com")

    carol_trace = Trace.objects.get(participant__unique_key="")
    assert (carol_trace.state, carol_trace.reason) == ("cancelled", "record removed")
    assert carol_trace.participant.state == "removed"
    assert Trace.objects.get(participant__unique_key="dave@example.com").state == "scheduled"
    assert activity.traces.count() == 2


def test_it_can_drop_the_suppression_too(history):
    forget_person("carol@example.com", keep_suppression=False)

    assert not EmailBlacklist.objects.exists()


def test_it_exports_everything_held_about_an_address(history):
    out = StringIO()
    call_command("export_person", "Carol@Example.com", stdout=out)
    data = json.loads(out.getvalue())

    assert data["email"] == "carol@example.com"
    assert [c["name"] for c in data["contacts.contact"]] == ["Carol"]
    assert [lead["title"] for lead in data["crm.lead"]] == ["Big deal"]
    assert [r["name"] for r in data["events.registration"]] == ["Carol"]
    assert [m["email"] for m in data["mailing.mailingcontact"]] == [" carol@example.com "]
    assert [(s["list__name"], s["confirmed"]) for s in data["subscriptions"]] == [("News", True)]
    assert [b["email"] for b in data["blacklist"]["emails"]] == ["carol@example.com"]
    (message,) = data["messages"]
    assert message["recipient"] == "carol@example.com" and message["opened_at"]
    assert [c["link__url"] for c in message["clicks"]] == ["https://example.org/offer"]
    assert message["clicks"][0]["ip"] == "203.0.113.9"
    (participant,) = data["participants"]
    assert [t["state"] for t in participant["traces"]] == ["processed"]
    assert [n["body"] for n in data["notes"]] == ["Met at the fair"]
    assert [t["summary"] for t in data["tasks"]] == ["Call Carol"]
    assert "dave" not in out.getvalue()


def test_the_export_after_forgetting_holds_only_the_suppression(history):
    forget_person("carol@example.com")

    data = export_person("carol@example.com")

    assert data["messages"] == [] and data["participants"] == []
    assert all(data[key] == [] for key in ("contacts.contact", "crm.lead", "notes", "tasks"))
    assert [b["email"] for b in data["blacklist"]["emails"]] == ["carol@example.com"]


def test_the_commands_refuse_bad_input(db):
    with pytest.raises(CommandError, match="not an email address"):
        call_command("export_person", "not-an-address")
    with pytest.raises(CommandError, match="--yes"):
        call_command("forget_person", "carol@example.com")


def test_the_forget_command_reports_what_it_did(history):
    out = StringIO()
    call_command("forget_person", "carol@example.com", "--yes", stdout=out)

    assert "anonymised 1 messages, 1 clicks, 1 participants" in out.getvalue()
    assert not Contact.objects.filter(email="carol@example.com").exists()


def test_forgetting_records_anonymises_their_history_and_keeps_the_metrics(history, carol):
    from drumbeat.automation.privacy import forget_records

    campaign, activity = history
    before = aggregates(activity)

    report = forget_records("contacts.contact", [carol.pk])

    assert aggregates(activity) == before
    assert report.records["contacts.contact"] == 1
    assert (report.messages, report.clicks, report.participants) == (1, 1, 1)
    assert not Contact.objects.filter(pk=carol.pk).exists()
    assert Lead.objects.filter(email="CAROL@example.com").exists()  # other records stay
    assert not Message.objects.filter(recipient="carol@example.com").exists()
    assert not Note.objects.exists()


def test_deleting_a_contact_through_the_api_anonymises_their_messages(history, alice, carol):
    from django.test import Client

    from drumbeat.accounts.models import ApiToken

    campaign, activity = history
    before = aggregates(activity)
    _, raw = ApiToken.issue(alice, "t")

    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").delete(f"/api/v1/contacts/{carol.pk}")

    assert response.status_code == 204
    assert aggregates(activity) == before
    assert not Message.objects.filter(recipient="carol@example.com").exists()
    assert not Click.objects.filter(ip="203.0.113.9").exists()


def test_the_sms_a_person_sent_us_are_exported_and_forgotten(mail_settings, alice, carol, dave):
    from drumbeat.mailing.models import InboundSms
    from drumbeat.mailing.sms_replies import IncomingSms, receive_sms

    receive_sms(IncomingSms("SM1", carol.phone, "+15550001111", "Carol here, call me"))
    receive_sms(IncomingSms("SM2", carol.phone, "+15550001111", "STOP"))
    receive_sms(IncomingSms("SM3", dave.phone, "+15550001111", "Dave here"))

    data = export_person("carol@example.com")
    assert [(s["text"], s["kind"]) for s in data["inbound_sms"]] == [
        ("Carol here, call me", "reply"),
        ("STOP", "stop"),
    ]
    report = forget_person("carol@example.com")

    assert report.inbound_sms == 2
    assert list(InboundSms.objects.values_list("text", flat=True)) == ["Dave here"]
