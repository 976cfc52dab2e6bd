"""Actions whose values differ per record (templated values, records created with their own
reason) run as a constant number of statements per batch: the values are rendered in Python,
then written by one statement from the rows (engine/sql.py: `update_from_rows`), or inserted
a few hundred rows a statement (`insert_objects`), the values every row shares prepared once.

The statement counts compare a small batch run first with a bigger one after: the bigger one
must not take more (each trace's outcome written by its own UPDATE, "created Lead #12" and
the like, took 96 statements for 40 records against 26 for 5).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drumbeat.automation import services
from drumbeat.automation.engine.execute import execute_batch
from drumbeat.automation.models import Activity, Trace
from drumbeat.contacts.models import Contact, Tag
from drumbeat.crm.models import Lead, Stage
from drumbeat.lib import clock

from .fixtures import Sink, add_action, make_action, make_campaign, make_contacts

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def run_step(bob, company: str, action, contacts: int) -> tuple[Activity, int]:
    """`action` run by the engine on a campaign of the contacts of `company`, `contacts` more
    of them created; returns the step and how many statements its one batch took."""
    make_contacts(contacts, company_name=company)
    contacts = Contact.objects.filter(company_name=company).count()
    campaign = make_campaign(bob, name=company, domain=[["company_name", "=", company]])
    step = add_action(campaign, action=action)
    services.start_campaign(campaign, bob)
    step = Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)
    with CaptureQueriesContext(connection) as queries:
        assert execute_batch(step, clock.now() + timedelta(minutes=1), 100) == contacts
    return step, len(queries.captured_queries)


def test_a_templated_value_is_written_in_one_statement_for_the_batch(bob):
    action = make_action(field="city", value="{{ record.name }} town")
    _, small = run_step(bob, "Small", action, 5)
    step, big = run_step(bob, "Big", action, 40)
    assert big <= small, (small, big)
    cities = Contact.objects.filter(company_name="Big").values_list("name", "city")
    assert all(city == f"{name} town" for name, city in cities)
    assert set(Trace.objects.filter(activity=step).values_list("state", flat=True)) == {"processed"}


def test_a_templated_value_too_long_for_its_field_is_that_records_error(bob):
    # 97 + " town": 102 characters
    Contact.objects.create(name="L" * 97, email="long@example.com", company_name="Mixed")
    action = make_action(field="city", value="{{ record.name }} town")
    step, _ = run_step(bob, "Mixed", action, 3)
    long_one = Contact.objects.get(name="L" * 97)
    assert long_one.city == ""  # not cut to the field's length
    trace = Trace.objects.get(activity=step, participant__record_id=long_one.pk)
    assert (trace.state, trace.reason) == (
        "error",
        "city: Ensure this value has at most 100 characters (it has 102).",
    )
    others = Contact.objects.filter(company_name="Mixed").exclude(pk=long_one.pk)
    assert len(others) == 3
    assert {c.city for c in others} == {f"{c.name} town" for c in others}


def test_each_created_record_is_named_in_its_own_trace(bob):
    action = make_action(
        "create_record",
        model="crm.lead",
        values={"title": "Lead for {{ record.name }}", "priority": 2, "tags": []},
        link_field="contact",
    )
    _, small = run_step(bob, "Small", action, 5)
    step, big = run_step(bob, "Big", action, 40)
    assert big <= small, (small, big)
    traces = Trace.objects.filter(activity=step).select_related("participant")
    assert traces.count() == 40
    for trace in traces:
        lead = Lead.objects.get(contact_id=trace.participant.record_id)
        assert (trace.state, trace.reason) == ("processed", f"created Lead #{lead.pk}")
        assert lead.title == f"Lead for {lead.contact.name}"


def test_a_reference_deleted_since_the_action_was_saved_errors_each_record(bob):
    stage = Stage.objects.create(name="Qualified")
    action = make_action(
        "create_record",
        model="crm.lead",
        values={"title": "Lead for {{ record.name }}", "stage": stage.pk},
        link_field="contact",
    )
    Stage.objects.filter(pk=stage.pk).delete()
    step, _ = run_step(bob, "Gone", action, 3)
    reasons = set(Trace.objects.filter(activity=step).values_list("state", "reason"))
    assert reasons == {("error", f"stage: stage #{stage.pk} does not exist")}
    assert not Lead.objects.exists()


class Refusing(Sink):
    """An SMTP server refusing the recipients whose address starts with "refused", each with
    its own reply (as real servers name the mailbox they refuse)."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("refused"):
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_sends_refused_each_in_its_own_words_keep_their_reason_and_message(bob, settings):
    """An email step whose recipients are refused each with another reply: every trace gets
    its own reason and its message, all written by one statement from the rows."""
    from aiosmtpd.controller import Controller

    from drumbeat.mailing.models import Message

    from .fixtures import add_email, free_port

    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=5"
    settings.BASE_URL = "http://testserver"
    try:
        people = [f"refused{i}@example.com" for i in range(6)] + ["ok@example.com"]
        Contact.objects.bulk_create(Contact(name=a, email=a, company_name="Mail") for a in people)
        campaign = make_campaign(bob, name="Mail", domain=[["company_name", "=", "Mail"]])
        step = add_email(campaign)
        services.start_campaign(campaign, bob)
        step = Activity.objects.select_related("campaign", "template").get(pk=step.pk)
        assert execute_batch(step, clock.now() + timedelta(minutes=1), 100) == 7
    finally:
        controller.stop()
    traces = Trace.objects.filter(activity=step).select_related("participant")
    reasons = {}
    for trace in traces:
        message = Message.objects.get(trace_id=trace.pk)
        assert trace.message_id == message.pk
        reasons[Contact.objects.get(pk=trace.participant.record_id).email] = trace.reason
    assert len({r for a, r in reasons.items() if a.startswith("refused")}) == 6
    assert all(a in r for a, r in reasons.items() if a.startswith("refused")), reasons
    assert reasons["ok@example.com"] == ""


