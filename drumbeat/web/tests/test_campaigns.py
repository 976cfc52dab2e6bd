"""Campaign screens: dashboard, template cards, campaign form, workflow, activity dialog,
test screen and manual trace actions."""

import json

import pytest

from drumbeat.automation import campaign_templates, services
from drumbeat.automation.models import Activity, Campaign, Participant, Trace
from drumbeat.contacts.models import Contact
from drumbeat.mailing.models import Message, Template

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def welcome(db) -> Template:
    return Template.objects.create(
        name="Welcome",
        kind="email",
        target="contacts.contact",
        subject="Hello {{ record.name }}",
        body_html="<p>Hello {{ record.name }}, <a href='https://example.com/x'>see</a></p>",
    )


@pytest.fixture
def campaign(bob) -> Campaign:
    return services.create_campaign("Spring promo", "contacts.contact", owner=bob)


def test_it_shows_the_six_template_cards_on_an_empty_database(marketer_client):
    html = marketer_client.get("/campaigns/").content.decode()
    for title in campaign_templates_titles():
        assert title in html
    assert "Create from scratch" in html


def campaign_templates_titles():
    return [
        "Tag Hot Contacts",
        "Welcome Flow",
        "Double Opt-in",
        "Commercial prospection",
        "Schedule Calls",
        "Prioritize Hot leads",
    ]


def test_it_shows_the_cards_when_a_search_finds_nothing(marketer_client, campaign):
    html = marketer_client.get("/campaigns/?q=zzz").content.decode()
    assert "No campaign matches “zzz”" in html and "Welcome Flow" in html


def test_it_shows_the_kanban_with_figures(marketer_client, campaign):
    html = marketer_client.get("/campaigns/").content.decode()
    assert "Spring promo" in html and "kanban-card" in html
    assert "Welcome Flow" not in html
    listed = marketer_client.get("/campaigns/?view=list").content.decode()
    assert "Spring promo" in listed and "<table" in listed


def test_it_searches_by_target(marketer_client, campaign):
    assert "Spring promo" in marketer_client.get("/campaigns/?q=contact").content.decode()
    assert "Spring promo" not in marketer_client.get("/campaigns/?q=lead").content.decode()


def test_it_filters_by_state_and_archived(marketer_client, campaign, bob):
    assert "Spring promo" not in marketer_client.get("/campaigns/?state=running").content.decode()
    services.archive_campaign(campaign, bob)
    assert "Spring promo" not in marketer_client.get("/campaigns/").content.decode()
    assert "Spring promo" in marketer_client.get("/campaigns/?archived=1").content.decode()


def test_it_creates_a_campaign_from_a_card(marketer_client, bob):
    response = marketer_client.post("/campaigns/templates/tag_hot_contacts/")
    campaign = Campaign.objects.get()
    assert response["Location"] == f"/campaigns/{campaign.pk}/settings/"
    assert campaign.name == "Tag Hot Contacts"
    assert campaign.activities.count() == 3
    html = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Clicked after 2 hours" in html and "Bounced after 2 hours" in html


def test_it_answers_404_for_an_unknown_card(marketer_client):
    assert marketer_client.post("/campaigns/templates/nope/").status_code == 404


def test_it_creates_a_campaign_from_scratch(marketer_client, bob):
    response = marketer_client.post("/campaigns/new/", {"name": "Leads drip", "target": "crm.lead"})
    campaign = Campaign.objects.get(name="Leads drip")
    assert response["Location"] == f"/campaigns/{campaign.pk}/settings/"
    assert (campaign.target, campaign.owner, campaign.state) == ("crm.lead", bob, "draft")
    refused = marketer_client.post("/campaigns/new/", {"name": "", "target": "crm.lead"})
    assert "This field is required" in refused.content.decode()


