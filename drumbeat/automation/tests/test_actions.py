"""Server actions (docs/product.md#server-actions): configuration refused on save, effects applied
in bulk."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from drumbeat.automation import actions
from drumbeat.automation.models import ServerAction
from drumbeat.contacts.models import Contact, Tag
from drumbeat.crm.models import Lead
from drumbeat.mailing.models import EmailBlacklist, MailingContact, MailingList, PhoneBlacklist
from drumbeat.timeline.models import Note, Task

from .fixtures import START, make_action, make_contacts, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def run(action: ServerAction, records) -> dict:
    return actions.run_action(action, [r.pk for r in records], START)


@pytest.mark.parametrize(
    "kind, params, message",
    [
        ("update_record", {"field": "shoe_size", "value": 1}, "not a writable field"),
        ("update_record", {"field": "active", "value": "yes"}, "true or false"),
        ("update_record", {"field": "tags", "operation": "add", "value": ["Nope"]}, "no tag"),
        ("update_record", {"field": "name", "operation": "add", "value": "x"}, "only be set"),
        ("update_record", {"field": "name", "value": "{{ record.name "}, "line 1"),
        ("create_activity", {"summary": ""}, "summary"),
        ("create_activity", {"summary": "Call", "user_field": "city"}, "not a user field"),
        ("post_note", {}, "body"),
        ("add_to_list", {"list_id": 999}, "no mailing list"),
        ("create_record", {"model": "crm.lead", "values": {"nope": 1}}, "not a writable"),
        ("send_webhook", {"url": "ftp://example.org"}, "http"),
        ("send_webhook", {"url": "https://example.org", "fields": ["secret"]}, "not a field"),
        ("send_webhook", {"url": "http://169.254.169.254/"}, "169.254.169.254 is link-local"),
        ("send_webhook", {"url": "http://[::ffff:127.0.0.1]:6379/"}, "url: address not allowed"),
        ("explode", {}, "unknown action kind"),
    ],
)
def test_bad_configurations_are_refused_on_save(kind, params, message):
    with pytest.raises(ValidationError, match=message):
        ServerAction.objects.create(name="x", target="contacts.contact", kind=kind, params=params)


def test_update_record_sets_a_field_in_one_statement(django_assert_num_queries):
    contacts = make_contacts(3)
    action = make_action(field="city", value="Ghent")
    with django_assert_num_queries(3):  # savepoint, UPDATE, release
        assert run(action, contacts[:2]) == {}
    assert list(Contact.objects.order_by("id").values_list("city", flat=True)) == [
        "Ghent",
        "Ghent",
        "",
    ]


def test_update_record_follows_a_relation_and_renders_templates():
    (contact,) = make_contacts(1)
    lead = Lead.objects.create(title="Big deal", contact=contact, email="x@example.com")
    through = ServerAction.objects.create(
        name="x",
        target="crm.lead",
        kind="update_record",
        params={"field": "contact.city", "value": "Liège"},
    )
    templated = ServerAction.objects.create(
        name="y",
        target="crm.lead",
        kind="update_record",
        params={"field": "contact_name", "value": "{{ record.title | upper }}"},
    )
    run(through, [lead])
    run(templated, [lead])
    contact.refresh_from_db()
    lead.refresh_from_db()
    assert (contact.city, lead.contact_name) == ("Liège", "BIG DEAL")


def test_templates_cannot_reach_fields_outside_the_allowed_set():
    (contact,) = make_contacts(1)
    user = make_user("sam")
    Contact.objects.filter(pk=contact.pk).update(salesperson=user)
    action = make_action(field="city", value="{{ record.salesperson.password }}")
    result = run(action, [contact])
    assert "password" in result[contact.pk][0]
    contact.refresh_from_db()
    assert contact.city == ""


@pytest.mark.parametrize("operation", ["add", "remove", "set", "clear"])
def test_many_to_many_operations(operation):
    hot, cold = Tag.objects.create(name="Hot"), Tag.objects.create(name="Cold")
    a, b = make_contacts(2)
    a.tags.add(cold)
    action = make_action(
        field="tags", operation=operation, value=["Hot"] if operation != "clear" else []
    )
    if operation == "remove":
        action = make_action(field="tags", operation="remove", value=[cold.pk])
    run(action, [a, b])
    expected = {
        "add": ({"Cold", "Hot"}, {"Hot"}),
        "remove": (set(), set()),
        "set": ({"Hot"}, {"Hot"}),
        "clear": (set(), set()),
    }[operation]
    assert (
        set(a.tags.values_list("name", flat=True)),
        set(b.tags.values_list("name", flat=True)),
    ) == expected
    assert hot.pk


@pytest.mark.parametrize("operation", ["add", "set"])
def test_adding_a_tag_a_record_already_has_keeps_one_link(operation):
    hot, warm = Tag.objects.create(name="Hot"), Tag.objects.create(name="Warm")
    a, b, c = make_contacts(3)
    a.tags.add(hot)
    b.tags.add(hot, warm)
    run(make_action(field="tags", operation=operation, value=[hot.pk, warm.pk]), [a, b, c])
    through = Contact.tags.through.objects
    links = sorted(through.values_list("contact_id", "tag_id"))
    assert links == sorted((r.pk, t.pk) for r in (a, b, c) for t in (hot, warm))


@pytest.mark.postgres_only
def test_adding_a_tag_to_many_records_probes_the_link_table_by_index():
    """The link table empty when the statement is planned (its statistics say so), filled by
    that same statement: a plan looking up each record's existing link by scanning the table
    read it once per record (100,000 records: 37 s instead of 0.8 s). The insert skips
    existing links through the unique index itself."""
    from django.db import connection

    hot = Tag.objects.create(name="Hot")
    contacts = make_contacts(300)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact_tags")  # empty: planned as such
    plans: list[str] = []
    connection.connection.add_notice_handler(lambda n: plans.append(n.message_primary or ""))
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_analyze = on", "log_nested_statements = on"):
            cursor.execute(f"SET LOCAL auto_explain.{setting}")
        cursor.execute("SET LOCAL client_min_messages = log")
    run(make_action(field="tags", operation="add", value=[hot.pk]), contacts)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL client_min_messages = notice")
    inserts = [p for p in plans if "Insert on contacts_contact_tags" in p]
    assert inserts, plans
    assert not any("Seq Scan on contacts_contact_tags" in p for p in inserts), inserts
    assert Contact.tags.through.objects.filter(tag=hot).count() == 300


def test_create_activity_for_the_records_salesperson(django_assert_max_num_queries):
    sam = make_user("sam")
    contacts = make_contacts(50, salesperson=sam)
    action = make_action(
        "create_activity",
        activity_type="call",
        summary="Call back",
        due_amount=2,
        due_unit="days",
        user_field="salesperson",
    )
    with django_assert_max_num_queries(5):
        assert run(action, contacts) == {}
    tasks = Task.objects.filter(content_type=ContentType.objects.get_for_model(Contact))
    assert tasks.count() == 50
    task = tasks.first()
    assert (task.kind, task.assigned_to, str(task.due_date)) == ("call", sam, "2026-03-04")


def test_post_note_renders_the_record():
    (contact,) = make_contacts(1)
    action = make_action("post_note", body="{{ record.name }} is interested")
    run(action, [contact])
    assert Note.objects.get(object_id=contact.pk).body == "Person 0 is interested"


def test_add_to_list_matches_or_creates_mailing_contacts_by_email():
    newsletter = MailingList.objects.create(name="Newsletter")
    a, b = make_contacts(2)
    Contact.objects.create(name="No mail", email="")
    existing = MailingContact.objects.create(name="Known", email="PERSON0@example.com")
    action = make_action("add_to_list", list_id=newsletter.pk)
    no_mail = Contact.objects.get(name="No mail")
    result = run(action, [a, b, no_mail])
    assert result == {no_mail.pk: ("no email address", "")}
    assert set(newsletter.contacts.values_list("email", flat=True)) == {
        "PERSON0@example.com",
        "person1@example.com",
    }
    assert MailingContact.objects.count() == 2
    run(action, [a, b])  # again: nothing doubled
    assert newsletter.subscriptions.count() == 2
    remove = make_action("remove_from_list", list_id=newsletter.pk)
    run(remove, [a])
    assert list(newsletter.contacts.all()) == [
        MailingContact.objects.get(email="person1@example.com")
    ]
    assert existing.pk


def test_records_find_their_mailing_contact_through_the_address_index():
    """Add to / remove from list match records to mailing contacts by the trimmed, lower-cased
    address: each such statement reads the expression index, not the whole table (without
    it, SQLite read every mailing contact once per record: 10 s per batch of 5,000 against
    10,000 mailing contacts). PostgreSQL: with the table's statistics current."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    newsletter = MailingList.objects.create(name="Newsletter")
    MailingContact.objects.bulk_create(
        MailingContact(name=f"Known {i}", email=f"known{i}@example.com") for i in range(5000)
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE mailing_mailingcontact")
    contacts = make_contacts(3)
    with CaptureQueriesContext(connection) as captured:
        run(make_action("add_to_list", list_id=newsletter.pk), contacts)
        run(make_action("remove_from_list", list_id=newsletter.pk), contacts[:1])
    matching = [
        q["sql"]
        for q in captured.captured_queries
        if '"mailing_mailingcontact"' in q["sql"] and "LOWER(TRIM(" in q["sql"].upper()
    ]
    assert len(matching) >= 3, [q["sql"] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        explain = "EXPLAIN" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
        for sql in matching:
            cursor.execute(f"{explain} {sql}")
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            assert "mailing_contact_address" in plan, (sql, plan)
    assert newsletter.subscriptions.count() == 2


def test_blacklist_and_unblacklist_email_and_phone():
    a, b = make_contacts(2)
    Contact.objects.filter(pk=a.pk).update(phone="+32 470 12 34 56")
    run(make_action("blacklist_email", reason="bounced"), [a, b])
    assert set(EmailBlacklist.objects.filter(active=True).values_list("email", flat=True)) == {
        "person0@example.com",
        "person1@example.com",
    }
    run(make_action("unblacklist_email", reason="asked back"), [a])
    assert EmailBlacklist.objects.get(email="person0@example.com").active is False
    result = run(make_action("blacklist_phone", reason="stop"), [a, b])
    assert list(PhoneBlacklist.objects.values_list("number", flat=True)) == ["+32470123456"]
    assert result[b.pk][0] == "no valid phone number"


def test_create_record_links_back_to_the_source():
    (contact,) = make_contacts(1)
    action = make_action(
        "create_record",
        model="crm.lead",
        values={"title": "Lead for {{ record.name }}", "priority": 2, "tags": []},
        link_field="contact",
    )
    result = run(action, [contact])
    lead = Lead.objects.get()
    assert (lead.title, lead.contact, lead.priority) == ("Lead for Person 0", contact, 2)
    assert result[contact.pk] == (None, f"created Lead #{lead.pk}")


def test_multi_runs_its_children_in_order():
    (contact,) = make_contacts(1)
    parent = make_action("multi")
    ServerAction.objects.create(
        name="note",
        target="contacts.contact",
        kind="post_note",
        params={"body": "one"},
        parent=parent,
        sequence=1,
    )
    ServerAction.objects.create(
        name="city",
        target="contacts.contact",
        kind="update_record",
        params={"field": "city", "value": "Namur"},
        parent=parent,
        sequence=2,
    )
    assert run(parent, [contact]) == {}
    contact.refresh_from_db()
    assert contact.city == "Namur"
    assert Note.objects.filter(object_id=contact.pk).count() == 1
    assert actions.is_effectful(parent) is False


class Receiver(BaseHTTPRequestHandler):
    received: list = []
    statuses: list = []
    on_post = None

    def do_POST(self):  # noqa: N802
        if type(self).on_post:
            type(self).on_post()
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(monkeypatch, settings):
    # The receiver listens on loopback, which webhooks may only call when allowed (netguard).
    settings.WEBHOOK_ALLOW = ["127.0.0.1"]
    Receiver.received, Receiver.statuses, Receiver.on_post = [], [], None
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(actions, "WEBHOOK_BACKOFF", 0.01)
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", Receiver
    server.shutdown()


def test_webhook_posts_signed_json_and_records_the_outcome(receiver, settings):
    settings.WEBHOOK_SECRET = "s3cret"
    url, handler = receiver
    (contact,) = make_contacts(1)
    action = make_action("send_webhook", url=url, fields=["name", "email"])
    assert actions.is_effectful(action)
    result = run(action, [contact])
    assert result == {contact.pk: (None, "webhook: HTTP 200")}
    headers, body = handler.received[0]
    payload = json.loads(body)
    assert payload == {
        "model": "contacts.contact",
        "id": contact.pk,
        "action": action.name,
        "name": "Person 0",
        "email": "person0@example.com",
    }
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Drumbeat-Signature"] == expected


def test_webhook_retries_then_reports_the_failure(receiver):
    url, handler = receiver
    (contact,) = make_contacts(1)
    handler.statuses = [503, 502, 500]
    action = make_action("send_webhook", url=url, fields=[])
    error, _ = run(action, [contact])[contact.pk]
    assert error == "webhook failed after retries: HTTP 500"
    assert len(handler.received) == 3


def test_webhook_succeeds_after_a_transient_failure(receiver):
    url, handler = receiver
    (contact,) = make_contacts(1)
    handler.statuses = [503]
    action = make_action("send_webhook", url=url, fields=[])
    assert run(action, [contact]) == {contact.pk: (None, "webhook: HTTP 200")}
    assert len(handler.received) == 2


def test_webhook_redirects_are_not_followed(receiver):
    url, handler = receiver
    (contact,) = make_contacts(1)
    handler.statuses = [302]
    action = make_action("send_webhook", url=url, fields=[])
    error, _ = run(action, [contact])[contact.pk]
    assert error == "webhook: HTTP 302, redirect not followed"
    assert len(handler.received) == 1  # not retried either


def test_a_webhook_refused_when_called_ends_its_trace_as_an_error(receiver, clock, settings):
    """Saved while the administrator allowed localhost; called after the allow-list changed:
    the name is resolved at call time and its loopback address refused, nothing is sent."""
    from drumbeat.automation import services

    from .fixtures import add_action, make_campaign, tick, traces

    url, handler = receiver
    settings.WEBHOOK_ALLOW = ["localhost"]
    action = make_action("send_webhook", url=url.replace("127.0.0.1", "localhost"), fields=[])
    settings.WEBHOOK_ALLOW = []
    bob = make_user("bob")
    make_contacts(2)
    campaign = make_campaign(bob)
    activity = add_action(campaign, action=action)
    services.start_campaign(campaign, bob)
    tick()
    reason = "webhook: address not allowed: 127.0.0.1 is loopback"
    assert [(t.state, t.reason) for t in traces(activity)] == [("error", reason)] * 2
    assert handler.received == []


def test_webhook_retries_carry_the_idempotency_key_of_their_first_attempt(receiver):
    url, handler = receiver
    first, second = make_contacts(2)
    handler.statuses = [503, 200, 200]
    action = make_action("send_webhook", url=url, fields=[])

    run(action, [first, second])

    keys = [headers["Idempotency-Key"] for headers, _ in handler.received]
    assert len(keys) == 3 and all(len(k) == 32 for k in keys)
    assert keys[0] == keys[1]  # the retry of the first record's request
    assert keys[2] != keys[0]  # the second record's request


def test_a_webhook_activity_records_its_start_and_outcome_on_the_trace(receiver, clock):
    from drumbeat.automation import services

    from .fixtures import add_action, make_campaign, tick, traces

    url, handler = receiver
    bob = make_user("bob")
    make_contacts(2)
    campaign = make_campaign(bob)
    activity = add_action(campaign, action=make_action("send_webhook", url=url, fields=["email"]))
    services.start_campaign(campaign, bob)
    tick()
    found = traces(activity)
    assert [(t.state, t.reason) for t in found] == [("processed", "webhook: HTTP 200")] * 2
    assert all(t.started_at == START for t in found)
    assert len(handler.received) == 2


def test_a_webhook_activity_holds_no_transaction_while_it_waits_for_the_receiver(receiver, clock):
    """On SQLite an open transaction is the database's only write lock: a slow receiver must
    not block every other writer. (The test itself runs in a transaction: the engine must not
    open a savepoint around the HTTP call.)"""
    from django.db import connections

    from drumbeat.automation import services

    from .fixtures import add_action, make_campaign, tick, traces

    url, handler = receiver
    engine_connection = connections["default"]  # this thread's: the one the engine uses
    baseline = len(engine_connection.savepoint_ids)
    depths = []
    handler.on_post = lambda: depths.append(len(engine_connection.savepoint_ids))
    bob = make_user("bob")
    make_contacts(2)
    campaign = make_campaign(bob)
    activity = add_action(campaign, action=make_action("send_webhook", url=url, fields=[]))
    services.start_campaign(campaign, bob)

    tick()

    assert [t.state for t in traces(activity)] == ["processed", "processed"]
    assert depths == [baseline, baseline]
