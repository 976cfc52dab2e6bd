"""The registry of campaign templates and the reuse of what they create
(docs/product.md#campaign-templates)."""

import re

import pytest

from drumbeat.automation import campaign_templates
from drumbeat.automation.campaign_templates import (
    UnknownTemplate,
    instantiate,
    list_templates,
)
from drumbeat.automation.models import Activity, Campaign, ServerAction
from drumbeat.automation.targets import FILTERABLE
from drumbeat.contacts.models import Tag
from drumbeat.mailing.design import check_template, validate_design
from drumbeat.mailing.models import MailingList, Template
from drumbeat.mailing.rendering import validate_template

from .fixtures import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CARDS = {
    "tag_hot_contacts": (
        "Tag Hot Contacts",
        "Send a welcome email to contacts and tag them if they click it.",
        "contacts.contact",
    ),
    "welcome_flow": (
        "Welcome Flow",
        "Send a welcome email to new subscribers, remove the address that bounced.",
        "mailing.mailingcontact",
    ),
    "double_optin": (
        "Double Opt-in",
        "Send an email to new recipients to confirm their consent.",
        "mailing.mailingcontact",
    ),
    "commercial_prospection": (
        "Commercial prospection",
        "Send a free catalog and follow-up according to reactions.",
        "contacts.contact",
    ),
    "schedule_calls": (
        "Schedule Calls",
        "If a lead is created for existing contact, schedule a call with their salesperson.",
        "crm.lead",
    ),
    "prioritize_hot_leads": (
        "Prioritize Hot leads",
        "Send an email to new leads and assign them a high priority if they open it.",
        "crm.lead",
    ),
}


@pytest.fixture
def bob(db):
    return make_user("bob")


def iter_blocks(design: dict) -> list[dict]:
    return [block for _, block, _ in validate_design(design).blocks()]


def workflow(campaign: Campaign) -> set[tuple]:
    return {
        (
            a.name,
            a.kind,
            a.trigger,
            a.delay_amount,
            a.delay_unit,
            a.parent.name if a.parent else None,
        )
        for a in campaign.activities.select_related("parent")
    }


def test_it_lists_the_six_cards_with_the_wording_of_the_spec():
    cards = list_templates()
    assert [c.key for c in cards] == list(CARDS)
    for card in cards:
        assert (card.title, card.description, card.target) == CARDS[card.key]
        assert card.icon


@pytest.mark.parametrize("key", list(CARDS))
def test_it_creates_a_new_campaign_with_valid_templates(bob, key):
    campaign = instantiate(key, bob)
    assert (campaign.name, campaign.target) == (CARDS[key][0], CARDS[key][2])
    assert campaign.state == Campaign.State.DRAFT and campaign.owner == bob
    assert campaign.unique_field == "email"
    for activity in campaign.activities.filter(kind="email"):
        template = activity.template
        assert validate_template(template, FILTERABLE) == []
        assert template.design is not None, template.name  # built with the email designer
        assert check_template(template, FILTERABLE) == [], template.name
        assert "{{ unsubscribe_url }}" in template.body_html
        assert "lorem" not in template.body_html.lower()
        assert "@media only screen" in template.body_html
        assert "Drumbeat" not in template.body_html  # no fixed brand: the brand kit's


def test_the_emails_render_with_the_record_name_and_a_readable_button(bob):
    from drumbeat.contacts.models import Contact
    from drumbeat.crm.models import Lead
    from drumbeat.mailing.models import MailingContact
    from drumbeat.mailing.rendering import preview

    records = {
        "contacts.contact": Contact.objects.create(name="Ann Smith", email="ann@example.com"),
        "crm.lead": Lead.objects.create(title="Pilot", contact_name="Ann Smith", salesperson=bob),
        "mailing.mailingcontact": MailingContact.objects.create(name="Ann Smith", email="a@x.org"),
    }
    for key in CARDS:
        for activity in instantiate(key, bob).activities.filter(kind="email"):
            template = activity.template
            rendered = preview(template, records[template.target], FILTERABLE)
            assert rendered.problems == []
            assert "Ann Smith" in rendered.subject + rendered.html, template.name
            assert "{{" not in rendered.html
            [button] = [b for b in iter_blocks(template.design) if b["type"] == "button"]
            tags = re.findall(r"<a [^>]*>\s*" + re.escape(button["label"]), rendered.html)
            assert len(tags) == 1, template.name
            assert re.search(r"(?<!-)color: ?#ffffff", tags[0]), tags[0]


