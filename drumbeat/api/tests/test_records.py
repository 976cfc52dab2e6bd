"""Tags, leads, stages, events and registrations over the API."""

from __future__ import annotations

import datetime as dt

import pytest

from drumbeat.contacts.models import Tag
from drumbeat.contacts.services import create_contact
from drumbeat.crm.models import Lead
from drumbeat.events.models import Event, Registration
from drumbeat.events.services import create_event

# --- tags --------------------------------------------------------------------------------------


def test_it_manages_tags(marketing_api, admin_api):
    r = marketing_api.post("tags", {"name": "VIP", "color": "amber"})
    assert r.status_code == 201
    tag_id = r.json()["id"]
    assert marketing_api.post("tags", {"name": "VIP"}).status_code == 409
    assert marketing_api.get("tags", domain='[["name", "=", "VIP"]]').json()["count"] == 1
    r = marketing_api.patch(f"tags/{tag_id}", {"name": "Very important"})
    assert r.json() == {"id": tag_id, "name": "Very important", "color": "amber"}
    assert marketing_api.delete(f"tags/{tag_id}").status_code == 403
    assert admin_api.delete(f"tags/{tag_id}").status_code == 204
    assert not Tag.objects.exists()


def test_it_refuses_renaming_a_tag_onto_another(marketing_api):
    Tag.objects.create(name="A")
    b = Tag.objects.create(name="B")
    r = marketing_api.patch(f"tags/{b.pk}", {"name": "A"})
    assert r.status_code == 409


# --- leads -------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_it_creates_and_filters_leads(marketing_api, alice):
    ada = create_contact(name="Ada", email="ada@example.com", salesperson=alice)
    r = marketing_api.post(
        "leads", {"title": "50 seats", "contact": ada.pk, "priority": 2, "tags": ["Hot"]}
    )
    assert r.status_code == 201, r.json()
    lead = r.json()
    assert lead["contact_name"] == "Ada"
    assert lead["email"] == "ada@example.com"
    assert lead["salesperson"] == alice.pk
    assert lead["stage"] is not None  # the first stage of the pipeline
    r = marketing_api.get(
        "leads", domain='[["contact.name", "=", "Ada"], ["priority", "in", [2, 3]]]'
    )
    assert r.json().get("count") == 1, r.json()
    stages = marketing_api.get("stages").json()
    assert stages["items"][0]["name"] == "New"


def test_it_updates_and_deletes_leads(marketing_api, admin_api):
    lead_id = marketing_api.post("leads", {"title": "Deal"}).json()["id"]
    r = marketing_api.patch(f"leads/{lead_id}", {"priority": 3, "expected_revenue": "1234.5"})
    assert r.status_code == 200
    assert r.json()["priority"] == 3
    assert r.json()["expected_revenue"] == 1234.5
    assert marketing_api.delete(f"leads/{lead_id}").status_code == 403
    assert admin_api.delete(f"leads/{lead_id}").status_code == 204
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"title": "x", "priority": 4}, "priority"),
        ({"title": "x", "expected_revenue": -1}, "expected_revenue"),
        ({"title": "x", "stage": 999}, "stage"),
        ({"title": "x", "contact": 999}, "contact"),
    ],
)
def test_it_refuses_bad_leads(marketing_api, payload, field):
    r = marketing_api.post("leads", payload)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]


# --- events and registrations ------------------------------------------------------------------

EVENT = {
    "name": "Open house",
    "date_begin": "2026-04-10T14:00:00Z",
    "date_end": "2026-04-10T18:00:00Z",
}


def test_it_manages_events(marketing_api, admin_api):
    r = marketing_api.post("events", {**EVENT, "location": "Brussels"})
    assert r.status_code == 201
    event_id = r.json()["id"]
    r = marketing_api.patch(f"events/{event_id}", {"date_end": "2026-04-10T13:00:00Z"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "date_end"
    assert marketing_api.get(f"events/{event_id}").json()["location"] == "Brussels"
    assert admin_api.delete(f"events/{event_id}").status_code == 204
    assert not Event.objects.exists()


def test_it_reads_naive_event_times_as_utc(marketing_api):
    r = marketing_api.post(
        "events", {**EVENT, "date_begin": "2026-04-10T14:00:00", "date_end": "2026-04-10T15:00"}
    )
    assert r.status_code == 201
    assert r.json()["date_begin"].startswith("2026-04-10T14:00:00")


@pytest.mark.postgres
def test_it_registers_attendees(marketing_api, admin_api, django_capture_on_commit_callbacks):
    begin = dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    event = create_event(name="Expo", date_begin=begin, date_end=begin + dt.timedelta(hours=2))
    ada = create_contact(name="Ada", email="ada@example.com")
    r = marketing_api.post("registrations", {"event": event.pk, "contact": ada.pk})
    assert r.status_code == 201, r.json()
    reg = r.json()
    assert (reg["name"], reg["email"], reg["state"]) == ("Ada", "ada@example.com", "confirmed")
    r = marketing_api.patch(f"registrations/{reg['id']}", {"state": "attended"})
    assert r.json()["state"] == "attended"
    r = marketing_api.get("registrations", domain='[["event.name", "=", "Expo"]]')
    assert r.json()["count"] == 1
    assert marketing_api.patch(f"registrations/{reg['id']}", {"state": "gone"}).status_code == 422
    assert marketing_api.post("registrations", {"event": 999}).status_code == 422
    assert admin_api.delete(f"registrations/{reg['id']}").status_code == 204
    assert not Registration.objects.exists()
