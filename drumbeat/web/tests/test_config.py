"""Template editor (validation, preview, SMS counter, test email) and server actions."""

import re

import pytest

from drumbeat.automation.models import ServerAction
from drumbeat.contacts.models import Tag
from drumbeat.mailing.models import Template

pytestmark = pytest.mark.django_db


def email_data(**changes):
    data = {
        "name": "Hello",
        "target": "contacts.contact",
        "subject": "Hi {{ record.name }}",
        "preview_text": "",
        "email_from": "",
        "reply_to": "",
        "body_html": "<p>Hello {{ record.name }}</p>",
    }
    data.update(changes)
    return data


def test_it_creates_an_email_template(marketer_client):
    response = marketer_client.post("/configuration/templates/new/email/", email_data())
    template = Template.objects.get()
    assert response["Location"] == f"/configuration/templates/{template.pk}/"
    assert (template.kind, template.subject) == ("email", "Hi {{ record.name }}")


def test_it_refuses_a_template_that_does_not_render(marketer_client):
    response = marketer_client.post(
        "/configuration/templates/new/email/",
        email_data(body_html="<p>ok</p>\n<p>{{ record.name </p>"),
    )
    html = response.content.decode()
    assert response.status_code == 200 and "Line 2" in html
    assert not Template.objects.exists()


def test_it_refuses_a_field_outside_the_sandbox(marketer_client):
    response = marketer_client.post(
        "/configuration/templates/new/email/",
        email_data(body_html="{{ record.salesperson.password }}"),
    )
    assert "Line 1" in response.content.decode()
    assert not Template.objects.exists()


def test_it_previews_on_a_record(marketer_client, contacts):
    html = marketer_client.post(
        "/configuration/templates/preview/",
        {
            "kind": "email",
            "target": "contacts.contact",
            "subject": "Hi {{ record.name }}",
            "body_html": "<p>Dear {{ record.name }}</p>",
            "record": contacts[4].pk,
        },
    ).content.decode()
    assert "Hi Person 04" in html and "Dear Person 04" in html


def test_it_counts_sms_segments(marketer_client, contacts):
    html = marketer_client.post(
        "/configuration/templates/preview/",
        {"kind": "sms", "target": "contacts.contact", "body_text": "x" * 161},
    ).content.decode()
    assert "161 characters · 2 segments" in html


def test_it_counts_sms_as_sent_with_short_links_and_the_footer(marketer_client, contacts, settings):
    settings.BASE_URL = "https://go.example"  # short links: https://go.example/s/XXXXXXXX
    html = marketer_client.post(
        "/configuration/templates/preview/",
        {
            "kind": "sms",
            "target": "contacts.contact",
            "body_text": "Hi {{ record.name }}, see https://example.com/spring-sale-2026",
            "sms_optout_footer": "on",
            "record": contacts[4].pk,
        },
    ).content.decode()

    assert "Hi Person 04, see https://go.example/s/XXXXXXXX\nReply STOP to opt out" in html
    # 18 + 29 + 1 + 21 characters for the record; 26 + 29 + 1 + 21 with the placeholder
    # as written (its braces are GSM-7 extension characters: 81 septets, still one SMS)
    assert "69 characters · 1 segment (GSM-7) for Person 04, as sent" in html
    assert re.search(
        r'<div class="help" id="sms-template-count" hx-swap-oob="true"[^>]*>'
        r"77 characters · 1 segment \(GSM-7\) as sent, placeholders as written</div>",
        html,
    )


def test_it_saves_the_sms_opt_out_footer_and_keeps_it_off_email_forms(marketer_client):
    marketer_client.post(
        "/configuration/templates/new/sms/",
        {"name": "Promo", "target": "contacts.contact", "body_text": "Sale today",
         "sms_optout_footer": "on"},
    )  # fmt: skip

    template = Template.objects.get()
    assert (template.kind, template.sms_optout_footer) == ("sms", True)
    page = marketer_client.get(f"/configuration/templates/{template.pk}/").content.decode()
    assert 'name="sms_optout_footer"' in page and "Reply STOP to opt out" in page
    email_page = marketer_client.get("/configuration/templates/new/email/").content.decode()
    assert "sms_optout_footer" not in email_page