def test_it_builds_the_workflows_of_the_spec(bob):
    h, d = "hours", "days"
    expected = {
        "tag_hot_contacts": {
            ("Send welcome email", "email", "begin", 2, h, None),
            ('Add tag "Hot"', "action", "mail_click", 2, h, "Send welcome email"),
            ("Check email address", "action", "mail_bounce", 2, h, "Send welcome email"),
        },
        "welcome_flow": {
            ("Send 10% welcome discount", "email", "begin", 2, h, None),
            (
                "Blacklist bounced address",
                "action",
                "mail_bounce",
                2,
                h,
                "Send 10% welcome discount",
            ),
        },
        "double_optin": {
            ("Confirmation", "email", "begin", 1, h, None),
            ('Add to list "Confirmed contacts"', "action", "mail_click", 0, h, "Confirmation"),
        },
        "commercial_prospection": {
            ("Offer free catalog", "email", "begin", 1, h, None),
            ("Join partnership", "email", "mail_click", 3, d, "Offer free catalog"),
            ("Catalog reminder", "email", "mail_not_open", 7, d, "Offer free catalog"),
            ("Alert salesperson", "action", "mail_reply", 1, h, "Offer free catalog"),
        },
        "schedule_calls": {("Schedule call", "action", "begin", 2, h, None)},
        "prioritize_hot_leads": {
            ("Send welcome email", "email", "begin", 1, h, None),
            ("Set priority Very high", "action", "mail_open", 0, h, "Send welcome email"),
            ("Set priority Low", "action", "mail_not_open", 6, h, "Send welcome email"),
        },
    }
    for key, activities in expected.items():
        assert workflow(instantiate(key, bob)) == activities, key


def test_the_server_actions_are_typed_as_the_spec_says(bob):
    instantiate("tag_hot_contacts", bob)
    instantiate("commercial_prospection", bob)
    instantiate("prioritize_hot_leads", bob)
    hot = Tag.objects.get(name="Hot")
    tag = ServerAction.objects.get(name='Add tag "Hot"')
    assert (tag.kind, tag.params["field"], tag.params["operation"], tag.params["value"]) == (
        "update_record",
        "tags",
        "add",
        [hot.pk],
    )
    check = ServerAction.objects.get(name="Check email address")
    assert check.kind == "create_activity"
    assert {k: check.params[k] for k in ("activity_type", "summary", "due_amount", "due_unit")} == {
        "activity_type": "todo",
        "summary": "Check email address",
        "due_amount": 2,
        "due_unit": "days",
    }
    assert check.params["user_field"] == "salesperson"
    alert = ServerAction.objects.get(name="Alert salesperson", parent=None)
    steps = [
        (c.kind, c.params.get("body") or c.params.get("activity_type"))
        for c in alert.children.all()
    ]
    assert alert.kind == "multi"
    assert steps == [("post_note", "{{ record.name }} is interested"), ("create_activity", "call")]
    priorities = dict(
        ServerAction.objects.filter(target="crm.lead", kind="update_record").values_list(
            "name", "params__value"
        )
    )
    assert priorities == {"Set priority Very high": 3, "Set priority Low": 0}


def test_instantiating_twice_reuses_templates_actions_tags_and_lists(bob):
    for key in CARDS:
        instantiate(key, bob)
    counts = (
        Template.objects.count(),
        ServerAction.objects.count(),
        Tag.objects.count(),
        MailingList.objects.count(),
    )
    second = {key: instantiate(key, bob) for key in CARDS}
    assert (
        Template.objects.count(),
        ServerAction.objects.count(),
        Tag.objects.count(),
        MailingList.objects.count(),
    ) == counts
    assert Campaign.objects.count() == 12
    first_hot = Campaign.objects.filter(name="Tag Hot Contacts").order_by("id").first()
    assert {a.template_id for a in first_hot.activities.all()} == {
        a.template_id for a in second["tag_hot_contacts"].activities.all()
    }


def test_it_recreates_what_was_deleted_and_repairs_actions_pointing_to_it(bob):
    instantiate("tag_hot_contacts", bob)
    instantiate("double_optin", bob)
    instantiate("commercial_prospection", bob)
    Tag.objects.filter(name="Hot").delete()
    MailingList.objects.filter(name="Confirmed contacts").delete()
    Template.objects.filter(name="Tag Hot Contacts: welcome email").delete()
    ServerAction.objects.filter(name="Check email address").delete()
    ServerAction.objects.filter(name="Post note: interested").delete()

    hot_campaign = instantiate("tag_hot_contacts", bob)
    optin = instantiate("double_optin", bob)
    prospection = instantiate("commercial_prospection", bob)

    hot = Tag.objects.get(name="Hot")
    assert ServerAction.objects.get(name='Add tag "Hot"').params["value"] == [hot.pk]
    confirmed = MailingList.objects.get(name="Confirmed contacts")
    add = optin.activities.get(kind="action").server_action
    assert add.params["list_id"] == confirmed.pk
    email = hot_campaign.activities.get(kind="email")
    assert email.template.name == "Tag Hot Contacts: welcome email"
    assert ServerAction.objects.filter(name="Check email address").count() == 1
    alert = prospection.activities.get(name="Alert salesperson").server_action
    assert [c.name for c in alert.children.all()] == [
        "Post note: interested",
        "Call activity for the salesperson",
    ]


def test_it_refuses_an_unknown_key(bob):
    with pytest.raises(UnknownTemplate):
        instantiate("free_lunch", bob)
    with pytest.raises(KeyError):
        campaign_templates.get_template("free_lunch")
    assert not Campaign.objects.exists()
    assert not Activity.objects.exists()
