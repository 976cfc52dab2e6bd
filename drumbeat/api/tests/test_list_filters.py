"""Every collection lists by `domain` (the filter language over its own fields) and every
route refuses query parameters it does not take, naming them (issue 14).

The routes come from the API object's OpenAPI document, so a new collection or route is
covered (and must get a row in FILTERS) without editing these tests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from drumbeat.accounts.models import ApiToken, User
from drumbeat.api.main import api
from drumbeat.automation.models import (
    Activity,
    Campaign,
    Participant,
    ServerAction,
    Trace,
    WebhookDelivery,
    WebhookEndpoint,
)
from drumbeat.brand.models import MediaFile
from drumbeat.contacts.models import Contact, Tag
from drumbeat.crm.models import Lead, Stage
from drumbeat.events.models import Event, Registration
from drumbeat.mailing.models import (
    Click,
    EmailBlacklist,
    Link,
    MailingContact,
    MailingList,
    Message,
    PhoneBlacklist,
    Template,
)

from .conftest import BASE
from .test_every_route import OPERATIONS

OPENAPI = api.get_openapi_schema()


def _query_names(path: str, method: str) -> set[str]:
    parameters = OPENAPI["paths"][path][method].get("parameters", [])
    return {p["name"] for p in parameters if p["in"] == "query"}


LIST_ROUTES = sorted(
    path.removeprefix(f"{BASE}/")
    for path, methods in OPENAPI["paths"].items()
    if "get" in methods and "limit" in _query_names(path, "get")
)

# --- builders: rows of a collection; they return (domain, the ids it must list) ---------------

Built = tuple[list, list[int]]


def _campaign(name: str, **fields: Any) -> Campaign:
    return Campaign.objects.create(name=name, target="contacts.contact", **fields)


def _activity(campaign: Campaign, name: str, **fields: Any) -> Activity:
    return Activity.objects.create(campaign=campaign, name=name, **fields)


def _message(recipient: str, **fields: Any) -> Message:
    return Message.objects.create(
        channel="email", recipient=recipient, message_id=f"<{recipient}>", token=recipient, **fields
    )


def contacts(user: User) -> Built:
    Contact.objects.create(name="Ann", email="ann@example.com", country="BE")
    bob = Contact.objects.create(name="Bob", email="bob@example.com", country="FR")
    return [["country", "=", "FR"]], [bob.pk]


def tags(user: User) -> Built:
    Tag.objects.create(name="VIP")
    cold = Tag.objects.create(name="Cold")
    return [["name", "=", "Cold"]], [cold.pk]


def leads(user: User) -> Built:
    ann = Contact.objects.create(name="Ann", email="ann@example.com")
    Lead.objects.create(title="Small deal")
    big = Lead.objects.create(title="Big deal", contact=ann, priority=3)
    return [["contact.name", "=", "Ann"], ["priority", ">=", 2]], [big.pk]


def stages(user: User) -> Built:
    Stage.objects.create(name="Test qualified", sequence=900)
    won = Stage.objects.create(name="Test won", sequence=901, is_won=True)
    return [["sequence", ">=", 900], ["is_won", "=", True]], [won.pk]


def events(user: User) -> Built:
    day = timezone.now()
    Event.objects.create(name="Expo", date_begin=day, date_end=day, location="Ghent")
    fair = Event.objects.create(name="Fair", date_begin=day, date_end=day, location="Liège")
    return [["location", "=", "Liège"]], [fair.pk]


def registrations(user: User) -> Built:
    day = timezone.now()
    expo = Event.objects.create(name="Expo", date_begin=day, date_end=day)
    fair = Event.objects.create(name="Fair", date_begin=day, date_end=day)
    Registration.objects.create(event=expo, name="Ann")
    bob = Registration.objects.create(event=fair, name="Bob")
    return [["event.name", "=", "Fair"]], [bob.pk]


def mailing_lists(user: User) -> Built:
    MailingList.objects.create(name="Newsletter")
    private = MailingList.objects.create(name="Insiders", is_public=False)
    return [["is_public", "=", False]], [private.pk]


def mailing_contacts(user: User) -> Built:
    newsletter = MailingList.objects.create(name="Newsletter")
    MailingContact.objects.create(email="ann@example.com")
    bob = MailingContact.objects.create(email="bob@example.com")
    bob.lists.add(newsletter)
    return [["lists.name", "=", "Newsletter"]], [bob.pk]


def email_blacklist(user: User) -> Built:
    EmailBlacklist.objects.create(email="ann@example.com")
    lifted = EmailBlacklist.objects.create(email="bob@example.com", active=False)
    return [["active", "=", False]], [lifted.pk]


def phone_blacklist(user: User) -> Built:
    PhoneBlacklist.objects.create(number="+32470000001")
    french = PhoneBlacklist.objects.create(number="+33600000001")
    return [["number", "=like", "+33%"]], [french.pk]


def templates(user: User) -> Built:
    Template.objects.create(name="Welcome", kind="email", target="contacts.contact")
    sms = Template.objects.create(name="Reminder", kind="sms", target="crm.lead")
    return [["kind", "=", "sms"]], [sms.pk]


def server_actions(user: User) -> Built:
    ServerAction.objects.create(
        name="Priority high",
        target="crm.lead",
        kind="update_record",
        params={"field": "priority", "value": 3},
    )
    low = ServerAction.objects.create(
        name="Priority low",
        target="crm.lead",
        kind="update_record",
        params={"field": "priority", "value": 1},
        sequence=20,
    )
    return [["name", "ilike", "low"]], [low.pk]


def campaigns(user: User) -> Built:
    _campaign("Welcome", owner=user)
    running = _campaign("Reminders", state="running")
    _activity(running, "Text them", kind="sms")
    return [["state", "=", "running"], ["activities.kind", "=", "sms"]], [running.pk]


def activities(user: User) -> Built:
    welcome, other = _campaign("Welcome"), _campaign("Other")
    first = _activity(welcome, "First")
    _activity(welcome, "Later", delay_amount=2, delay_unit="days")
    _activity(other, "First")
    return [["campaign.name", "=", "Welcome"], ["delay_hours", "=", 0]], [first.pk]


def participants(user: User) -> Built:
    campaign = _campaign("Welcome")
    Participant.objects.create(campaign=campaign, record_id=1, unique_key="ann@example.com")
    test = Participant.objects.create(campaign=campaign, record_id=2, is_test=True)
    return [["is_test", "=", True]], [test.pk]


def traces(user: User) -> Built:
    campaign = _campaign("Welcome")
    send, tag = _activity(campaign, "Send"), _activity(campaign, "Tag", kind="action")
    ann = Participant.objects.create(campaign=campaign, record_id=1)
    bob = Participant.objects.create(campaign=campaign, record_id=2)
    Trace.objects.create(participant=ann, activity=send, state="processed")
    failed = Trace.objects.create(participant=bob, activity=send, state="error")
    Trace.objects.create(participant=bob, activity=tag, state="error")
    return [["state", "=", "error"], ["activity.name", "=", "Send"]], [failed.pk]


def links(user: User) -> Built:
    Link.objects.create(url="https://example.com/a", code="aaaaaa", campaign_id=1)
    clicked = Link.objects.create(url="https://example.com/b", code="bbbbbb", campaign_id=1)
    Click.objects.create(link=clicked)
    return [["clicks", "!=", False]], [clicked.pk]


def clicks(user: User) -> Built:
    link = Link.objects.create(url="https://example.com/a", code="aaaaaa")
    Click.objects.create(link=link, is_machine=True)
    person = Click.objects.create(link=link, message=_message("ann@example.com"))
    return [["message.recipient", "=", "ann@example.com"]], [person.pk]


def messages(user: User) -> Built:
    _message("ann@example.com")
    bounced = _message("bob@example.com", bounce_kind="hard", bounced_at=timezone.now())
    return [["bounce_kind", "=", "hard"]], [bounced.pk]


def tokens(user: User) -> Built:
    ApiToken.issue(user, "CRM sync")
    old, _ = ApiToken.issue(user, "Old sync")
    old.revoke()
    return [["revoked_at", "!=", False], ["user.username", "=", user.username]], [old.pk]


def webhook_endpoints(user: User) -> Built:
    WebhookEndpoint.objects.create(url="https://crm.example.org/in", events=["message.opened"])
    paused = WebhookEndpoint.objects.create(
        url="https://bi.example.org/in", events=["message.opened"], active=False
    )
    return [["active", "=", False]], [paused.pk]


def webhook_deliveries(user: User) -> Built:
    crm = WebhookEndpoint.objects.create(url="https://crm.example.org/in", events=["x"])
    WebhookDelivery.objects.create(endpoint=crm, event="message.opened", state="delivered")
    failed = WebhookDelivery.objects.create(
        endpoint=crm, event="message.opened", state="failed", last_status=503
    )
    return [["state", "=", "failed"], ["last_status", ">=", 500]], [failed.pk]


def media(user: User) -> Built:
    def add(name: str, width: int, content_type: str = "image/png") -> MediaFile:
        return MediaFile.objects.create(
            name=name, content_type=content_type, size=100, width=width, height=10
        )

    add("a" * 40 + ".png", 600)
    add("b" * 40 + ".gif", 800, "image/gif")
    wide = add("c" * 40 + ".png", 900)
    return [["content_type", "=", "image/png"], ["width", ">=", 700]], [wide.pk]


FILTERS: dict[str, Callable[[User], Built]] = {
    "contacts": contacts,
    "tags": tags,
    "leads": leads,
    "stages": stages,
    "events": events,
    "registrations": registrations,
    "mailing-lists": mailing_lists,
    "mailing-contacts": mailing_contacts,
    "blacklist/emails": email_blacklist,
    "blacklist/phones": phone_blacklist,
    "templates": templates,
    "server-actions": server_actions,
    "campaigns": campaigns,
    "activities": activities,
    "participants": participants,
    "traces": traces,
    "links": links,
    "clicks": clicks,
    "messages": messages,
    "tokens": tokens,
    "webhook-endpoints": webhook_endpoints,
    "webhook-deliveries": webhook_deliveries,
    "media": media,
}


def test_every_list_route_has_a_filter_case():
    assert sorted(FILTERS) == LIST_ROUTES


@pytest.mark.parametrize("collection", LIST_ROUTES)
def test_every_list_documents_domain_and_its_fields(collection):
    domain = next(
        p
        for p in OPENAPI["paths"][f"{BASE}/{collection}"]["get"]["parameters"]
        if p["name"] == "domain"
    )
    assert "Fields: `id`" in domain["description"]
    assert "400" in domain["description"]


@pytest.mark.postgres
@pytest.mark.parametrize("collection", sorted(FILTERS))
def test_it_lists_exactly_what_the_domain_matches(admin_api, alice, collection):
    domain, expected = FILTERS[collection](alice)
    r = admin_api.get(collection, domain=json.dumps(domain), limit=500)
    assert r.status_code == 200, r.json()
    assert sorted(item["id"] for item in r.json()["items"]) == sorted(expected)
    assert r.json()["count"] == len(expected)
    everything = admin_api.get(collection, limit=500).json()["count"]
    assert everything > len(expected)  # the filter did filter


@pytest.mark.parametrize("collection", LIST_ROUTES)
@pytest.mark.parametrize(
    "domain, message",
    [
        ("[[", "not valid JSON"),
        ('{"id": 1}', "must be a JSON list"),
        ('[["id", "~", 1]]', "unknown operator"),
        ('["|", ["id", "=", 1]]', "needs 2 operands"),
        ('[["id", "=", "one"]]', "not a valid int value"),
    ],
)
def test_every_list_refuses_a_malformed_domain(admin_api, collection, domain, message):
    r = admin_api.get(collection, domain=domain)
    assert r.status_code == 400, r.json()
    assert r.json()["detail"].startswith("domain: ")
    assert message in r.json()["detail"]


@pytest.mark.parametrize("collection", LIST_ROUTES)
def test_every_list_refuses_an_unknown_field(admin_api, collection):
    r = admin_api.get(collection, domain='[["id", ">", 0], ["shoe_size", "=", 42]]')
    assert r.status_code == 400, r.json()
    assert "element 2" in r.json()["detail"]
    assert "unknown field 'shoe_size'" in r.json()["detail"]


def test_secrets_cannot_be_filtered_on(admin_api):
    for collection, field in [("tokens", "token_hash"), ("webhook-endpoints", "secret")]:
        r = admin_api.get(collection, domain=json.dumps([[field, "like", "a"]]))
        assert r.status_code == 400
        assert f"unknown field {field!r}" in r.json()["detail"]


@pytest.mark.postgres
def test_domain_and_the_collections_own_filters_combine(admin_api, alice):
    traces(alice)
    r = admin_api.get("traces", domain='[["state", "=", "error"]]', ordering="-id")
    assert [t["state"] for t in r.json()["items"]] == ["error", "error"]
    send = Activity.objects.get(name="Send")
    r = admin_api.get("traces", domain='[["state", "=", "error"]]', activity=send.pk)
    assert r.json()["count"] == 1


# --- unknown query parameters ----------------------------------------------------------------


@pytest.mark.parametrize("method, url", OPERATIONS)
def test_every_route_refuses_an_unknown_query_parameter(admin_api, method, url):
    r = admin_api.request(method, f"{url}?bogus=1", None if method == "GET" else {})
    assert r.status_code == 400, (method, url, r.content)
    assert "'bogus'" in r.json()["detail"]
    assert r.json()["errors"] == [{"field": "bogus", "message": "unknown query parameter"}]


def test_it_names_every_unknown_parameter_and_what_the_route_takes(admin_api):
    r = admin_api.get("traces", stat="error", limit=5, Domain="[]")
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith("Unknown query parameters 'Domain', 'stat';")
    assert "this route takes activity, campaign, domain, is_test, limit" in detail
    r = admin_api.get("campaigns/1/metrics", limit=5)
    assert r.json()["detail"] == (
        "Unknown query parameter 'limit'; this route takes no query parameters."
    )


def test_an_unknown_parameter_still_needs_credentials(anonymous_api):
    r = anonymous_api.get("traces", bogus=1)
    assert r.status_code == 401


def test_documented_parameters_are_accepted(admin_api, alice):
    campaigns(alice)
    r = admin_api.get(
        "campaigns",
        limit=10,
        offset=0,
        ordering="-name",
        state="running",
        target="contacts.contact",
        archived="false",
        search="Rem",
        domain="[]",
    )
    assert r.status_code == 200, r.json()
    assert [c["name"] for c in r.json()["items"]] == ["Reminders"]


@pytest.mark.postgres
def test_dates_and_relative_dates_filter(admin_api, alice):
    Link.objects.create(url="https://example.com/old", code="oldold")
    Link.objects.filter(code="oldold").update(created_at=timezone.now() - dt.timedelta(days=30))
    new = Link.objects.create(url="https://example.com/new", code="newnew")
    r = admin_api.get("links", domain='[["created_at", ">", {"now": "-7d"}]]')
    assert [link["id"] for link in r.json()["items"]] == [new.pk]
