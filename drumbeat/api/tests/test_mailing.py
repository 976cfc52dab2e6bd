"""Mailing lists, mailing contacts with subscriptions, and the blacklists over the API."""

from __future__ import annotations

import pytest

from drumbeat.mailing import audience
from drumbeat.mailing.models import EmailBlacklist, MailingContact, MailingList, PhoneBlacklist


@pytest.fixture
def lists(db):
    return audience.create_list(name="Newsletter"), audience.create_list(name="Customers")


def test_it_manages_mailing_lists(marketing_api, admin_api):
    r = marketing_api.post("mailing-lists", {"name": "Newsletter"})
    assert r.status_code == 201
    list_id = r.json()["id"]
    r = marketing_api.post("mailing-lists", {"name": "newsletter"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "name"
    r = marketing_api.patch(f"mailing-lists/{list_id}", {"active": False})
    assert r.json()["active"] is False
    assert marketing_api.delete(f"mailing-lists/{list_id}").status_code == 403
    assert admin_api.delete(f"mailing-lists/{list_id}").status_code == 204
    assert not MailingList.objects.exists()


@pytest.mark.postgres
def test_it_creates_a_mailing_contact_with_subscriptions(marketing_api, lists):
    newsletter, customers = lists
    r = marketing_api.post(
        "mailing-contacts",
        {
            "email": "Grace@Example.com",
            "name": "Grace",
            "subscriptions": [
                {"list": newsletter.pk, "confirmed": True},
                {"list": customers.pk, "opt_out": True, "opt_out_reason": "too many"},
            ],
        },
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["email"] == "grace@example.com"
    subs = {s["list"]: s for s in body["subscriptions"]}
    assert subs[newsletter.pk]["confirmed"] is True
    assert subs[customers.pk]["opt_out"] is True
    assert subs[customers.pk]["opt_out_reason"] == "too many"
    assert subs[customers.pk]["opt_out_at"] is not None
    r = marketing_api.get(
        "mailing-contacts",
        domain=f'[["subscriptions", "any", [["list", "=", {newsletter.pk}], '
        '["opt_out", "=", false]]]]',
    )
    assert r.json()["count"] == 1


def test_it_replaces_subscriptions_on_update(marketing_api, lists):
    newsletter, customers = lists
    contact = audience.create_mailing_contact(email="g@example.com", lists=[newsletter])
    audience.opt_out(contact, [newsletter], "bye")
    r = marketing_api.patch(
        f"mailing-contacts/{contact.pk}", {"subscriptions": [{"list": newsletter.pk}]}
    )
    assert r.status_code == 200
    (sub,) = r.json()["subscriptions"]
    assert sub["opt_out"] is False  # an explicit subscription clears the opt-out
    r = marketing_api.patch(
        f"mailing-contacts/{contact.pk}", {"subscriptions": [{"list": customers.pk}]}
    )
    assert [s["list"] for s in r.json()["subscriptions"]] == [customers.pk]


@pytest.mark.parametrize(
    "subscriptions, message",
    [([{"list": 999}], "no mailing list"), ([{"list": 1}, {"list": 1}], "twice")],
)
def test_it_refuses_bad_subscriptions(marketing_api, lists, subscriptions, message):
    r = marketing_api.post(
        "mailing-contacts", {"email": "g@example.com", "subscriptions": subscriptions}
    )
    assert r.status_code == 422
    assert message in r.json()["detail"]
    assert not MailingContact.objects.exists()


def test_only_administrators_delete_mailing_contacts(marketing_api, admin_api, lists):
    contact = audience.create_mailing_contact(email="g@example.com")
    assert marketing_api.delete(f"mailing-contacts/{contact.pk}").status_code == 403
    assert admin_api.delete(f"mailing-contacts/{contact.pk}").status_code == 204
    assert not MailingContact.objects.exists()


def test_it_blacklists_and_lifts_emails(admin_api, marketing_api):
    r = admin_api.post("blacklist/emails", {"email": " Bad@Example.com", "reason": "bounced"})
    assert r.status_code == 201
    entry = r.json()
    assert (entry["email"], entry["active"]) == ("bad@example.com", True)
    assert marketing_api.get("blacklist/emails", search="bad").json()["count"] == 1
    r = admin_api.patch(f"blacklist/emails/{entry['id']}", {"active": False})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "reason"
    r = admin_api.patch(f"blacklist/emails/{entry['id']}", {"active": False, "reason": "asked"})
    assert r.json()["active"] is False
    assert admin_api.get("blacklist/emails", active="true").json()["count"] == 0
    r = admin_api.patch(f"blacklist/emails/{entry['id']}", {"active": True, "reason": "again"})
    assert r.json()["active"] is True
    assert admin_api.delete(f"blacklist/emails/{entry['id']}").status_code == 204
    assert EmailBlacklist.objects.get().active is False


def test_it_blacklists_phone_numbers(admin_api):
    r = admin_api.post("blacklist/phones", {"number": "+32 470 12 34 56"})
    assert r.status_code == 201
    assert r.json()["number"] == "+32470123456"
    r = admin_api.post("blacklist/phones", {"number": "12"})
    assert r.status_code == 422
    entry_id = PhoneBlacklist.objects.get().pk
    assert admin_api.delete(f"blacklist/phones/{entry_id}").status_code == 204
    assert PhoneBlacklist.objects.get().active is False


def test_only_administrators_change_blacklists(marketing_api):
    entry = audience.blacklist_email("bad@example.com")
    number = audience.blacklist_phone("+32470123456")
    assert marketing_api.post("blacklist/emails", {"email": "x@example.com"}).status_code == 403
    assert marketing_api.delete(f"blacklist/emails/{entry.pk}").status_code == 403
    assert (
        marketing_api.patch(f"blacklist/phones/{number.pk}", {"active": False}).status_code == 403
    )
    assert marketing_api.get(f"blacklist/emails/{entry.pk}").status_code == 200
    assert EmailBlacklist.objects.count() == 1