def settings_data(campaign, **changes):
    data = {
        "name": campaign.name,
        "owner": "",
        "target": campaign.target,
        "unique_field": "email",
        "event_window_days": 30,
        "ignore_machine_events": "on",
        "domain": "[]",
    }
    data.update(changes)
    return data


def test_it_saves_the_filter(marketer_client, campaign):
    domain = [["country", "=", "BE"], ["email", "!=", False]]
    response = marketer_client.post(
        f"/campaigns/{campaign.pk}/settings/", settings_data(campaign, domain=json.dumps(domain))
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.domain == domain


def test_it_refuses_an_invalid_filter_next_to_it(marketer_client, campaign):
    response = marketer_client.post(
        f"/campaigns/{campaign.pk}/settings/",
        settings_data(campaign, domain='[["country", "~", "BE"]]'),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "unknown operator" in html
    campaign.refresh_from_db()
    assert campaign.domain == []


def test_it_refuses_to_start_an_empty_workflow(marketer_client, campaign):
    response = marketer_client.post(f"/campaigns/{campaign.pk}/do/start/", follow=True)
    assert "Add at least one activity" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.is_draft


def activity_data(**changes):
    data = {
        "name": "Welcome email",
        "kind": "email",
        "trigger": "begin",
        "delay_amount": 1,
        "delay_unit": "hours",
        "expiry_unit": "",
        "domain": "[]",
    }
    data.update(changes)
    return data


def test_it_validates_the_activity_dialog_inline(marketer_client, campaign):
    url = f"/campaigns/{campaign.pk}/activities/new/"
    response = marketer_client.post(url, activity_data(), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Choose a template" in html and "<dialog" in html
    response = marketer_client.post(url, activity_data(delay_amount="1.5"), HTTP_HX_REQUEST="true")
    assert "Enter a whole number" in response.content.decode()
    assert not campaign.activities.exists()


def test_it_adds_an_activity_and_a_child(marketer_client, campaign, welcome):
    url = f"/campaigns/{campaign.pk}/activities/new/"
    response = marketer_client.post(url, activity_data(template=welcome.pk), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/campaigns/{campaign.pk}/"
    parent = campaign.activities.get()
    dialog = marketer_client.get(f"{url}?parent={parent.pk}&trigger=mail_click").content.decode()
    assert 'value="mail_click"' in dialog and 'value="begin"' not in dialog
    marketer_client.post(
        url,
        activity_data(
            name="Follow-up", template=welcome.pk, trigger="mail_not_open", parent=parent.pk
        ),
        HTTP_HX_REQUEST="true",
    )
    child = campaign.activities.get(name="Follow-up")
    assert child.parent == parent
    html = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Not opened within 1 hour" in html


def test_it_offers_only_allowed_child_triggers(marketer_client, campaign, welcome):
    activity = services.create_activity(
        campaign, name="Mail", kind="email", template=welcome, trigger="begin"
    )
    html = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'data-child-trigger="mail_open"' in html
    assert 'data-child-trigger="sms_click"' not in html
    dialog = marketer_client.get(
        f"/campaigns/{campaign.pk}/activities/new/?parent={activity.pk}"
    ).content.decode()
    assert "Bounced" in dialog


def test_it_confirms_deletion_naming_descendants(marketer_client, campaign, welcome):
    root = services.create_activity(
        campaign, name="Root mail", kind="email", template=welcome, trigger="begin"
    )
    services.create_activity(
        campaign,
        name="Child mail",
        kind="email",
        template=welcome,
        trigger="mail_open",
        parent=root,
    )
    url = f"/campaigns/{campaign.pk}/activities/{root.pk}/delete/"
    html = marketer_client.get(url).content.decode()
    assert "Child mail" in html and "<dialog" in html
    marketer_client.post(url)
    assert not Activity.objects.filter(campaign=campaign).exists()


def test_it_edits_an_activity(marketer_client, campaign, welcome):
    activity = services.create_activity(
        campaign, name="Mail", kind="email", template=welcome, trigger="begin"
    )
    url = f"/campaigns/{campaign.pk}/activities/{activity.pk}/"
    assert "Mail" in marketer_client.get(url).content.decode()
    marketer_client.post(
        url, activity_data(name="Renamed", template=welcome.pk, delay_amount=3, delay_unit="days")
    )
    activity.refresh_from_db()
    assert (activity.name, activity.delay_amount, activity.delay_unit) == ("Renamed", 3, "days")


def test_it_shows_the_applied_filter_count(marketer_client, contacts, campaign, welcome):
    services.update_campaign(campaign, domain=[["country", "=", "BE"]])
    activity = services.create_activity(
        campaign,
        name="VIP mail",
        kind="email",
        template=welcome,
        trigger="begin",
        domain=[["tags.name", "=", "VIP"]],
    )
    html = marketer_client.get(
        f"/campaigns/{campaign.pk}/activities/{activity.pk}/filter/"
    ).content.decode()
    assert "<b>1</b> record" in html


def test_a_whole_test_journey(marketer_client, contacts, bob, django_capture_on_commit_callbacks):
    """Tag Hot Contacts: test on a contact, run the email, simulate a click, run the child:
    the contact gets the Hot tag."""
    campaign = campaign_templates.instantiate("tag_hot_contacts", bob)
    contact = contacts[5]
    response = marketer_client.post(f"/campaigns/{campaign.pk}/tests/", {"record_id": contact.pk})
    participant = Participant.objects.get(campaign=campaign, is_test=True)
    assert response["Location"] == f"/campaigns/{campaign.pk}/tests/{participant.pk}/"
    email = Trace.objects.get(participant=participant, activity__kind="email")
    html = marketer_client.get(response["Location"]).content.decode()
    assert "Send welcome email" in html and "Run" in html

    marketer_client.post(f"/traces/{email.pk}/run/")
    email.refresh_from_db()
    assert email.state == "processed"
    assert Message.objects.get(trace_id=email.pk).state == "sent"
    page = marketer_client.get(f"/campaigns/{campaign.pk}/tests/{participant.pk}/")
    assert "Simulate" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(f"/traces/{email.pk}/click/")
    tag_step = Trace.objects.get(participant=participant, activity__name__icontains="hot")
    assert tag_step.scheduled_at is not None
    marketer_client.post(f"/traces/{tag_step.pk}/run/")
    assert "Hot" in set(Contact.objects.get(pk=contact.pk).tags.values_list("name", flat=True))
    html = marketer_client.get(f"/campaigns/{campaign.pk}/tests/{participant.pk}/").content
    assert b"Clicked" in html


def test_it_reports_a_refused_manual_action(marketer_client, contacts, bob):
    campaign = campaign_templates.instantiate("tag_hot_contacts", bob)
    participant = services.launch_test(campaign, contacts[0].pk, bob)
    trace = Trace.objects.get(participant=participant, activity__kind="email")
    response = marketer_client.post(f"/traces/{trace.pk}/click/", follow=True)
    assert "no sent message" in response.content.decode()


def test_it_stops_a_participant(marketer_client, contacts, bob):
    campaign = campaign_templates.instantiate("tag_hot_contacts", bob)
    participant = services.launch_test(campaign, contacts[0].pk, bob)
    marketer_client.post(f"/participants/{participant.pk}/stop/")
    participant.refresh_from_db()
    assert participant.state == "completed"


def test_it_starts_stops_duplicates_and_archives(marketer_client, contacts, bob):
    campaign = campaign_templates.instantiate("tag_hot_contacts", bob)
    marketer_client.post(f"/campaigns/{campaign.pk}/do/start/")
    campaign.refresh_from_db()
    assert campaign.is_running
    assert campaign.participants.filter(is_test=False).exists()
    marketer_client.post(f"/campaigns/{campaign.pk}/do/stop/")
    campaign.refresh_from_db()
    assert campaign.is_stopped
    response = marketer_client.post(f"/campaigns/{campaign.pk}/do/duplicate/")
    copy = Campaign.objects.exclude(pk=campaign.pk).get()
    assert response["Location"] == f"/campaigns/{copy.pk}/"
    assert copy.activities.count() == campaign.activities.count()
    marketer_client.post(f"/campaigns/{campaign.pk}/do/archive/")
    campaign.refresh_from_db()
    assert campaign.archived


def test_it_shows_the_modified_banner_and_applies_the_update(
    marketer_client, contacts, bob, welcome
):
    campaign = campaign_templates.instantiate("tag_hot_contacts", bob)
    services.start_campaign(campaign, bob)
    template = campaign.activities.filter(kind="email").first().template
    services.create_activity(
        campaign, name="Second welcome", kind="email", template=template, trigger="begin"
    )
    html = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "The workflow was modified" in html and "30 steps will be created" in html
    marketer_client.post(f"/campaigns/{campaign.pk}/do/update/")
    campaign.refresh_from_db()
    assert not campaign.require_sync
    assert Trace.objects.filter(activity__name="Second welcome").count() == 30


def test_it_renders_the_test_picker_partial(marketer_client, contacts, bob):
    campaign = campaign_templates.instantiate("tag_hot_contacts", bob)
    html = marketer_client.get(
        f"/campaigns/{campaign.pk}/tests/?q=Person 03",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="test-records",
    ).content.decode()
    assert "Person 03" in html and "Person 04" not in html and "<html" not in html


def test_the_test_screen_refreshes_itself_while_a_step_is_due(marketer_client, contacts, bob):
    campaign = campaign_templates.instantiate("tag_hot_contacts", bob)
    participant = services.launch_test(campaign, contacts[0].pk, bob)
    url = f"/campaigns/{campaign.pk}/tests/{participant.pk}/"
    assert "data-auto-refresh" not in marketer_client.get(url).content.decode()  # due in 2 h
    Trace.objects.filter(participant=participant).update(scheduled_at=participant.enrolled_at)
    page = marketer_client.get(url).content.decode()
    assert "data-auto-refresh" in page
    partial = marketer_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="test-tree")
    html = partial.content.decode()
    assert "<html" not in html and "Send welcome email" in html and "data-auto-refresh" in html


def test_a_step_shows_its_errors_next_to_success_and_rejected(marketer_client, bob):
    """A trace ending in Error (here: no address to subscribe) is counted on its step's card,
    linked to those traces in the report; a step without errors shows no such figure."""
    from drumbeat.automation.engine.execute import execute_batch
    from drumbeat.automation.models import ServerAction
    from drumbeat.mailing.models import MailingList

    newsletter = MailingList.objects.create(name="Newsletter")
    Contact.objects.create(name="Ann", email="ann@example.com")
    Contact.objects.create(name="No mail", email="")
    campaign = services.create_campaign("Subscribe all", "contacts.contact", owner=bob)
    subscribe = ServerAction.objects.create(
        name="Subscribe",
        target="contacts.contact",
        kind="add_to_list",
        params={"list_id": newsletter.pk},
    )
    step = services.create_activity(
        campaign, name="Subscribe", kind="action", server_action=subscribe, trigger="begin"
    )
    services.start_campaign(campaign, bob)
    before = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "data-activity-errors" not in before
    step = Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)
    assert execute_batch(step) == 2

    html = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    link = f"/reporting/traces/?campaign={campaign.pk}&activity={step.pk}&state=error"
    assert f'href="{link}"' in html and 'data-activity-errors><b class="error">1</b>' in html
    metrics = marketer_client.get(f"/api/v1/campaigns/{campaign.pk}/metrics").json()
    assert (metrics["activities"][0]["processed"], metrics["activities"][0]["errors"]) == (1, 1)
