"""Set-based batches (engine/setbatch.py): a server action with the same effect for every record
runs as SQL over the batch table, and ends exactly as the general path does — outcomes and
reasons per trace (processed, rejected by the filter, expired, failed), children, completed
participants, webhooks and roll-ups — and concurrent runners on PostgreSQL act once per
record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drumbeat.automation import services
from drumbeat.automation.engine import execute
from drumbeat.automation.engine.execute import execute_batch
from drumbeat.automation.models import (
    Activity,
    Participant,
    RollupPause,
    ServerAction,
    Trace,
    WebhookDelivery,
    WebhookEndpoint,
)
from drumbeat.contacts.models import Contact
from drumbeat.timeline.models import Note

from .fixtures import (
    START,
    add_action,
    make_action,
    make_campaign,
    make_contacts,
    make_user,
    run_together,
)
from .rollup_check import differences

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HOUR = timedelta(hours=1)


def run_scenario(bob, value) -> dict:
    """A campaign whose action sets `city` to `value` two hours in, expiring an hour after
    its due date, with a child action and a second root step that keeps people running;
    one record archived and one deleted before the run, the filter on `country`."""
    contacts = make_contacts(6, country="BE")
    campaign = make_campaign(bob, name=f"Scenario {value}")
    action = make_action(field="city", operation="set", value=value)
    step = add_action(
        campaign,
        name="Set city",
        action=action,
        delay_amount=2,
        expiry_amount=1,
        expiry_unit="hours",
        domain=[["country", "=", "BE"]],
    )
    child = add_action(campaign, parent=step, name="Child", delay_amount=1)
    add_action(campaign, name="Later", delay_amount=30, delay_unit="days")
    services.start_campaign(campaign, bob)
    Contact.objects.filter(pk=contacts[0].pk).update(active=False)  # archived: rejected
    Contact.objects.filter(pk=contacts[1].pk).update(country="FR")  # filtered out: rejected
    # The first trace due an hour earlier than the rest: past its expiry at the run.
    first = Trace.objects.get(activity=step, participant__record_id=contacts[2].pk)
    Trace.objects.filter(pk=first.pk).update(scheduled_at=first.scheduled_at - 2 * HOUR)
    step = Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)
    now = START + 2 * HOUR + timedelta(minutes=30)
    assert execute.is_set_based(step) == (not str(value).startswith("{{"))
    while execute_batch(step, now, 4):
        pass
    order = {c.pk: i for i, c in enumerate(contacts)}
    outcome = sorted(
        (order[t.participant.record_id], t.state, t.reason)
        for t in Trace.objects.filter(activity=step).select_related("participant")
    )
    return {
        "traces": outcome,
        "cities": [Contact.objects.get(pk=c.pk).city for c in contacts],
        "children": sorted(
            order[r]
            for r in Trace.objects.filter(activity=child).values_list(
                "participant__record_id", flat=True
            )
        ),
        "participants": sorted(
            Participant.objects.filter(campaign=campaign).values_list("state", flat=True)
        ),
    }


def test_a_set_based_batch_ends_as_the_general_path_does(clock, bob):
    fixed = run_scenario(bob, "Ghent")
    Contact.objects.all().delete()
    rendered = run_scenario(bob, "{{ 'Ghent' }}")  # a template value: the general path
    assert fixed == rendered
    assert fixed["traces"] == [
        (0, "rejected", execute.REASON_REJECTED),
        (1, "rejected", execute.REASON_REJECTED),
        (2, "cancelled", execute.REASON_EXPIRED),
        (3, "processed", ""),
        (4, "processed", ""),
        (5, "processed", ""),
    ]
    assert fixed["cities"][3:] == ["Ghent"] * 3 and "Ghent" not in fixed["cities"][:3]
    assert fixed["children"] == [3, 4, 5]
    assert fixed["participants"] == ["running"] * 6  # the 30-day step still waits
    assert differences() == {}


def test_a_leaf_step_completes_its_participants_and_counts_them(clock, bob):
    """Counted by goal reached too: two participants converted before the step runs move
    from (running, converted) to (completed, converted) in the roll-up."""
    make_contacts(5)
    campaign = make_campaign(bob)
    step = add_action(campaign, action=make_action(field="city", operation="set", value="Ghent"))
    services.start_campaign(campaign, bob)
    converted = Participant.objects.filter(campaign=campaign).order_by("id").values_list("pk")[1:3]
    Participant.objects.filter(pk__in=[pk for (pk,) in converted]).update(converted_at=START)
    step.refresh_from_db()
    assert execute_batch(step, START, 3) == 3
    assert execute_batch(step, START, 3) == 2
    assert execute_batch(step, START, 3) == 0
    states = Participant.objects.filter(campaign=campaign).values_list("state", flat=True)
    assert sorted(states) == ["completed"] * 5
    assert Contact.objects.filter(city="Ghent").count() == 5
    assert differences() == {}


def test_a_trace_pending_in_another_step_keeps_its_participant_running(clock, bob):
    """A batch completes its participants without a check each only when no other step of
    the campaign has a trace scheduled or processing (its roll-up); else each is checked: a
    trace waiting for an event (no date) or processing elsewhere keeps its participant
    running, the others complete."""
    make_contacts(4)
    campaign = make_campaign(bob)
    step = add_action(campaign, action=make_action(field="city", operation="set", value="Ghent"))
    country = make_action(field="country", operation="set", value="BE")
    other = add_action(campaign, name="Other", action=country)
    services.start_campaign(campaign, bob)
    waiting, busy = Trace.objects.filter(activity=other).order_by("id")[:2]
    Trace.objects.filter(pk=waiting.pk).update(scheduled_at=None, window_ends_at=START + HOUR)
    Trace.objects.filter(pk=busy.pk).update(state="processing", claim_expires_at=START + HOUR)
    other = Activity.objects.select_related("campaign", "server_action").get(pk=other.pk)
    assert execute_batch(other, START) == 2  # the other two: their step-1 traces still wait
    step = Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)
    assert execute_batch(step, START) == 4
    states = dict(Participant.objects.filter(campaign=campaign).values_list("pk", "state"))
    assert states.pop(waiting.participant_id) == states.pop(busy.participant_id) == "running"
    assert list(states.values()) == ["completed"] * 2
    assert differences() == {}


def test_a_failing_set_based_action_errors_every_trace_and_keeps_the_batch(clock, bob):
    make_contacts(3)
    campaign = make_campaign(bob)
    step = add_action(campaign, action=make_action(field="city", operation="set", value="Ghent"))
    child = add_action(campaign, parent=step, name="Child")
    # Made invalid behind the validator's back: fails at run time, for the whole batch.
    ServerAction.objects.filter(pk=step.server_action_id).update(
        params={"field": "nope", "operation": "set", "value": 1}
    )
    services.start_campaign(campaign, bob)
    step = Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)
    assert execute_batch(step, START) == 3
    rows = list(Trace.objects.filter(activity=step).values_list("state", "reason"))
    assert [state for state, _ in rows] == ["error"] * 3
    assert {reason for _, reason in rows} == {
        "field: 'nope' is not a writable field of contacts.contact"
    }
    assert Trace.objects.filter(activity=child).count() == 3  # as the general path does
    assert differences() == {}
    assert not RollupPause.objects.exists()  # SQLite's triggers count again


def test_outbound_webhooks_see_each_outcome(clock, bob):
    WebhookEndpoint.objects.create(url="https://hooks.example.org/in", events=["trace.processed"])
    make_contacts(4)
    campaign = make_campaign(bob)
    step = add_action(campaign, action=make_action(field="city", operation="set", value="Ghent"))
    services.start_campaign(campaign, bob)
    step.refresh_from_db()
    execute_batch(step, START)
    payloads = WebhookDelivery.objects.filter(event="trace.processed").values_list(
        "payload", flat=True
    )
    traced = sorted(p["id"] for p in payloads)
    assert traced == sorted(Trace.objects.filter(activity=step).values_list("id", flat=True))


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_runners_post_one_note_per_record():
    bob = make_user("bob")
    make_contacts(900)
    campaign = make_campaign(bob)
    action = ServerAction.objects.create(
        name="Note", target="contacts.contact", kind="post_note", params={"body": "Hello"}
    )
    step = add_action(campaign, action=action)
    services.start_campaign(campaign, bob)
    step = Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)
    assert execute.is_set_based(step)
    taken: list[int] = []

    def drain() -> None:
        while n := execute_batch(step, START.replace(year=2100), 50):
            taken.append(n)

    assert run_together(drain, 3) == []
    assert sum(taken) == 900
    assert Note.objects.count() == 900
    assert Note.objects.values("object_id").distinct().count() == 900
    assert Trace.objects.filter(activity=step, state="processed").count() == 900
    assert differences() == {}


def list_scenario(bob, kind: str, run) -> dict:
    """`kind` (add to / remove from a list) on three contacts and one without an email, with
    a child step, batch by batch with `run` (the set-based or the general path)."""
    from drumbeat.mailing.models import MailingContact, MailingList, Subscription

    city = run.__name__
    newsletter = MailingList.objects.create(name=f"News {city}")
    contacts = [*make_contacts(3, city=city), Contact.objects.create(name="No mail", city=city)]
    for contact in contacts[1:3]:  # two already on the list
        mailing, _ = MailingContact.objects.get_or_create(email=contact.email)
        Subscription.objects.create(contact=mailing, list=newsletter)
    campaign = make_campaign(bob, name=city, domain=[["city", "=", city]], unique_field="")
    step = add_action(campaign, action=make_action(kind, list_id=newsletter.pk))
    child = add_action(campaign, parent=step, name="Child")
    services.start_campaign(campaign, bob)
    step = Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)
    assert execute.is_set_based(step)
    while run(step, START, 3):
        pass
    order = {c.pk: i for i, c in enumerate(contacts)}
    return {
        "traces": sorted(
            (order[t.participant.record_id], t.state, t.reason)
            for t in Trace.objects.filter(activity=step).select_related("participant")
        ),
        "subscribed": sorted(newsletter.contacts.values_list("email", flat=True)),
        "children": Trace.objects.filter(activity=child).count(),
    }


@pytest.mark.parametrize("kind", ["add_to_list", "remove_from_list"])
def test_a_list_action_runs_set_based_and_ends_as_the_general_path_does(clock, bob, kind):
    """The record without an email fails alone ("no email address"), as `run_action` reports
    it; the others are subscribed (or unsubscribed) once, whatever they had before."""
    general = list_scenario(bob, kind, execute.execute_locked_batch)
    set_based = list_scenario(bob, kind, execute.execute_set_batch)
    assert set_based == general
    assert set_based["traces"] == [
        (0, "processed", ""),
        (1, "processed", ""),
        (2, "processed", ""),
        (3, "error", "no email address"),
    ]
    subscribed = [f"person{i}@example.com" for i in range(3)] if kind == "add_to_list" else []
    assert set_based["subscribed"] == subscribed
    assert set_based["children"] == 4
    assert differences() == {}


def test_a_list_action_batch_is_a_constant_number_of_statements(clock, bob):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from drumbeat.mailing.models import MailingList

    newsletter = MailingList.objects.create(name="News")

    def statements(n: int, city: str) -> int:
        make_contacts(n, city=city)
        Contact.objects.create(name="No mail", city=city)
        campaign = make_campaign(bob, name=city, domain=[["city", "=", city]], unique_field="")
        step = add_action(campaign, action=make_action("add_to_list", list_id=newsletter.pk))
        services.start_campaign(campaign, bob)
        step = Activity.objects.select_related("campaign", "server_action").get(pk=step.pk)
        with CaptureQueriesContext(connection) as captured:
            assert execute_batch(step, START) == n + 1
        assert Trace.objects.filter(activity=step, state="error").count() == 1
        return len(captured.captured_queries)

    assert statements(3, "Small") == statements(300, "Large")
    # person0…2 of the small campaign share their addresses with the large one's first three.
    assert newsletter.subscriptions.count() == 300
