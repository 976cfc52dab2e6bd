"""Contact pressure over the API: settings, campaign and activity fields, time zones on
records, and the 7-day preview."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from drumbeat.automation import services
from drumbeat.automation.engine.runner import run_once
from drumbeat.contacts.services import create_contact

from .test_campaigns import WELCOME, make_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_it_reads_and_changes_the_pressure_settings(admin_api, marketing_api, settings):
    settings.PRESSURE_EMAIL_CAP = "3/7days"
    body = marketing_api.get("pressure-settings").json()
    assert body["environment"]["email_cap"] == "3/7days"
    assert body["effective"]["email_cap"] == "3/7days"
    r = admin_api.patch("pressure-settings", {"email_cap": "1/day", "sms_window": "09:00-19:00"})
    assert r.status_code == 200, r.json()
    assert r.json()["configured"] == {
        "email_cap": "1/day",
        "sms_cap": "",
        "email_window": "",
        "sms_window": "09:00-19:00",
    }
    assert r.json()["effective"]["email_cap"] == "1/day"  # Configuration wins


def test_it_refuses_bad_settings_and_marketing_users(admin_api, marketing_api):
    r = marketing_api.patch("pressure-settings", {"email_cap": "1/day"})
    assert r.status_code == 403
    r = admin_api.patch("pressure-settings", {"email_cap": "lots", "email_window": "Mon 9-5"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"email_cap", "email_window"}
    assert admin_api.get("pressure-settings").json()["configured"]["email_cap"] == ""


def test_campaigns_and_activities_carry_their_pressure_fields(marketing_api):
    r = marketing_api.post(
        "campaigns",
        {
            "name": "Renewals",
            "target": "contacts.contact",
            "priority": "high",
            "email_window": "Mon-Fri 09:00-18:00",
        },
    )
    assert r.status_code == 201, r.json()
    campaign = r.json()
    assert (campaign["priority"], campaign["pressure_exempt"]) == ("high", False)
    assert campaign["email_window"] == "Mon-Fri 09:00-18:00"
    r = marketing_api.patch(f"campaigns/{campaign['id']}", {"sms_window": "Sun 25:00-26:00"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "sms_window"
    r = marketing_api.patch(f"campaigns/{campaign['id']}", {"pressure_exempt": True})
    assert r.json()["pressure_exempt"] is True

    template = marketing_api.post("templates", WELCOME).json()
    activity = {
        "campaign": campaign["id"],
        "name": "Reminder",
        "kind": "email",
        "template": template["id"],
        "delay_amount": 2,
        "delay_unit": "days",
        "send_at_local": "10:00",
        "on_cap": "skip",
    }
    r = marketing_api.post("activities", activity)
    assert r.status_code == 201, r.json()
    assert (r.json()["send_at_local"], r.json()["on_cap"]) == ("10:00:00", "skip")
    r = marketing_api.post("activities", {**activity, "delay_unit": "hours"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "send_at_local"


def test_records_carry_a_time_zone(marketing_api):
    r = marketing_api.post("contacts", {"name": "Ann", "phone": "+81312345678"})
    assert r.json()["time_zone"] == "Asia/Tokyo"
    r = marketing_api.post("contacts", {"name": "Bo", "time_zone": "America/Chicago"})
    assert r.json()["time_zone"] == "America/Chicago"
    r = marketing_api.post("contacts", {"name": "Cy", "time_zone": "Chicago"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "time_zone"
    r = marketing_api.post("leads", {"title": "Deal", "time_zone": "Europe/Paris"})
    assert r.json()["time_zone"] == "Europe/Paris"
    r = marketing_api.post("mailing-contacts", {"email": "di@example.com", "country": "JP"})
    assert r.json()["time_zone"] == "Asia/Tokyo"
    found = marketing_api.get("contacts", domain='[["time_zone", "=", "Asia/Tokyo"]]').json()
    assert [c["name"] for c in found["items"]] == ["Ann"]


def test_the_preview_counts_what_windows_and_caps_would_defer(marketing_api, admin_api, bob):
    admin_api.patch(
        "pressure-settings", {"email_cap": "1/day", "email_window": "Mon-Sat 08:00-20:00"}
    )
    with time_machine.travel(MONDAY, tick=False):
        for name, zone in (
            ("Paris", "Europe/Paris"),
            ("Tokyo", "Asia/Tokyo"),
            ("NY", "America/New_York"),
        ):
            create_contact(name=name, email=f"{name.lower()}@example.com", time_zone=zone)
        first = make_campaign(marketing_api, delay_amount=0)  # due now
        services.start_campaign(services.Campaign.objects.get(pk=first["campaign"]["id"]), bob)
        run_once()  # Paris (10:00) and Tokyo (18:00) get it; New York (04:00) waits for 08:00
        second = make_campaign(marketing_api)  # due in an hour
        services.start_campaign(services.Campaign.objects.get(pk=second["campaign"]["id"]), bob)
        r = marketing_api.get(f"campaigns/{second['campaign']['id']}/pressure")
    assert r.status_code == 200, r.json()
    body = r.json()
    # 10:00 UTC: New York 05:00 is quiet; Paris and Tokyo already had today's email.
    assert (body["scheduled"], body["deferred_quiet_hours"]) == (3, 1)
    assert (body["deferred_frequency_cap"], body["skipped_frequency_cap"]) == (2, 0)
    assert body["activities"][0]["deferred_frequency_cap"] == 2
    assert body["settings"]["email_cap"] == "1/day"
    assert marketing_api.get("campaigns/999999/pressure").status_code == 404
