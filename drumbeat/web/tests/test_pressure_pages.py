"""Contact pressure screens: campaign fields, activity dialog, preview, Configuration page."""

from datetime import UTC, datetime

import pytest
import time_machine

from drumbeat.automation import services
from drumbeat.automation.models import Activity, Campaign
from drumbeat.automation.pressure_models import PressureSettings
from drumbeat.contacts.models import Contact
from drumbeat.mailing.models import Template

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def campaign(bob) -> Campaign:
    return services.create_campaign("Spring promo", "contacts.contact", owner=bob)


@pytest.fixture
def quiet_campaign(campaign, settings):
    """A running campaign whose one email to Ann (Paris) is due on a Tuesday, outside the
    instance's window (Mondays 00:00-00:01)."""
    settings.PRESSURE_EMAIL_WINDOW = "Mon 00:00-00:01"
    with time_machine.travel(datetime(2026, 3, 3, 10, tzinfo=UTC), tick=False):
        Contact.objects.create(name="Ann", email="ann@example.com", time_zone="Europe/Paris")
        template = Template.objects.create(
            name="Hello",
            kind="email",
            target="contacts.contact",
            subject="Hi",
            body_html="<p>Hi</p>",
        )
        services.create_activity(campaign, name="Hello", kind="email", template=template)
        services.start_campaign(campaign)
        yield campaign


def form_data(campaign: Campaign, **changes) -> dict:
    data = {
        "name": campaign.name,
        "target": campaign.target,
        "unique_field": "email",
        "event_window_days": 30,
        "domain": "[]",
        "priority": "normal",
    }
    return {**data, **changes}


def test_it_saves_the_campaigns_pressure_fields(marketer_client, campaign):
    response = marketer_client.post(
        f"/campaigns/{campaign.pk}/settings/",
        form_data(
            campaign, priority="high", pressure_exempt="on", email_window="Mon-Fri 09:00-17:00"
        ),
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.priority, campaign.pressure_exempt) == ("high", True)
    assert campaign.email_window == "Mon-Fri 09:00-17:00"


def test_it_shows_a_bad_window_next_to_its_field(marketer_client, campaign):
    response = marketer_client.post(
        f"/campaigns/{campaign.pk}/settings/", form_data(campaign, sms_window="weekdays")
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "&#x27;weekdays&#x27; is not a window rule" in html
    assert Campaign.objects.get(pk=campaign.pk).sms_window == ""


def test_the_activity_dialog_saves_a_local_time_and_on_cap(marketer_client, campaign):
    template = Template.objects.create(
        name="Hello", kind="email", target="contacts.contact", subject="Hi", body_html="<p>Hi</p>"
    )
    data = {
        "name": "Reminder",
        "kind": "email",
        "template": template.pk,
        "trigger": "begin",
        "delay_amount": 2,
        "delay_unit": "days",
        "send_at_local": "10:00",
        "on_cap": "skip",
        "domain": "[]",
    }
    url = f"/campaigns/{campaign.pk}/activities/new/"
    response = marketer_client.post(url, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 204, response.content.decode()[:500]
    activity = Activity.objects.get(name="Reminder")
    assert (activity.send_at_local.isoformat(), activity.on_cap) == ("10:00:00", "skip")
    page = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "at 10:00 recipient's time" in page


def test_the_workflow_page_loads_the_seven_day_preview(marketer_client, quiet_campaign):
    campaign = quiet_campaign
    html = marketer_client.get(f"/campaigns/{campaign.pk}/pressure/").content.decode()
    assert "1 sends due" in html
    assert "1 deferred by quiet hours" in html


def test_administrators_set_caps_in_configuration(admin_client, marketer_client, settings):
    settings.PRESSURE_EMAIL_CAP = "3/7days"
    page = admin_client.get("/configuration/pressure/").content.decode()
    assert "Empty: the environment&#x27;s (3/7days)" in page
    response = admin_client.post(
        "/configuration/pressure/",
        {"email_cap": "1/day", "sms_cap": "", "email_window": "", "sms_window": ""},
    )
    assert response.status_code == 302
    assert PressureSettings.objects.get().email_cap == "1/day"
    refused = admin_client.post("/configuration/pressure/", {"email_cap": "1 per day"})
    assert "&#x27;1 per day&#x27; is not a cap" in refused.content.decode()
    assert marketer_client.get("/configuration/pressure/").status_code == 403


def test_a_record_page_shows_and_edits_the_time_zone(marketer_client):
    contact = Contact.objects.create(name="Ann", email="ann@example.com", time_zone="Asia/Tokyo")
    assert "Asia/Tokyo" in marketer_client.get(f"/records/contacts/{contact.pk}/").content.decode()
    response = marketer_client.post(
        f"/records/contacts/{contact.pk}/edit/",
        {"name": "Ann", "email": "ann@example.com", "time_zone": "Europe/Paris"},
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.time_zone == "Europe/Paris"


def test_the_traces_report_counts_deferrals_and_skips(marketer_client, quiet_campaign):
    campaign = quiet_campaign
    from drumbeat.automation.engine.runner import run_once

    run_once()
    html = marketer_client.get(f"/reporting/traces/?campaign={campaign.pk}").content.decode()
    assert '<th class="num">Deferred</th>' in html
    row = html[html.index("<b>Hello</b>") :].split("</tr>")[0]
    # scheduled, processing, processed, rejected, cancelled, error, deferred, skipped
    assert row.count('<td class="num">') == 8
    assert row.rsplit('<td class="num">', 2)[1].startswith("1<")