def test_a_created_records_zone_follows_its_own_rendered_phone(bob):
    make_contacts(2, company_name="Phones")
    brussels, paris = Contact.objects.filter(company_name="Phones").order_by("id")
    Contact.objects.filter(pk=brussels.pk).update(phone="+32 2 555 01 01")
    Contact.objects.filter(pk=paris.pk).update(phone="+33 1 55 55 01 01")
    action = make_action(
        "create_record",
        model="crm.lead",
        values={"title": "Call {{ record.name }}", "phone": "{{ record.phone }}"},
        link_field="contact",
    )
    run_step(bob, "Phones", action, 0)
    zones = dict(Lead.objects.values_list("contact_id", "time_zone"))
    assert zones == {brussels.pk: "Europe/Brussels", paris.pk: "Europe/Paris"}


def test_created_records_with_fixed_values_only_load_no_record(bob):
    """Nothing rendered: the values (and the zone of the fixed phone) are the same for every
    record, checked once, and the source records are never read."""
    hot = Tag.objects.create(name="Hot")
    action = make_action(
        "create_record",
        model="crm.lead",
        values={"title": "Call back", "phone": "+32 2 555 01 01", "priority": 1, "tags": [hot.pk]},
        link_field="contact",
    )
    make_contacts(4, company_name="Fixed")
    campaign = make_campaign(bob, name="Fixed", domain=[["company_name", "=", "Fixed"]])
    step = add_action(campaign, action=action)
    services.start_campaign(campaign, bob)
    step = Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)
    with CaptureQueriesContext(connection) as queries:
        assert execute_batch(step, clock.now() + timedelta(minutes=1), 100) == 4
    loads = [q["sql"] for q in queries.captured_queries if '"contacts_contact"."email"' in q["sql"]]
    assert loads == []  # ids only: the applied filter
    leads = Lead.objects.order_by("contact_id")
    assert [
        (lead.title, lead.time_zone, lead.priority, [t.name for t in lead.tags.all()])
        for lead in leads
    ] == [("Call back", "Europe/Brussels", 1, ["Hot"])] * 4
    reasons = dict(
        Trace.objects.filter(activity=step).values_list("participant__record_id", "reason")
    )
    assert reasons == {lead.contact_id: f"created Lead #{lead.pk}" for lead in leads}


def test_a_fixed_value_no_record_can_take_errors_every_record_and_creates_none(bob):
    action = make_action(
        "create_record",
        model="crm.lead",
        values={"title": "Call {{ record.name }}", "phone": "0" * 40},
        link_field="contact",
    )
    step, _ = run_step(bob, "Long", action, 3)
    reasons = set(Trace.objects.filter(activity=step).values_list("state", "reason"))
    assert reasons == {
        ("error", "{'phone': ['Ensure this value has at most 32 characters (it has 40).']}")
    }
    assert not Lead.objects.exists()


def test_insert_objects_gives_each_object_its_own_row_and_id():
    from drumbeat.automation.engine.sql import insert_objects
    from drumbeat.timeline.models import Note

    contacts = make_contacts(3)
    kind = ContentType.objects.get_for_model(Contact)
    notes = [Note(content_type=kind, object_id=c.pk, body=f"Note {c.name}") for c in contacts]
    ids = insert_objects(Note, notes)
    assert ids == [note.pk for note in notes] and len(set(ids)) == 3
    stored = dict(Note.objects.values_list("pk", "body"))
    assert stored == {note.pk: f"Note {c.name}" for note, c in zip(notes, contacts, strict=True)}


def test_insert_objects_skips_rows_a_unique_constraint_already_holds():
    from drumbeat.automation.engine.sql import insert_objects
    from drumbeat.mailing.models import EmailBlacklist

    EmailBlacklist.objects.create(email="held@example.com", reason="first", active=True)
    rows = [
        EmailBlacklist(email=address, reason="second", active=True)
        for address in ("held@example.com", "new@example.com")
    ]
    assert insert_objects(EmailBlacklist, rows, skip_existing=True) == []
    assert dict(EmailBlacklist.objects.values_list("email", "reason")) == {
        "held@example.com": "first",
        "new@example.com": "second",
    }


def test_a_rendered_time_zone_is_kept_and_an_empty_one_derived(bob):
    """As a record created by hand: a zone given is kept, only a missing one is derived."""
    make_contacts(2, company_name="Zones")
    tokyo, brussels = Contact.objects.filter(company_name="Zones").order_by("id")
    Contact.objects.filter(pk=tokyo.pk).update(phone="+32 2 555 01 01", city="Asia/Tokyo")
    Contact.objects.filter(pk=brussels.pk).update(phone="+32 2 555 01 02", city="")
    action = make_action(
        "create_record",
        model="crm.lead",
        values={
            "title": "Call {{ record.name }}",
            "phone": "{{ record.phone }}",
            "time_zone": "{{ record.city }}",
        },
        link_field="contact",
    )
    run_step(bob, "Zones", action, 0)
    zones = dict(Lead.objects.values_list("contact_id", "time_zone"))
    assert zones == {tokyo.pk: "Asia/Tokyo", brussels.pk: "Europe/Brussels"}
