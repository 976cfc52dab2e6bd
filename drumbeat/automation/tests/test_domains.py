"""The filter language (automation/domains.py): every operator, relations, logic, relative
dates, virtual blacklist facts, archived records, and every kind of malformed filter."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from drumbeat.accounts.models import User
from drumbeat.automation.domains import (
    MAX_IN_VALUES,
    MAX_JSON_BYTES,
    DomainError,
    combine_domains,
    compile_domain,
    count_matching,
    filter_records,
    parse_domain,
    validate_domain,
)
from drumbeat.contacts.models import Contact, Tag
from drumbeat.crm.models import Lead, Stage
from drumbeat.events.models import Event, Registration
from drumbeat.mailing.models import (
    EmailBlacklist,
    MailingContact,
    MailingList,
    PhoneBlacklist,
    Subscription,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC)
CONTACTS = "contacts.contact"


@pytest.fixture
def data():
    """Ann (BE, VIP, Sofia's, phone blacklisted), Bob (FR, email blacklisted in other case),
    Cy (nothing set), Dee (archived, BE)."""
    sofia = User.objects.create(username="sofia", first_name="Sofia")
    vip, customer = Tag.objects.create(name="VIP"), Tag.objects.create(name="Customer")
    ann = Contact.objects.create(
        name="Ann Peeters",
        email="ann@example.com",
        phone="+32470000001",
        country="BE",
        city="Gent",
        salesperson=sofia,
        created_at=NOW - dt.timedelta(days=2),
    )
    ann.tags.add(vip)
    bob = Contact.objects.create(
        name="Bob Martin",
        email=" Bob@Example.org",
        phone="+33612345678",
        country="FR",
        company_name="Acme_50%",
        created_at=NOW - dt.timedelta(days=10),
    )
    bob.tags.add(customer)
    cy = Contact.objects.create(name="Cy", created_at=NOW - dt.timedelta(days=40))
    dee = Contact.objects.create(
        name="Dee", email="dee@example.com", country="BE", active=False, created_at=NOW
    )
    dee.tags.add(vip)
    EmailBlacklist.objects.create(email="bob@example.org", reason="asked")
    EmailBlacklist.objects.create(email="cy@example.com", reason="old", active=False)
    PhoneBlacklist.objects.create(number="+32470000001", reason="STOP")
    PhoneBlacklist.objects.create(number="+33612345678", reason="lifted", active=False)

    won = Stage.objects.create(name="Won", sequence=40, is_won=True)
    new = Stage.objects.create(name="New", sequence=10)
    big = Lead.objects.create(
        title="Big deal", contact=ann, priority=3, stage=won, expected_revenue=Decimal("5000")
    )
    small = Lead.objects.create(title="Small deal", priority=0, stage=new, email="x@example.com")
    summit = Event.objects.create(name="Summit", date_begin=NOW, date_end=NOW)
    reg = Registration.objects.create(
        event=summit, name="Bob Martin", email="bob@example.org", contact=bob, state="attended"
    )
    news, customers = (
        MailingList.objects.create(name="Newsletter"),
        MailingList.objects.create(name="Customers"),
    )
    m_in = MailingContact.objects.create(name="In", email="in@example.com")
    m_out = MailingContact.objects.create(name="Out", email="out@example.com")
    Subscription.objects.create(contact=m_in, list=news)
    Subscription.objects.create(contact=m_out, list=news, opt_out=True, opt_out_at=NOW)
    Subscription.objects.create(contact=m_out, list=customers)
    return {
        "ann": ann.pk, "bob": bob.pk, "cy": cy.pk, "dee": dee.pk, "vip": vip.pk,
        "big": big.pk, "small": small.pk, "reg": reg.pk, "in": m_in.pk, "out": m_out.pk,
        "sofia": sofia.pk,
    }  # fmt: skip


def names(domain, target=CONTACTS, include_archived=False) -> set[str]:
    qs = filter_records(target, domain, include_archived=include_archived, now=NOW)
    field = {"crm.lead": "title"}.get(target, "name")
    return set(qs.values_list(field, flat=True))


# --- matching ---------------------------------------------------------------------------------


def test_an_empty_filter_matches_every_active_record(data):
    assert names([]) == {"Ann Peeters", "Bob Martin", "Cy"}
    assert names(None) == names("") == names("[]") == names([])
    assert names([], include_archived=True) == {"Ann Peeters", "Bob Martin", "Cy", "Dee"}


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([["country", "=", "BE"]], {"Ann Peeters"}),
        ([["country", "!=", "BE"]], {"Bob Martin", "Cy"}),
        ([["country", "in", ["BE", "FR"]]], {"Ann Peeters", "Bob Martin"}),
        ([["country", "not_in", ["BE", "FR"]]], {"Cy"}),
        ([["country", "in", ["BE", False]]], {"Ann Peeters", "Cy"}),
        ([["name", "like", "Pee"]], {"Ann Peeters"}),
        ([["name", "like", "pee"]], set()),
        ([["name", "not_like", "Pee"]], {"Bob Martin", "Cy"}),
        ([["name", "ilike", "pee"]], {"Ann Peeters"}),
        ([["name", "not_ilike", "PEE"]], {"Bob Martin", "Cy"}),
        ([["name", "=like", "A%"]], {"Ann Peeters"}),
        ([["name", "=like", "a%"]], set()),
        ([["name", "=like", "C_"]], {"Cy"}),
        ([["name", "=ilike", "a%s"]], {"Ann Peeters"}),
        ([["company_name", "ilike", "_50%"]], {"Bob Martin"}),  # wildcards taken literally
        ([["company_name", "ilike", "x_50"]], set()),
        ([["email", "=", False]], {"Cy"}),
        ([["email", "=", None]], {"Cy"}),
        ([["email", "!=", False]], {"Ann Peeters", "Bob Martin"}),
        ([["salesperson", "=", False]], {"Bob Martin", "Cy"}),
        ([["salesperson", "!=", False]], {"Ann Peeters"}),
        ([["salesperson", "=", True]], {"Ann Peeters"}),
        ([["active", "=", True]], {"Ann Peeters", "Bob Martin", "Cy"}),
        ([["id", ">", 0], ["id", "<", 0]], set()),
    ],
)
def test_comparison_operators(data, domain, expected):
    assert names(domain) == expected


def test_ids_and_relations_by_id(data):
    assert names([["id", "=", data["ann"]]]) == {"Ann Peeters"}
    assert names([["id", "in", [data["ann"], data["cy"]]]]) == {"Ann Peeters", "Cy"}
    assert names([["salesperson", "=", data["sofia"]]]) == {"Ann Peeters"}
    assert names([["salesperson", "in", [data["sofia"], False]]]) == {
        "Ann Peeters",
        "Bob Martin",
        "Cy",
    }
    assert names([["tags", "in", [data["vip"]]]]) == {"Ann Peeters"}
    assert names([["tags", "not_in", [data["vip"]]]]) == {"Bob Martin", "Cy"}


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([["salesperson.username", "=", "sofia"]], {"Ann Peeters"}),
        # through a many-to-one, a negative condition needs the related record to exist
        ([["salesperson.username", "!=", "sofia"]], set()),
        ([["tags.name", "=", "VIP"]], {"Ann Peeters"}),
        # through a to-many relation, a negative condition means "none of them"
        ([["tags.name", "!=", "VIP"]], {"Bob Martin", "Cy"}),
        ([["tags.name", "not_in", ["VIP", "Customer"]]], {"Cy"}),
        ([["tags", "=", False]], {"Cy"}),
        ([["tags", "!=", False]], {"Ann Peeters", "Bob Martin"}),
        ([["leads.stage.name", "=", "Won"]], {"Ann Peeters"}),
        ([["leads", "any", [["priority", ">=", 2]]]], {"Ann Peeters"}),
        ([["leads", "not_any", [["priority", ">=", 2]]]], {"Bob Martin", "Cy"}),
        ([["leads", "any", []]], {"Ann Peeters"}),
        (
            [["leads", "any", [["contact.leads", "any", [["title", "=", "Big deal"]]]]]],
            {"Ann Peeters"},
        ),
        ([["registrations", "any", [["event.name", "=", "Summit"]]]], {"Bob Martin"}),
        ([["tags", "any", [["name", "ilike", "cust"]]]], {"Bob Martin"}),
    ],
)
def test_relations(data, domain, expected):
    assert names(domain) == expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        (["!", ["country", "=", "BE"]], {"Bob Martin", "Cy"}),
        (["|", ["country", "=", "BE"], ["country", "=", "FR"]], {"Ann Peeters", "Bob Martin"}),
        (["&", ["country", "=", "BE"], ["name", "=like", "B%"]], set()),
        ([["email", "!=", False], ["country", "=", "FR"]], {"Bob Martin"}),
        (
            [["email", "!=", False], "|", ["country", "=", "BE"], ["tags.name", "=", "VIP"]],
            {"Ann Peeters"},
        ),
        (
            ["|", "|", ["name", "=", "Cy"], ["name", "=", "Ann Peeters"], ["country", "=", "FR"]],
            {"Ann Peeters", "Bob Martin", "Cy"},
        ),
        (["!", "|", ["name", "=", "Cy"], ["country", "=", "FR"]], {"Ann Peeters"}),
        (
            ["|", "!", ["name", "=", "Cy"], ["country", "=", False]],
            {"Ann Peeters", "Bob Martin", "Cy"},
        ),
    ],
)
def test_logic_operators(data, domain, expected):
    assert names(domain) == expected


def test_a_long_odoo_style_or_chain_is_accepted(data):
    domain = ["|"] * 99 + [["name", "=", f"nobody {i}"] for i in range(99)] + [["name", "=", "Cy"]]
    assert names(domain) == {"Cy"}


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("-7d", {"Ann Peeters"}),
        ("-1w", {"Ann Peeters"}),
        ("-11d", {"Ann Peeters", "Bob Martin"}),
        ("-1m", {"Ann Peeters", "Bob Martin"}),
        ("-2m", {"Ann Peeters", "Bob Martin", "Cy"}),
        ("-47h", set()),
        ("-49h", {"Ann Peeters"}),
        ("+1h", set()),
    ],
)
def test_relative_dates_are_resolved_against_the_clock(data, relative, expected):
    domain = [["created_at", ">=", {"now": relative}]]
    assert set(filter_records(CONTACTS, domain).values_list("name", flat=True)) == expected


def test_relative_dates_move_with_the_clock(data):
    domain = [["created_at", ">=", {"now": "-7d"}]]
    with time_machine.travel(NOW + dt.timedelta(days=6), tick=False):
        assert count_matching(CONTACTS, domain) == 0
    with time_machine.travel(NOW, tick=False):
        assert count_matching(CONTACTS, domain) == 1


def test_absolute_dates(data):
    assert names([["created_at", "<", "2026-03-01"]]) == {"Cy"}
    assert names([["created_at", ">", "2026-03-13T00:00:00+00:00"]]) == {"Ann Peeters"}


def test_virtual_blacklist_facts(data):
    # Bob's address is stored " Bob@Example.org": compared normalised; Cy's entry is lifted
    assert names([["is_blacklisted", "=", True]]) == {"Bob Martin"}
    assert names([["is_blacklisted", "=", False]]) == {"Ann Peeters", "Cy"}
    assert names([["is_blacklisted", "!=", True]]) == {"Ann Peeters", "Cy"}
    assert names([["phone_is_blacklisted", "=", True]]) == {"Ann Peeters"}  # Bob's lifted
    assert names(["!", ["phone_is_blacklisted", "=", True]]) == {"Bob Martin", "Cy"}


def test_archived_records_only_on_request(data):
    assert names([["country", "=", "BE"]], include_archived=True) == {"Ann Peeters", "Dee"}
    assert names([["active", "=", False]]) == set()
    assert names([["active", "=", False]], include_archived=True) == {"Dee"}


def test_other_targets(data):
    assert names([["contact.country", "=", "BE"]], "crm.lead") == {"Big deal"}
    assert names([["contact", "=", False]], "crm.lead") == {"Small deal"}
    assert names([["priority", "in", [2, 3]]], "crm.lead") == {"Big deal"}
    assert names([["expected_revenue", ">", 1000]], "crm.lead") == {"Big deal"}
    assert names([["expected_revenue", "<=", "0.5"]], "crm.lead") == {"Small deal"}
    assert names([["stage.is_won", "=", True]], "crm.lead") == {"Big deal"}
    assert names([["is_blacklisted", "=", True]], "crm.lead") == set()
    registrations = "events.registration"
    assert names([["event.name", "=", "Summit"], ["state", "=", "attended"]], registrations) == {
        "Bob Martin"
    }
    assert names([["is_blacklisted", "=", True]], registrations) == {"Bob Martin"}
    assert names([["contact.tags.name", "=", "Customer"]], registrations) == {"Bob Martin"}
    mailing = "mailing.mailingcontact"
    assert names([["lists.name", "=", "Customers"]], mailing) == {"Out"}
    assert names([["subscriptions.opt_out", "=", True]], mailing) == {"Out"}
    assert names(
        [["subscriptions", "any", [["list.name", "=", "Newsletter"], ["opt_out", "=", False]]]],
        mailing,
    ) == {"In"}
    assert names([["subscriptions.opt_out_at", "=", False]], mailing) == {"In", "Out"}


def test_combine_domains_ands_them(data):
    campaign = ["|", ["country", "=", "BE"], ["country", "=", "FR"]]
    activity = [["tags.name", "=", "VIP"], ["email", "!=", False]]
    combined = combine_domains(campaign, None, [], activity)

    assert names(combined) == {"Ann Peeters"}
    assert combine_domains() == [] == combine_domains(None, [])


def test_json_text_is_accepted(data):
    assert names(json.dumps([["country", "=", "FR"]])) == {"Bob Martin"}
    assert parse_domain(b'[["name", "=", "x"]]') == [["name", "=", "x"]]


def test_compile_returns_a_q_usable_anywhere(data):
    q = compile_domain(CONTACTS, [["country", "=", "BE"]], now=NOW)
    assert Contact.objects.filter(q).count() == 2  # archived Dee too: no base filter here


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ({"country": "BE"}, "A filter must be a JSON list of conditions"),
        ("42", "A filter must be a JSON list of conditions"),
        ('[["name", "=", ', "The filter is not valid JSON"),
        ("x" * (MAX_JSON_BYTES + 1), "The filter is too large"),
        ([["name", "=", "x" * 999]] * 120, "The filter is too large"),
        (
            [["nope", "=", 1]],
            'filter, element 1 ["nope", "=", 1]: unknown field \'nope\' on contact',
        ),
        (
            [["name", "=", "a"], ["tags.nope", "=", 1]],
            'filter, element 2 ["tags.nope", "=", 1]: unknown field \'nope\' on tag',
        ),
        ([["name.first", "=", "a"]], "'name' is not a relation, it cannot be followed"),
        ([["", "=", "a"]], 'element 1 ["", "=", "a"]: the field must be a non-empty text'),
        ([[1, "=", "a"]], "the field must be a non-empty text"),
        ([["name", "~", "a"]], 'element 1 ["name", "~", "a"]: unknown operator \'~\''),
        ([["active", "like", "x"]], "operator 'like' does not apply to active (bool)"),
        ([["created_at", "in", []]], "operator 'in' does not apply to created at (datetime)"),
        ([["tags", "like", "x"]], "operator 'like' does not apply to tags (many2many)"),
        ([["name", "any", []]], "operator 'any' does not apply to name (char)"),
        ([["name", "="]], 'element 1 ["name", "="]: a condition is a list [field, operator'),
        ([["name", "=", "a", "b"]], "a condition is a list [field, operator, value]"),
        ([42], "element 1 42: a condition is a list"),
        (["&&", ["name", "=", "a"]], "element 1: '&&' is not a logic operator"),
        (["|", ["name", "=", "a"]], "filter, element 1: '|' needs 2 operands"),
        (["!"], "filter, element 1: '!' needs 1 operand"),
        ([["name", "=", "a"], "&"], "filter, element 2: '&' needs 2 operands"),
        (["!"] * 40 + [["name", "=", "a"]], "nested too deeply"),
        ([["name", "=", "a"]] * 501, "too many elements (501 > 500)"),
        ([["created_at", ">", "yesterday"]], "'yesterday' is not a date"),
        ([["created_at", ">", {"now": "-7y"}]], "'-7y' is not a relative date like \"-7d\""),
        ([["created_at", ">", {"now": 7}]], 'a relative date is written {"now": "-7d"}'),
        ([["created_at", ">", {"then": "-7d"}]], 'a relative date is written {"now": "-7d"}'),
        ([["country", "in", "BE"]], "'in' needs a list of values"),
        ([["country", "not_in", 5]], "'not_in' needs a list of values"),
        ([["id", "in", list(range(MAX_IN_VALUES + 1))]], "too many values (more than 10000)"),
        ([["name", "=", 5]], "5 is not a valid char value for 'name'"),
        ([["name", "ilike", "a\x00"]], "the text holds a NUL character"),
        ([["name", "=", ["a"]]], "is not a valid char value"),
        ([["id", "=", "1"]], "'1' is not a valid int value for 'id'"),
        ([["id", "=", True]], "True is not a valid int value"),
        ([["active", "=", "yes"]], "'yes' is not a valid bool value for 'active'"),
        ([["is_blacklisted", "=", 1]], "1 is not a valid bool value"),
        ([["name", "like", False]], "'not set' (false) can only be compared with = or !="),
        ([["leads", "any", "x"]], 'sub-filter: expected a list of conditions, got "x"'),
        (
            [["leads", "any", [["nope", "=", 1]]]],
            'sub-filter, element 1 ["nope", "=", 1]: unknown field \'nope\' on lead',
        ),
        ([["leads", "any", [["is_blacklisted", "=", True]]]], "unknown field 'is_blacklisted'"),
        (
            [["leads.contact.leads.contact.name", "=", "x"]],
            "relations can be followed 3 levels deep at most",
        ),
        (
            [["leads", "any", [["contact.leads", "any", [["contact.name", "=", "x"]]]]]],
            "relations can be followed 3 levels deep at most",
        ),
    ],
)
def test_malformed_filters_are_refused_naming_the_element(domain, message):
    with pytest.raises(DomainError) as exc:
        validate_domain(CONTACTS, domain)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("target", "domain", "message"),
    [
        ("crm.lead", [["priority", "=", 7]], "7 is not one of 0, 1, 2, 3"),
        ("crm.lead", [["priority", "=", "high"]], "'high' is not a valid int value"),
        ("crm.lead", [["priority", "like", "1"]], "operator 'like' does not apply to priority"),
        ("crm.lead", [["expected_revenue", ">", "lots"]], "'lots' is not a valid float value"),
        ("crm.lead", [["expected_revenue", ">", 1e20]], "is not a valid float value"),
        ("events.registration", [["state", "=", "lost"]], "'lost' is not one of draft"),
        ("events.registration", [["active", "=", True]], "unknown field 'active'"),
        ("nope.nope", [], "Unknown target 'nope.nope'"),
    ],
)
def test_malformed_filters_on_other_targets(target, domain, message):
    with pytest.raises(DomainError) as exc:
        count_matching(target, domain)
    assert message in str(exc.value)


def test_a_deeply_nested_json_payload_is_refused_without_recursion_error():
    with pytest.raises(DomainError):
        parse_domain("[" * 100_000 + "]" * 100_000)
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(DomainError):
        validate_domain(CONTACTS, deep)


def test_timezone_aware_datetimes_are_kept():
    node = validate_domain(CONTACTS, [["created_at", ">", "2026-01-01T10:00:00"]])
    assert timezone.is_aware(node.value)
