import pytest
from django.core.exceptions import ValidationError

from drumbeat.automation.models import Activity, Campaign
from drumbeat.mailing.models import Template
from drumbeat.mailing.services import create_template, update_template

FIELDS = {"contacts.contact": ["name", "email"]}


def email(**fields):
    values = {
        "name": "Welcome",
        "kind": "email",
        "target": "contacts.contact",
        "subject": "Hello {{ record.name }}",
        "body_html": "<p>Hi {{ record.name }}</p>",
    }
    return create_template(FIELDS, **{**values, **fields})


def test_it_creates_a_template_that_renders(db):
    template = email()
    assert Template.objects.get().subject == "Hello {{ record.name }}"
    assert template.pk


def test_it_refuses_unknown_placeholders_naming_line_and_field(db):
    with pytest.raises(ValidationError) as exc:
        email(body_html="<p>Hi</p>\n<p>{{ record.password }}</p>")
    errors = exc.value.message_dict
    assert list(errors) == ["body_html"] and errors["body_html"][0].startswith("Line 2")
    assert not Template.objects.exists()


def test_it_refuses_an_email_without_subject_on_the_subject(db):
    with pytest.raises(ValidationError) as exc:
        email(subject="  ")
    assert "subject" in exc.value.message_dict


def test_it_checks_sms_text(db):
    with pytest.raises(ValidationError) as exc:
        create_template(
            FIELDS, name="Ping", kind="sms", target="contacts.contact", body_text="{{ record. }}"
        )
    assert "body_text" in exc.value.message_dict


def test_it_refuses_an_unknown_kind(db):
    with pytest.raises(ValidationError) as exc:
        email(kind="fax")
    assert "kind" in exc.value.message_dict


def test_it_updates_a_template_after_checking_it(db):
    template = email()
    update_template(template, FIELDS, subject="Welcome {{ record.name }}")
    assert Template.objects.get().subject == "Welcome {{ record.name }}"
    with pytest.raises(ValidationError):
        update_template(template, FIELDS, body_html="{% for %}")
    assert Template.objects.get().body_html == "<p>Hi {{ record.name }}</p>"


def test_it_keeps_the_target_of_a_template_used_by_activities(db):
    template = email()
    campaign = Campaign.objects.create(name="C", target="contacts.contact")
    Activity.objects.create(campaign=campaign, name="Mail", kind="email", template=template)
    with pytest.raises(ValidationError) as exc:
        update_template(template, FIELDS, target="crm.lead")
    assert "target" in exc.value.message_dict
    assert Template.objects.get().target == "contacts.contact"


def test_it_deletes_a_template_only_when_no_activity_uses_it(db):
    from drumbeat.mailing.services import delete_template

    template = email()
    campaign = Campaign.objects.create(name="C", target="contacts.contact")
    activity = Activity.objects.create(
        campaign=campaign, name="Mail", kind="email", template=template
    )
    with pytest.raises(ValidationError):
        delete_template(template)
    assert Template.objects.exists()
    activity.delete()
    delete_template(template)
    assert not Template.objects.exists()
