"""Record pages: list, search, pagination, ?domain= filters, create/edit with errors next to
fields, archive/restore, timeline notes and tasks, blacklist lift with a reason."""

import json

import pytest

from drumbeat.contacts.models import Contact
from drumbeat.events.services import create_event, register_attendee
from drumbeat.mailing.audience import (
    blacklist_email,
    create_list,
    create_mailing_contact,
    opt_out,
)
from drumbeat.mailing.models import EmailBlacklist, MailingContact
from drumbeat.timeline.models import Note, Task

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_it_lists_and_paginates_contacts(marketer_client, contacts):
    first = marketer_client.get("/records/contacts/").content.decode()
    assert "Person 00" in first and "1–25 of 30" in first
    second = marketer_client.get("/records/contacts/?page=2").content.decode()
    assert "Person 29" in second and "Person 00" not in second


def test_it_searches_by_name_and_email(marketer_client, contacts):
    html = marketer_client.get("/records/contacts/?q=person07@").content.decode()
    assert "Person 07" in html and "Person 08" not in html


def test_it_answers_the_results_partial_to_htmx(marketer_client, contacts):
    response = marketer_client.get(
        "/records/contacts/?q=Person 1", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )
    html = response.content.decode()
    assert "Person 12" in html and "<html" not in html


def test_it_shows_an_empty_state_for_a_search_without_result(marketer_client, contacts):
    html = marketer_client.get("/records/contacts/?q=nobody-like-this").content.decode()
    assert "No contacts match" in html


def test_it_filters_a_list_by_domain(marketer_client, contacts):
    domain = json.dumps([["country", "=", "BE"]])
    html = marketer_client.get("/records/contacts/", {"domain": domain}).content.decode()
    assert "1–3 of 3" in html


def test_it_reports_a_bad_domain_on_the_list(marketer_client, contacts):
    domain = json.dumps([["shoe_size", "=", 3]])
    html = marketer_client.get("/records/contacts/", {"domain": domain}).content.decode()
    assert "unknown field" in html and "shoe_size" in html


def test_it_creates_a_contact_through_the_service(marketer_client, bob):
    response = marketer_client.post(
        "/records/contacts/new/",
        {"name": "Zoé", "email": " ZOE@Example.com ", "country": "BE", "tags": "VIP, Hot"},
    )
    contact = Contact.objects.get(name="Zoé")
    assert response.status_code == 302
    assert response["Location"] == f"/records/contacts/{contact.pk}/"
    assert contact.email == "zoe@example.com"
    assert sorted(t.name for t in contact.tags.all()) == ["Hot", "VIP"]


