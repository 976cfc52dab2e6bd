"""Contacts over the API: list with filters, create, read, update, delete."""

from __future__ import annotations

import pytest

from drumbeat.contacts.models import Contact
from drumbeat.contacts.services import create_contact
from drumbeat.lib import hooks


@pytest.fixture
def reported():
    """Record what the API reports to the campaigns (the engine listens the same way)."""
    calls: list[tuple[str, list[int]]] = []

    def listener(label: str, ids: list[int]) -> None:
        calls.append((label, ids))

    hooks.listen_records_changed(listener)
    yield calls
    hooks._records_listeners.remove(listener)


@pytest.fixture
def contacts(alice):
    return [
        create_contact(name="Ada", email="ada@example.com", country="BE", tags=["VIP"]),
        create_contact(name="Bea", email="bea@example.com", country="FR"),
        create_contact(name="Cid", email="", country="BE", salesperson=alice),
    ]


@pytest.mark.postgres
def test_it_lists_contacts_with_a_count(marketing_api, contacts):
    r = marketing_api.get("contacts")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3
    assert [c["name"] for c in body["items"]] == ["Ada", "Bea", "Cid"]
    assert body["items"][0]["tags"] == ["VIP"]


@pytest.mark.postgres
def test_it_filters_contacts_with_a_domain(marketing_api, contacts):
    r = marketing_api.get("contacts", domain='[["country", "=", "BE"], ["email", "!=", false]]')
    assert r.status_code == 200
    assert [c["name"] for c in r.json()["items"]] == ["Ada"]
    r = marketing_api.get("contacts", domain='[["tags.name", "=", "VIP"]]')
    assert r.json()["count"] == 1


@pytest.mark.postgres
def test_it_names_the_bad_element_of_a_domain(marketing_api, contacts):
    r = marketing_api.get("contacts", domain='[["country", "=", "BE"], ["shoe_size", ">", 3]]')
    assert r.status_code == 400
    assert "element 2" in r.json()["detail"]
    assert "shoe_size" in r.json()["detail"]


@pytest.mark.parametrize(
    "domain", ['{"a": 1}', "[[", '[["email", "~", 1]]', '["|", ["email", "=", "x"]]']
)
def test_it_refuses_malformed_domains(marketing_api, contacts, domain):
    r = marketing_api.get("contacts", domain=domain)
    assert r.status_code == 400
    assert r.json()["detail"].startswith("domain:")


def test_it_pages_and_orders(marketing_api, contacts):
    r = marketing_api.get("contacts", ordering="-name", limit=2, offset=1)
    body = r.json()
    assert body["count"] == 3
    assert [c["name"] for c in body["items"]] == ["Bea", "Ada"]


@pytest.mark.parametrize(
    "query", [{"ordering": "password"}, {"limit": 0}, {"limit": 501}, {"offset": -1}]
)
def test_it_refuses_bad_list_parameters(marketing_api, contacts, query):
    r = marketing_api.get("contacts", **query)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == next(iter(query))


def test_it_creates_a_contact_through_the_service(
    marketing_api, alice, reported, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        r = marketing_api.post(
            "contacts",
            {
                "name": " Ada ",
                "email": "ADA@Example.com",
                "country": "Belgium",
                "phone": "0470 12 34 56",
                "tags": ["VIP", "Customer"],
                "salesperson": alice.pk,
            },
        )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["name"] == "Ada"
    assert body["email"] == "ada@example.com"
    assert body["country"] == "BE"
    assert body["phone"] == "+32470123456"
    assert sorted(body["tags"]) == ["Customer", "VIP"]
    assert body["salesperson"] == alice.pk
    assert reported == [("contacts.contact", [body["id"]])]


def test_it_names_the_invalid_field(marketing_api):
    r = marketing_api.post("contacts", {"name": "Ada", "email": "not-an-address"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "email"
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Ada", "salesperson": 999}, "salesperson"),
        ({"name": "Ada", "tags": "VIP"}, "tags"),
        ({"name": "Ada", "country": "Atlantis"}, "country"),
        ({"name": "A\x00da"}, "name"),
    ],
)
def test_it_refuses_bad_payloads(marketing_api, payload, field):
    r = marketing_api.post("contacts", payload)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]


def test_it_reads_a_contact(marketing_api, contacts):
    r = marketing_api.get(f"contacts/{contacts[0].pk}")
    assert r.status_code == 200
    assert r.json()["email"] == "ada@example.com"


@pytest.mark.parametrize("pk", ["999999", "0", "abc", str(2**70)])
def test_it_answers_404_or_422_for_unknown_ids(marketing_api, pk):
    r = marketing_api.get(f"contacts/{pk}")
    assert r.status_code == (404 if pk == "999999" else 422)
    assert r.json()["detail"]


def test_it_updates_only_the_given_fields(
    marketing_api, contacts, reported, django_capture_on_commit_callbacks
):
    ada = contacts[0]
    with django_capture_on_commit_callbacks(execute=True):
        r = marketing_api.patch(f"contacts/{ada.pk}", {"city": "Ghent", "tags": []})
    assert r.status_code == 200
    assert r.json()["city"] == "Ghent"
    assert r.json()["email"] == "ada@example.com"
    assert r.json()["tags"] == []
    assert reported == [("contacts.contact", [ada.pk])]


def test_it_refuses_null_for_a_required_field(marketing_api, contacts):
    r = marketing_api.patch(f"contacts/{contacts[0].pk}", {"name": None})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "name"


def test_it_clears_the_salesperson_with_null(marketing_api, contacts):
    r = marketing_api.patch(f"contacts/{contacts[2].pk}", {"salesperson": None})
    assert r.status_code == 200
    assert r.json()["salesperson"] is None


def test_only_administrators_delete_contacts(marketing_api, admin_api, contacts):
    r = marketing_api.delete(f"contacts/{contacts[0].pk}")
    assert r.status_code == 403
    assert "administrators" in r.json()["detail"]
    assert admin_api.delete(f"contacts/{contacts[0].pk}").status_code == 204
    assert not Contact.objects.filter(pk=contacts[0].pk).exists()
    assert admin_api.delete(f"contacts/{contacts[0].pk}").status_code == 404