def test_it_sends_a_test_email(marketer_client, contacts):
    marketer_client.post("/configuration/templates/new/email/", email_data())
    template = Template.objects.get()
    response = marketer_client.post(
        f"/configuration/templates/{template.pk}/send-test/",
        {"record": contacts[0].pk, "to": "me@example.com"},
        follow=True,
    )
    assert "Test email sent to me@example.com" in response.content.decode()


def test_it_creates_an_update_record_action(marketer_client):
    Tag.objects.create(name="Hot")
    response = marketer_client.post(
        "/configuration/server-actions/new/",
        {
            "name": "Tag hot",
            "target": "contacts.contact",
            "kind": "update_record",
            "field": "tags",
            "operation": "add",
            "value": "Hot",
        },
    )
    action = ServerAction.objects.get()
    assert response["Location"] == f"/configuration/server-actions/{action.pk}/"
    assert action.params["operation"] == "add"
    assert action.params["value"] == [Tag.objects.get(name="Hot").pk]
    assert "Hot" in marketer_client.get(response["Location"]).content.decode()


def test_it_shows_the_configuration_error(marketer_client):
    response = marketer_client.post(
        "/configuration/server-actions/new/",
        {
            "name": "Bad",
            "target": "contacts.contact",
            "kind": "update_record",
            "field": "tags",
            "operation": "add",
            "value": "No such tag",
        },
    )
    assert "no tag named" in response.content.decode()
    assert not ServerAction.objects.exists()


def test_it_builds_a_multi_step_action(marketer_client):
    marketer_client.post(
        "/configuration/server-actions/new/",
        {"name": "Several", "target": "contacts.contact", "kind": "multi"},
    )
    multi = ServerAction.objects.get()
    response = marketer_client.post(
        f"/configuration/server-actions/new/?parent={multi.pk}",
        {
            "name": "Note",
            "target": "contacts.contact",
            "kind": "post_note",
            "body": "Hello {{ record.name }}",
            "parent": multi.pk,
        },
    )
    assert response["Location"] == f"/configuration/server-actions/{multi.pk}/"
    assert multi.children.get().params == {"body": "Hello {{ record.name }}"}


def test_it_creates_an_activity_action_for_the_salesperson(marketer_client):
    response = marketer_client.post(
        "/configuration/server-actions/new/",
        {
            "name": "Call them",
            "target": "crm.lead",
            "kind": "create_activity",
            "activity_type": "call",
            "summary": "Call {{ record.title }}",
            "due_amount": 2,
            "due_unit": "days",
            "user_field": "salesperson",
        },
    )
    assert response.status_code == 302
    params = ServerAction.objects.get().params
    assert params["activity_type"] == "call" and params["user_field"] == "salesperson"


def test_it_creates_a_webhook_action_with_chosen_fields(marketer_client):
    marketer_client.post(
        "/configuration/server-actions/new/",
        {
            "name": "Notify CRM",
            "target": "contacts.contact",
            "kind": "send_webhook",
            "url": "https://crm.example.com/hook",
            "webhook_fields": ["name", "email"],
        },
    )
    params = ServerAction.objects.get().params
    assert params["url"] == "https://crm.example.com/hook"
    assert params["fields"] == ["name", "email"]
    edit = marketer_client.get(f"/configuration/server-actions/{ServerAction.objects.get().pk}/")
    assert re.search(r'value="email"[^>]*checked', edit.content.decode())


def test_it_refuses_a_webhook_action_to_an_inside_address(marketer_client, settings):
    settings.WEBHOOK_ALLOW = []
    response = marketer_client.post(
        "/configuration/server-actions/new/",
        {
            "name": "Metadata",
            "target": "contacts.contact",
            "kind": "send_webhook",
            "url": "http://169.254.169.254/latest/meta-data/",
            "webhook_fields": ["email"],
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["url"] == ["address not allowed: 169.254.169.254 is link-local"]
    assert "address not allowed: 169.254.169.254 is link-local" in response.content.decode()
    assert not ServerAction.objects.exists()
