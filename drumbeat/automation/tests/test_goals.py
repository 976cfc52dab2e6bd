"""Campaign goals (automation/goals.py): conversions marked once, exits that cancel waiting
traces, the window, checks on each pass and when records change; human opens apart."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drumbeat.automation import services
from drumbeat.automation.goals import check_campaign_goal, check_goals
from drumbeat.automation.models import Participant, Trace, WebhookDelivery, WebhookEndpoint
from drumbeat.contacts import services as contact_services
from drumbeat.contacts.models import Contact
from drumbeat.mailing import events
from drumbeat.mailing.models import Message

from .fixtures import START, add_action, add_email, make_campaign, make_contacts, tick, traces

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HOUR = timedelta(hours=1)
CUSTOMER = [["tags.name", "=", "Customer"]]


def converted(campaign) -> dict[int, object]:
    return dict(
        Participant.objects.filter(campaign=campaign, converted_at__isnull=False).values_list(
            "record_id", "converted_at"
        )
    )


def test_a_goal_reached_exits_the_participant_and_cancels_its_waiting_traces(
    clock, bob, smtp, committed
):
    ann, ben = make_contacts(2)
    campaign = make_campaign(bob, goal_domain=CUSTOMER, exit_on_goal=True)
    email = add_email(campaign)
    opened = add_action(campaign, parent=email, trigger="mail_open", name="Opened")
    reminder = add_action(
        campaign,
        parent=email,
        trigger="mail_not_open",
        name="Reminder",
        delay_amount=3,
        delay_unit="days",
    )
    services.start_campaign(campaign, bob)
    tick()
    assert len(smtp.messages) == 2
    clock.move_to(START + 2 * HOUR)
    with committed():  # the service reports the change after commit: the goal is checked then
        contact_services.add_tags(Contact, [ann.pk], ["Customer"])

    assert converted(campaign) == {ann.pk: START + 2 * HOUR}
    mine = Participant.objects.get(record_id=ann.pk)
    assert (mine.state, mine.completed_at) == ("completed", START + 2 * HOUR)
    # Both children were still scheduled: the waiting one and the dated reminder.
    for activity in (opened, reminder):
        (trace,) = traces(activity, participant=mine)
        assert (trace.state, trace.reason) == ("cancelled", "goal reached")
    other = Participant.objects.get(record_id=ben.pk)
    assert other.state == "running" and other.converted_at is None
    assert {t.state for t in Trace.objects.filter(participant=other, parent__isnull=False)} == {
        "scheduled"
    }
    # Nothing is left for Ann: the reminder day comes and goes.
    clock.move_to(START + 4 * 24 * HOUR)
    tick()
    assert len(smtp.to(ann.email)) == 1


def test_a_conversion_is_counted_once_whatever_the_number_of_checks(clock, bob, committed):
    hook = WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/unused", events=["participant.converted"]
    )
    (ann,) = make_contacts(1)
    campaign = make_campaign(bob, goal_domain=CUSTOMER)
    add_action(campaign, delay_amount=5)
    services.start_campaign(campaign, bob)
    with committed():
        contact_services.add_tags(Contact, [ann.pk], ["Customer"])
    clock.move_to(START + HOUR)
    tick()
    assert check_goals() == 0
    with committed():
        contact_services.update_contact(ann, city="Ghent")
    assert converted(campaign) == {ann.pk: START}
    (delivery,) = WebhookDelivery.objects.filter(event="participant.converted", endpoint=hook)
    payload = delivery.payload
    assert (payload["record_id"], payload["campaign_id"]) == (ann.pk, campaign.pk)
    assert payload["exited"] is False and payload["branches"] == []
    # Without exit_on_goal the participant stays in the workflow.
    assert Participant.objects.get().state == "running"


def test_each_pass_checks_the_goal_before_the_sync_removes_who_reached_it(clock, bob):
    ann, ben = make_contacts(2)
    campaign = make_campaign(
        bob, domain=[["tags.name", "!=", "Customer"]], goal_domain=CUSTOMER, exit_on_goal=True
    )
    add_action(campaign, delay_amount=5)
    services.start_campaign(campaign, bob)
    # Tagged behind the app's back (no records_changed): only the pass can see it.
    ann.tags.add(contact_services.get_or_create_tags(["Customer"])[0])
    clock.move_to(START + HOUR)
    result = tick()
    assert result.converted == 1
    assert converted(campaign) == {ann.pk: START + HOUR}
    states = dict(Participant.objects.values_list("record_id", "state"))
    assert states == {ann.pk: "completed", ben.pk: "running"}


def test_only_a_goal_reached_within_the_window_counts(clock, bob):
    ann, ben = make_contacts(2)
    campaign = make_campaign(bob, goal_domain=CUSTOMER, goal_window_days=30)
    add_action(campaign, delay_amount=60, delay_unit="days")
    services.start_campaign(campaign, bob)
    customer = contact_services.get_or_create_tags(["Customer"])[0]
    clock.move_to(START + timedelta(days=30))
    ann.tags.add(customer)
    tick()
    clock.move_to(START + timedelta(days=30, hours=1))
    ben.tags.add(customer)
    tick()
    assert converted(campaign) == {ann.pk: START + timedelta(days=30)}


def test_a_test_participant_of_a_new_campaign_converts_when_its_record_changes(
    clock, bob, committed
):
    (ann,) = make_contacts(1)
    campaign = make_campaign(bob, goal_domain=CUSTOMER, exit_on_goal=True)
    add_action(campaign, delay_amount=1)
    participant = services.launch_test(campaign, ann.pk, bob)
    with committed():
        contact_services.add_tags(Contact, [ann.pk], ["Customer"])
    participant.refresh_from_db()
    assert (participant.converted_at, participant.state) == (START, "completed")
    assert Trace.objects.get(participant=participant).reason == "goal reached"


def test_the_goal_settings_are_checked(bob):
    with pytest.raises(ValidationError) as caught:
        make_campaign(bob, goal_domain=[["nope", "=", 1]])
    assert "goal_domain" in caught.value.message_dict
    campaign = make_campaign(bob)
    with pytest.raises(ValidationError) as caught:
        services.update_campaign(campaign, goal_window_days=0)
    assert caught.value.message_dict["goal_window_days"] == ["Must be at least 1."]
    services.update_campaign(campaign, goal_domain=CUSTOMER, goal_window_days=14)
    campaign.refresh_from_db()
    assert (campaign.goal_domain, campaign.goal_window_days) == (CUSTOMER, 14)
    copy = services.duplicate_campaign(campaign, bob)
    assert (copy.goal_domain, copy.goal_window_days, copy.exit_on_goal) == (CUSTOMER, 14, False)


def test_opens_by_link_scanners_are_kept_apart_from_those_of_people(clock, bob, smtp, committed):
    make_contacts(3)
    campaign = make_campaign(bob)
    email = add_email(campaign)
    services.start_campaign(campaign, bob)
    tick()
    first, second, third = (t.message_id for t in traces(email))
    with committed():
        events.mark_opened([first], START, machine=True)  # a scanner, then nobody
        events.mark_opened([second], START, machine=True)  # a scanner, then a person
    with committed():
        events.mark_opened([second], START + HOUR)
        events.mark_clicked(third, START + 2 * HOUR)  # a click is an open too
    by_message = {t.message_id: (t.human_opened_at, t.human_clicked_at) for t in traces(email)}
    assert by_message == {
        first: (None, None),
        second: (START + HOUR, None),
        third: (START + 2 * HOUR, START + 2 * HOUR),
    }
    assert Message.objects.filter(opened_at__isnull=False).count() == 3


def goal_check_statements(bob, size: int, name: str) -> int:
    Contact.objects.bulk_create(
        Contact(name=f"{name} {i}", email=f"{name.lower()}{i}@example.com", city=name)
        for i in range(size)
    )
    campaign = make_campaign(
        bob, name=name, domain=[["city", "=", name]], goal_domain=CUSTOMER, exit_on_goal=True
    )
    add_action(campaign, delay_amount=5)
    services.start_campaign(campaign, bob)
    customer = contact_services.get_or_create_tags(["Customer"])[0]
    customer.contacts.add(*Contact.objects.filter(city=name))
    with CaptureQueriesContext(connection) as ctx:
        assert check_campaign_goal(campaign) == size
    assert (
        Trace.objects.filter(participant__campaign=campaign, reason="goal reached").count() == size
    )
    return len(ctx.captured_queries)


def test_a_goal_check_of_10_or_1000_conversions_takes_the_same_statements(clock, bob):
    assert goal_check_statements(bob, 10, "Small") == goal_check_statements(bob, 1000, "Large")
