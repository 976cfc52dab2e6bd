"""Message events reported in batches (the tracking routes' flusher): each event acts at its
own time, in order, as if the events had come one by one, in a constant number of statements."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drumbeat.automation import services
from drumbeat.automation.engine import wakeup
from drumbeat.automation.engine.events import apply_message_events
from drumbeat.automation.models import Campaign, Trace
from drumbeat.contacts.models import Contact
from drumbeat.lib.hooks import MessageEvent
from drumbeat.mailing.models import Message

from .fixtures import START, add_action, add_email, assert_traces, make_campaign, tick, traces

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HOUR = timedelta(hours=1)


def sent_campaign(
    bob, people: int, trigger: str = "mail_open", delay_hours: int = 2, also=(), **fields
):
    """`people` contacts sent the welcome email; its child waits for `trigger` (and one more
    child, at once, for each trigger of `also`)."""
    for i in range(people):
        Contact.objects.create(name=f"Person {i}", email=f"person{i}@example.com")
    campaign = make_campaign(bob)
    Campaign.objects.filter(pk=campaign.pk).update(**fields)
    email = add_email(campaign)
    child = add_action(
        campaign, parent=email, trigger=trigger, delay_amount=delay_hours, delay_unit="hours"
    )
    for other in also:
        add_action(campaign, parent=email, name=other, trigger=other)
    services.start_campaign(campaign, bob)
    tick()
    messages = list(Message.objects.filter(activity_id=email.pk).order_by("trace_id"))
    assert len(messages) == people
    return campaign, email, child, messages


def event(kind: str, message: Message, at, machine: bool = False) -> MessageEvent:
    return MessageEvent(kind=kind, message_ids=(message.pk,), at=at, machine=machine)


def scheduled_at(child) -> list:
    return [t.scheduled_at for t in traces(child)]


def test_each_event_of_a_batch_dates_its_child_at_its_own_time(clock, bob, smtp):
    campaign, email, child, (ann, cy) = sent_campaign(bob, 2)

    apply_message_events([event("open", ann, START + HOUR), event("open", cy, START + 3 * HOUR)])

    assert scheduled_at(child) == [START + 3 * HOUR, START + 5 * HOUR]


@pytest.mark.parametrize("ignored, dated_at", [(True, START + 2 * HOUR), (False, START + HOUR)])
def test_the_first_event_that_counts_dates_the_child(clock, bob, smtp, ignored, dated_at):
    campaign, email, child, (ann,) = sent_campaign(
        bob, 1, delay_hours=0, ignore_machine_events=ignored
    )

    apply_message_events(
        [
            event("open", ann, START + HOUR, machine=True),  # a link scanner
            event("open", ann, START + 2 * HOUR),
            event("open", ann, START + 3 * HOUR),
        ]
    )

    assert scheduled_at(child) == [dated_at]


def test_a_click_in_a_batch_cancels_not_open_as_its_open_would(clock, bob, smtp):
    campaign, email, nudge, (ann,) = sent_campaign(
        bob, 1, trigger="mail_not_open", delay_hours=24, also=["mail_click"]
    )
    clicked = campaign.activities.get(name="mail_click")

    apply_message_events([event("open", ann, START + HOUR), event("click", ann, START + HOUR)])

    assert_traces(nudge, [("cancelled", "parent opened")])
    assert scheduled_at(clicked) == [START + HOUR]


def test_a_bounce_after_an_open_in_the_same_batch_cancels_the_child_the_open_dated(
    clock, bob, smtp
):
    campaign, email, child, (ann,) = sent_campaign(bob, 1, delay_hours=2)

    apply_message_events([event("open", ann, START + HOUR), event("bounce", ann, START + HOUR)])

    assert_traces(child, [("cancelled", "parent bounced")])


def test_a_batch_costs_the_same_statements_for_one_event_or_many(clock, bob, smtp):
    campaign, email, child, messages = sent_campaign(bob, 12, trigger="mail_not_open")

    def statements(batch) -> int:
        with CaptureQueriesContext(connection) as queries:
            apply_message_events(batch)
        return len(queries.captured_queries)

    one = statements([event("open", messages[0], START + HOUR)])
    many = statements([event("open", m, START + HOUR) for m in messages[1:]])

    assert one == many
    assert Trace.objects.filter(activity=child, state="cancelled").count() == 12


def test_a_child_due_at_once_wakes_the_runner(clock, bob, smtp):
    campaign, email, child, (ann,) = sent_campaign(bob, 1, delay_hours=0)
    wakeup.event.clear()

    apply_message_events([event("click", ann, START)])

    assert scheduled_at(child) == [START]
    assert wakeup.event.is_set()
