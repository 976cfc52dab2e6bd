"""The conversions after each activity (Results tab, workflow cards) come from a roll-up
(`ConversionRollup`, rollup_sql.py `conversion`) that must equal what metrics.py counted from
the rows before it (rollup_check.py): after conversions, after traces processed by both
execution paths for participants who converted meanwhile, after test flags, cleared
conversions and deletes; and, on PostgreSQL, when a conversion and the processing of the
same participant's trace run at once in two transactions, in either order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drumbeat.automation import metrics, rollups, services
from drumbeat.automation.engine.execute import execute_batch, is_set_based
from drumbeat.automation.goals import check_campaign_goal
from drumbeat.automation.models import Participant, Trace
from drumbeat.contacts import services as contact_services
from drumbeat.contacts.models import Contact

from .fixtures import (
    START,
    add_action,
    add_email,
    assert_second_waits_for_first,
    make_campaign,
    make_contacts,
    make_user,
    tick,
)
from .rollup_check import differences

DAY = timedelta(days=1)
CUSTOMER = [["tags.name", "=", "Customer"]]


def after(*activities) -> list[int]:
    """Conversions after each activity, as the roll-up has them; the roll-up equal to the rows."""
    assert differences() == {}
    counts = rollups.conversion_counts([a.pk for a in activities])
    return [counts.get(a.pk, 0) for a in activities]


def reach_goal(contacts: list[Contact]) -> None:
    contact_services.add_tags(Contact, [c.pk for c in contacts], ["Customer"])


@pytest.mark.django_db
@pytest.mark.postgres
def test_conversions_after_each_activity_follow_every_change(clock, bob, smtp):
    people = make_contacts(5)
    campaign = make_campaign(bob, goal_domain=CUSTOMER)
    email = add_email(campaign)
    tag = add_action(campaign, parent=email, delay_amount=1, delay_unit="days")
    reminder = add_email(campaign, parent=email, name="Reminder", delay_amount=1, delay_unit="days")
    assert is_set_based(tag) and not is_set_based(reminder)  # both execution paths
    services.start_campaign(campaign, bob)
    tick()
    assert after(email, tag, reminder) == [0, 0, 0]

    reach_goal(people[:2])
    clock.move_to(START + timedelta(hours=1))
    assert check_campaign_goal(campaign) == 2  # counted by the participants' side
    assert after(email, tag, reminder) == [2, 0, 0]

    # Batches that began at START + 1 day write their traces after a conversion at START + 2
    # days: executed before it, so they count, from the traces' side.
    reach_goal(people[2:3])
    clock.move_to(START + 2 * DAY)
    assert check_campaign_goal(campaign) == 1
    assert execute_batch(tag, now=START + DAY) == 5
    assert execute_batch(reminder, now=START + DAY) == 5
    assert after(email, tag, reminder) == [3, 1, 1]
    cards = metrics.activity_metrics(campaign)
    assert [cards[a.pk].conversions for a in (email, tag, reminder)] == [3, 1, 1]

    # A test participant's conversion is left out (and back in when it is not one).
    first = Participant.objects.filter(record_id=people[0].pk)
    first.update(is_test=True)
    assert after(email, tag, reminder) == [2, 1, 1]
    first.update(is_test=False)
    assert after(email, tag, reminder) == [3, 1, 1]

    # A conversion cleared by hand, a converted participant deleted with its traces.
    Participant.objects.filter(record_id=people[1].pk).update(converted_at=None)
    assert after(email, tag, reminder) == [2, 1, 1]
    Participant.objects.get(record_id=people[2].pk).delete()
    assert after(email, tag, reminder) == [1, 0, 0]

    # A processed trace deleted (its children with it), a trace taken back from processed.
    Trace.objects.filter(activity=email, participant__record_id=people[0].pk).delete()
    assert after(email, tag, reminder) == [0, 0, 0]
    Participant.objects.filter(record_id=people[1].pk).update(converted_at=START + 3 * DAY)
    assert after(email, tag, reminder) == [1, 1, 1]
    Trace.objects.filter(activity=tag, participant__record_id=people[1].pk).update(state="error")
    assert after(email, tag, reminder) == [1, 0, 1]
    second = Participant.objects.get(record_id=people[1].pk)  # a trace written processed
    Trace.objects.create(participant=second, activity=tag, state="processed", executed_at=START)
    assert after(email, tag, reminder) == [1, 1, 1]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["trace", "conversion"])
def test_a_conversion_and_a_trace_processed_at_once_are_counted_once(first):
    """Each side's trigger runs before the other's commit: without the campaign's advisory
    lock each would see the other's row unchanged and neither would count."""
    bob = make_user("bob")
    make_contacts(1)
    campaign = make_campaign(bob, goal_domain=CUSTOMER)
    action = add_action(campaign)
    services.start_campaign(campaign, bob)
    trace = Trace.objects.get(activity=action)
    process = (
        "UPDATE automation_trace SET state = 'processed', executed_at = %s WHERE id = %s",
        [START, trace.pk],
    )
    convert = (
        "UPDATE automation_participant SET converted_at = %s WHERE id = %s",
        [START + DAY, trace.participant_id],
    )
    leading, following = (process, convert) if first == "trace" else (convert, process)
    assert_second_waits_for_first(leading, following)
    assert after(action) == [1]
