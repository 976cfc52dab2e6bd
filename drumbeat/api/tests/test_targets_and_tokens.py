"""The target registry routes and API token management."""

from __future__ import annotations

import pytest

from drumbeat.accounts.models import ApiToken
from drumbeat.contacts.services import create_contact

from .conftest import ApiClient


def test_it_lists_the_four_targets(marketing_api):
    r = marketing_api.get("targets")
    assert r.status_code == 200
    assert [t["key"] for t in r.json()] == [
        "contacts.contact",
        "crm.lead",
        "events.registration",
        "mailing.mailingcontact",
    ]


def test_it_describes_a_targets_fields(marketing_api):
    r = marketing_api.get("targets/contacts.contact/fields")
    assert r.status_code == 200
    body = r.json()
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["tags"]["related"] == "contacts.tag"
    assert fields["is_blacklisted"]["kind"] == "virtual"
    assert "ilike" in fields["email"]["operators"]
    assert "contacts.tag" in body["related"]


@pytest.mark.postgres
def test_it_counts_matching_records(marketing_api):
    create_contact(name="Ada", email="ada@example.com")
    create_contact(name="Bea", email="")
    archived = create_contact(name="Cid", email="cid@example.com")
    archived.active = False
    archived.save()
    r = marketing_api.post("targets/contacts.contact/count", {"domain": [["email", "!=", False]]})
    assert r.json() == {"target": "contacts.contact", "count": 1}
    r = marketing_api.post(
        "targets/contacts.contact/count",
        {"domain": [["email", "!=", False]], "include_archived": True},
    )
    assert r.json()["count"] == 2


def test_it_refuses_bad_counts(marketing_api):
    assert marketing_api.post("targets/nope.nope/count", {"domain": []}).status_code == 422
    r = marketing_api.post("targets/crm.lead/count", {"domain": [["priority", "like", "x"]]})
    assert r.status_code == 400
    assert "priority" in r.json()["detail"]


def test_a_user_manages_own_tokens(marketing_api, bob):
    r = marketing_api.post("tokens", {"name": "laptop"})
    assert r.status_code == 201
    created = r.json()
    assert created["token"].startswith(created["prefix"])
    assert created["user"] == bob.pk
    assert ApiClient(created["token"]).get("me").json()["username"] == "bob"
    listed = marketing_api.get("tokens").json()
    assert {t["name"] for t in listed["items"]} == {"tests", "laptop"}
    assert "token" not in listed["items"][0]
    assert marketing_api.delete(f"tokens/{created['id']}").status_code == 204
    assert ApiClient(created["token"]).get("me").status_code == 401


def test_a_marketing_user_cannot_touch_other_users_tokens(marketing_api, alice):
    token, raw = ApiToken.issue(alice, "admin script")
    assert marketing_api.get(f"tokens/{token.pk}").status_code == 403
    assert marketing_api.delete(f"tokens/{token.pk}").status_code == 403
    assert ApiClient(raw).get("me").status_code == 200
    assert marketing_api.post("tokens", {"name": "x", "user": alice.pk}).status_code == 403
    assert [t["user"] for t in marketing_api.get("tokens").json()["items"]] != [alice.pk]


def test_an_administrator_manages_everyones_tokens(admin_api, bob):
    token, raw = ApiToken.issue(bob, "bob's script")
    assert admin_api.get("tokens").json()["count"] == 2
    r = admin_api.post("tokens", {"name": "for bob", "user": bob.pk})
    assert r.status_code == 201
    assert r.json()["user"] == bob.pk
    assert admin_api.delete(f"tokens/{token.pk}").status_code == 204
    assert ApiClient(raw).get("me").status_code == 401
    assert admin_api.post("tokens", {"name": "x", "user": 999}).status_code == 404
