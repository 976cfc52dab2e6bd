"""Each person's time zone: given, derived from the phone then the country, kept or followed."""

import pytest
from django.core.exceptions import ValidationError

from drumbeat.contacts.services import create_contact, update_contact
from drumbeat.crm.services import create_lead
from drumbeat.events.models import Event
from drumbeat.events.services import register_attendee
from drumbeat.lib.timezones import clean_time_zone, country_zones, derive_zone, effective_zone
from drumbeat.mailing.audience import create_mailing_contact, update_mailing_contact

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_it_derives_the_zone_from_the_phone_then_the_country():
    assert derive_zone("+12125551234", "") == "America/New_York"  # area code 212
    assert derive_zone("+14155550100", "") == "America/Los_Angeles"
    assert derive_zone("+33612345678", "") == "Europe/Paris"
    assert derive_zone("", "JP") == "Asia/Tokyo"
    assert derive_zone("", "US") == ""  # several clocks: the instance's zone applies
    assert derive_zone("", "ES") == ""  # Madrid and the Canary Islands differ
    assert derive_zone("", "") == ""


def test_single_zone_countries_come_from_the_iana_table():
    zones = country_zones()
    assert zones["DE"] == "Europe/Berlin"  # Berlin and Busingen keep the same clock
    assert zones["BE"] == "Europe/Brussels"
    assert "US" not in zones and "RU" not in zones


def test_an_unknown_stored_zone_falls_back_to_derivation_then_the_instance(settings):
    settings.TIME_ZONE = "Europe/Lisbon"
    assert effective_zone("", "+81312345678", "") == "Asia/Tokyo"
    assert effective_zone("Not/AZone", "", "") == "Europe/Lisbon"


def test_it_checks_zone_names():
    assert clean_time_zone(" europe/paris ") == "Europe/Paris"
    assert clean_time_zone("") == ""
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        clean_time_zone("Mars/Olympus")


def test_a_new_contact_stores_the_derived_zone():
    assert create_contact(name="Ann", phone="+33612345678").time_zone == "Europe/Paris"
    assert create_contact(name="Bo", country="Japan").time_zone == "Asia/Tokyo"
    assert create_contact(name="Cy", country="US").time_zone == ""


def test_a_derived_zone_follows_a_new_phone_but_a_typed_one_stays():
    derived = create_contact(name="Ann", phone="+33612345678")
    update_contact(derived, phone="+12125551234")
    assert derived.time_zone == "America/New_York"
    typed = create_contact(name="Bo", phone="+33612345678", time_zone="Asia/Tokyo")
    update_contact(typed, phone="+12125551234")
    assert typed.time_zone == "Asia/Tokyo"
    update_contact(typed, time_zone="")  # back to automatic
    assert typed.time_zone == "America/New_York"


def test_a_bad_zone_is_refused_with_the_field_named():
    with pytest.raises(ValidationError) as refused:
        create_contact(name="Ann", time_zone="Europe/Pariss")
    assert "time_zone" in refused.value.message_dict


def test_leads_registrations_and_mailing_contacts_have_a_zone():
    contact = create_contact(name="Ann", phone="+33612345678", time_zone="Europe/Brussels")
    assert create_lead(title="Deal", contact=contact).time_zone == "Europe/Brussels"
    assert create_lead(title="Other", phone="+81312345678").time_zone == "Asia/Tokyo"
    event = Event.objects.create(
        name="Fair", date_begin="2026-05-01T09:00Z", date_end="2026-05-01T17:00Z"
    )
    assert register_attendee(event=event, contact=contact).time_zone == "Europe/Brussels"
    member = create_mailing_contact(email="cy@example.com", country="DE")
    assert member.time_zone == "Europe/Berlin"
    update_mailing_contact(member, country="JP")
    assert member.time_zone == "Asia/Tokyo"
