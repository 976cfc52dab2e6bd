"""SQL metacharacters in filter values, search boxes, API filters and CSV cells are data:
stored byte for byte and compared literally, never interpreted (everything goes through
bound parameters)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from drumbeat.automation.domains import count_matching, filter_records
from drumbeat.contacts.models import Contact
from drumbeat.importer import import_csv
from drumbeat.mailing.models import MailingContact

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NASTY = [
    "Robert'); DROP TABLE contacts_contact;--",
    "x' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM accounts_user",
    "%",
    "_",
    "\\",
    "a%b_c\\d",
    "' UNION SELECT password FROM accounts_user --",
    "=cmd|' /C calc'!A0",
    "O'Brien; --",
]


@pytest.fixture
def people(db):
    rows = [Contact(name=value, email=f"p{i}@example.com") for i, value in enumerate(NASTY)]
    rows.append(Contact(name="Plain Person", email="plain@example.com"))
    return Contact.objects.bulk_create(rows)


@pytest.mark.parametrize("value", NASTY)
def test_it_compares_filter_values_literally(people, value):
    assert list(filter_records("contacts.contact", [["name", "=", value]])) == [
        c for c in people if c.name == value
    ]
    assert count_matching("contacts.contact", [["name", "=", value]]) == 1


@pytest.mark.parametrize("value", ["%", "_", "' OR 1=1 --", "\\"])
def test_it_treats_like_wildcards_as_characters(people, value):
    expected = sorted(c.pk for c in people if value.lower() in c.name.lower())
    found = filter_records("contacts.contact", [["name", "ilike", value]])
    assert sorted(found.values_list("pk", flat=True)) == expected
    assert len(expected) < len(people)


def test_it_keeps_every_table_after_nasty_filters(people):
    for value in NASTY:
        list(filter_records("contacts.contact", [["email", "in", [value, value + "'"]]]))
        list(filter_records("contacts.contact", [["tags.name", "not_in", [value]]]))
    assert Contact.objects.count() == len(people)


def test_the_api_domain_filter_is_literal(people, alice):
    from drumbeat.accounts.models import ApiToken

    _, raw = ApiToken.issue(alice, "t")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for value in NASTY:
        domain = json.dumps([["name", "=", value]])
        response = client.get("/api/v1/contacts", {"domain": domain})
        assert response.status_code == 200
        assert [c["name"] for c in response.json()["items"]] == [value]


def test_it_stores_csv_cells_byte_for_byte(tmp_path):
    path = tmp_path / "nasty.csv"
    lines = ["name,email,company_name"]
    for i, value in enumerate(NASTY):
        quoted = '"' + value.replace('"', '""') + '"'
        lines.append(f"{quoted},n{i}@example.com,{quoted}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = import_csv("mailing-contacts", path)

    assert report.ok, report.problems
    stored = dict(MailingContact.objects.values_list("email", "company_name"))
    assert [stored[f"n{i}@example.com"] for i in range(len(NASTY))] == NASTY
    names = set(MailingContact.objects.values_list("name", flat=True))
    assert names == set(NASTY)