def test_it_shows_service_errors_next_to_the_field(marketer_client):
    response = marketer_client.post(
        "/records/contacts/new/", {"name": "Bad", "email": "not-an-address"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "has-error" in html and "invalid email" in html
    assert not Contact.objects.filter(name="Bad").exists()


def test_it_requires_a_name(marketer_client):
    response = marketer_client.post("/records/contacts/new/", {"email": "a@example.com"})
    assert "This field is required" in response.content.decode()


def test_it_edits_a_contact(marketer_client, contacts):
    contact = contacts[0]
    response = marketer_client.post(
        f"/records/contacts/{contact.pk}/edit/",
        {"name": "Renamed", "email": contact.email, "country": "NL", "tags": ""},
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.name, contact.country) == ("Renamed", "NL")
    assert not contact.tags.exists()


def test_it_archives_and_restores_a_contact(marketer_client, contacts):
    contact = contacts[1]
    marketer_client.post(f"/records/contacts/{contact.pk}/archive/")
    contact.refresh_from_db()
    assert not contact.active
    active = marketer_client.get("/records/contacts/?q=Person 01").content.decode()
    assert "No contacts match" in active
    archived = marketer_client.get("/records/contacts/?archived=1").content.decode()
    assert "Person 01" in archived
    marketer_client.post(f"/records/contacts/{contact.pk}/restore/")
    contact.refresh_from_db()
    assert contact.active


def test_it_adds_a_note_and_a_task_and_completes_it(marketer_client, contacts, bob):
    contact = contacts[2]
    url = f"/records/contacts/{contact.pk}"
    marketer_client.post(f"{url}/notes/", {"body": "Met at the fair"})
    assert Note.objects.get(object_id=contact.pk).body == "Met at the fair"
    marketer_client.post(
        f"{url}/tasks/",
        {"kind": "call", "summary": "Call back", "due_date": "2030-01-02", "assigned_to": bob.pk},
    )
    task = Task.objects.get(object_id=contact.pk)
    assert (task.kind, task.assigned_to) == ("call", bob)
    response = marketer_client.post(f"{url}/tasks/{task.pk}/done/", HTTP_HX_REQUEST="true")
    task.refresh_from_db()
    assert task.done and "Done" in response.content.decode()
    page = marketer_client.get(f"{url}/").content.decode()
    assert "Met at the fair" in page and "Call back" in page


def test_it_refuses_an_empty_note(marketer_client, contacts):
    response = marketer_client.post(
        f"/records/contacts/{contacts[0].pk}/notes/", {"body": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()


def test_it_shows_event_registrations(marketer_client):
    import datetime as dt

    from django.utils import timezone

    begin = timezone.now() + dt.timedelta(days=3)
    event = create_event(name="Expo", date_begin=begin, date_end=begin + dt.timedelta(hours=4))
    register_attendee(event=event, name="Ann Attendee", email="ann@example.com")
    html = marketer_client.get(f"/records/events/{event.pk}/").content.decode()
    assert "Ann Attendee" in html


def test_it_shows_list_statistics(marketer_client):
    newsletter = create_list(name="Newsletter")
    for i in range(4):
        create_mailing_contact(email=f"m{i}@example.com", lists=[newsletter])
    opt_out(MailingContact.objects.get(email="m0@example.com"), [newsletter])
    blacklist_email("m1@example.com", "asked")
    html = marketer_client.get(f"/records/mailing-lists/{newsletter.pk}/").content.decode()
    assert "25.0%" in html  # one opted out and one blacklisted of four
    assert "m3@example.com" in html


def test_it_subscribes_a_mailing_contact_from_the_edit_form(marketer_client):
    customers = create_list(name="Customers")
    contact = create_mailing_contact(email="sub@example.com")
    marketer_client.post(
        f"/records/mailing-contacts/{contact.pk}/edit/",
        {"email": "sub@example.com", "lists": [customers.pk]},
    )
    assert list(contact.lists.all()) == [customers]


def test_it_deletes_a_mailing_contact(marketer_client):
    contact = create_mailing_contact(email="gone@example.com")
    response = marketer_client.post(f"/records/mailing-contacts/{contact.pk}/delete/")
    assert response["Location"] == "/records/mailing-contacts/"
    assert not MailingContact.objects.filter(pk=contact.pk).exists()


def test_it_blacklists_and_lifts_with_a_reason(admin_client):
    admin_client.post("/records/email-blacklist/new/", {"email": "Spam@Example.com"})
    entry = EmailBlacklist.objects.get(email="spam@example.com")
    assert entry.active
    refused = admin_client.post(f"/records/email-blacklist/{entry.pk}/unblacklist/", {})
    assert refused.status_code == 400
    assert "This field is required" in refused.content.decode()
    entry.refresh_from_db()
    assert entry.active
    admin_client.post(f"/records/email-blacklist/{entry.pk}/unblacklist/", {"reason": "asked"})
    entry.refresh_from_db()
    assert not entry.active and entry.reason == "asked"


def test_it_refuses_an_invalid_blacklist_address(admin_client):
    response = admin_client.post("/records/email-blacklist/new/", {"email": "nope"})
    assert response.status_code == 200
    assert "invalid email" in response.content.decode()


def test_it_suggests_contacts_for_pickers(marketer_client, contacts):
    html = marketer_client.get("/records/contacts/options/", {"contact": "person04"}).content
    assert f'value="{contacts[4].pk}"'.encode() in html and b"Person 05" not in html
    assert marketer_client.get("/records/contacts/options/").content.strip() == b""


def test_it_links_a_lead_to_a_picked_contact(marketer_client, contacts):
    from drumbeat.crm.models import Lead

    response = marketer_client.post(
        "/records/leads/new/",
        {"title": "Big deal", "contact": contacts[3].pk, "priority": 2, "expected_revenue": "10"},
    )
    lead = Lead.objects.get(title="Big deal")
    assert response.status_code == 302
    assert (lead.contact, lead.email, lead.priority) == (contacts[3], "person03@example.com", 2)
    form = marketer_client.get(f"/records/leads/{lead.pk}/edit/").content.decode()
    assert f"#{contacts[3].pk} is Person 03" in form
    refused = marketer_client.post(
        "/records/leads/new/", {"title": "Typo", "contact": "Person 03", "priority": 0}
    )
    assert "Select a valid choice" in refused.content.decode()


def test_it_changes_a_registration_state(marketer_client):
    import datetime as dt

    from django.utils import timezone

    begin = timezone.now() + dt.timedelta(days=3)
    event = create_event(name="Expo", date_begin=begin, date_end=begin + dt.timedelta(hours=4))
    registration = register_attendee(event=event, name="Ann", email="ann@example.com")
    url = f"/records/registrations/{registration.pk}/state/"
    marketer_client.post(url, {"state": "attended"})
    registration.refresh_from_db()
    assert registration.state == "attended"
    response = marketer_client.post(url, {"state": "partying"}, follow=True)
    assert "state must be one of" in response.content.decode()
    assert marketer_client.get(url).status_code == 405
