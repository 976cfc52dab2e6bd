"""Executing traces: expiry, filters, stop/start, manual control, leases, statement counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drumbeat.automation import services
from drumbeat.automation.engine.execute import claim_due, execute_one_batch, recover_leases
from drumbeat.automation.engine.leases import LEASE
from drumbeat.automation.metrics import campaign_metrics
from drumbeat.automation.models import CampaignLog, Participant, Trace
from drumbeat.contacts.models import Contact, Tag
from drumbeat.mailing.models import Message, OutboxEntry

from .fixtures import (
    START,
    add_action,
    add_email,
    make_campaign,
    make_contacts,
    participant_states,
    tick,
    traces,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HOUR = timedelta(hours=1)


def test_it_runs_a_due_action_and_completes_the_participant(clock, bob):
    (ann,) = make_contacts(1)
    campaign = make_campaign(bob)
    activity = add_action(campaign, delay_amount=2)
    services.start_campaign(campaign, bob)
    tick()
    assert [t.state for t in traces(activity)] == ["scheduled"]
    clock.move_to(START + 2 * HOUR)
    tick()
    assert [t.state for t in traces(activity)] == ["processed"]
    assert list(ann.tags.values_list("name", flat=True)) == ["Hot"]
    assert participant_states(campaign) == ["completed"]


def test_months_are_calendar_months(clock, bob):
    make_contacts(1)
    campaign = make_campaign(bob)
    activity = add_action(campaign, delay_amount=1, delay_unit="months")
    services.start_campaign(campaign, bob)
    assert traces(activity)[0].scheduled_at == START.replace(month=4)


def test_an_expired_trace_is_cancelled_and_gets_no_children(clock, bob):
    make_contacts(1)
    campaign = make_campaign(bob)
    first = add_action(campaign, delay_amount=1, expiry_amount=2, expiry_unit="hours")
    child = add_action(campaign, parent=first, name="Child")
    services.start_campaign(campaign, bob)
    services.stop_campaign(campaign, bob)
    clock.move_to(START + 5 * HOUR)
    tick()
    assert traces(first)[0].state == "scheduled"  # stopped: due traces wait
    services.start_campaign(campaign, bob)
    tick()
    t = traces(first)[0]
    assert (t.state, t.reason) == ("cancelled", "expired")
    assert traces(child) == []
    assert participant_states(campaign) == ["completed"]


@pytest.mark.parametrize("change", ["filter", "archived", "deleted"])
def test_the_activity_filter_rejects_changed_archived_or_deleted_records(clock, bob, change):
    (ann,) = make_contacts(1, city="Ghent")
    campaign = make_campaign(bob)
    first = add_action(campaign, delay_amount=1, domain=[["city", "=", "Ghent"]])
    child = add_action(campaign, parent=first, name="Child")
    services.start_campaign(campaign, bob)
    if change == "filter":
        Contact.objects.filter(pk=ann.pk).update(city="Bruges")
    elif change == "archived":
        Contact.objects.filter(pk=ann.pk).update(active=False)
    else:
        ann.delete()
    clock.move_to(START + HOUR)
    from drumbeat.automation.engine.runner import drain

    drain(START + HOUR)  # execute without the enrolment sync, which would remove first
    t = traces(first)[0]
    assert (t.state, t.reason) == ("rejected", "rejected by filter or record removed")
    assert traces(child) == []


def test_the_activity_filter_applies_to_descendants(clock, bob):
    make_contacts(1, city="Ghent")
    campaign = make_campaign(bob)
    first = add_action(campaign, delay_amount=1, domain=[["city", "=", "Ghent"]])
    child = add_action(campaign, parent=first, name="Child", delay_amount=1)
    services.start_campaign(campaign, bob)
    clock.move_to(START + HOUR)
    tick()
    Contact.objects.update(city="Bruges")
    clock.move_to(START + 2 * HOUR)
    from drumbeat.automation.engine.runner import drain

    drain(START + 2 * HOUR)
    assert traces(child)[0].state == "rejected"
    assert services.applied_count(child) == 0
    assert services.applied_filter(child) == [["city", "=", "Ghent"]]


def test_a_failing_action_errors_its_traces_and_the_batch_goes_on(clock, bob):
    make_contacts(2)
    campaign = make_campaign(bob)
    action = add_action(campaign).server_action
    # A configuration made invalid behind the validator's back fails at run time.
    type(action).objects.filter(pk=action.pk).update(params={"field": "nope", "value": 1})
    activity = campaign.activities.get()
    tick()
    services.start_campaign(campaign, bob)
    tick()
    assert {t.state for t in traces(activity)} == {"error"}
    assert all(t.reason for t in traces(activity))


def test_duplicate_copies_the_workflow_but_not_participants(clock, bob):
    make_contacts(2)
    campaign = make_campaign(bob)
    email = add_email(campaign)
    add_action(campaign, parent=email, trigger="mail_open", delay_amount=3)
    services.start_campaign(campaign, bob)
    copy = services.duplicate_campaign(campaign, bob)
    assert copy.state == "draft"
    assert copy.participants.count() == 0
    acts = list(copy.activities.order_by("id"))
    assert [(a.name, a.trigger, a.delay_amount) for a in acts] == [
        ("Welcome email", "begin", 0),
        ("Tag them", "mail_open", 3),
    ]
    assert acts[1].parent == acts[0]
    assert acts[0].template_id != email.template_id
    assert acts[0].template.subject == email.template.subject
    assert CampaignLog.objects.filter(campaign=campaign, action="duplicate", user=bob).exists()


def test_manual_run_cancel_and_retry_are_logged(clock, bob):
    make_contacts(3)
    campaign = make_campaign(bob)
    activity = add_action(campaign, delay_amount=5, delay_unit="days")
    services.start_campaign(campaign, bob)
    one, two, three = traces(activity)
    services.run_trace_now(one, bob)
    services.cancel_trace(two, bob)
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.state == "processed"
    assert (two.state, two.reason) == ("cancelled", "cancelled manually")
    Trace.objects.filter(pk=three.pk).update(state="error", reason="boom")
    three.refresh_from_db()
    services.retry_trace(three, bob)
    three.refresh_from_db()
    assert (three.state, three.scheduled_at) == ("scheduled", START)
    tick()
    three.refresh_from_db()
    assert three.state == "processed"
    actions = list(
        CampaignLog.objects.filter(campaign=campaign, user=bob)
        .order_by("id")
        .values_list("action", "trace_id")
    )
    assert actions[1:] == [
        ("run_trace", one.pk),
        ("cancel_trace", two.pk),
        ("retry_trace", three.pk),
    ]
    assert actions[0] == ("start", None)
    with pytest.raises(services.ValidationError):
        services.cancel_trace(one, bob)
    with pytest.raises(services.ValidationError):
        services.retry_trace(one, bob)


def test_stop_and_start_are_logged_and_stop_keeps_everything(clock, bob):
    make_contacts(1)
    campaign = make_campaign(bob)
    activity = add_action(campaign, delay_amount=1)
    services.start_campaign(campaign, bob)
    services.stop_campaign(campaign, bob)
    clock.move_to(START + 2 * HOUR)
    tick()
    assert traces(activity)[0].state == "scheduled"
    services.start_campaign(campaign, bob)
    tick()
    assert traces(activity)[0].state == "processed"
    assert list(
        CampaignLog.objects.filter(campaign=campaign)
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["start", "stop", "start"]


def test_an_expired_lease_is_recovered(clock, bob):
    make_contacts(2)
    campaign = make_campaign(bob)
    activity = add_action(campaign)
    services.start_campaign(campaign, bob)
    ids = sorted(claim_due(activity, START, 10).trace_ids)  # a runner claimed them, then died
    assert len(ids) == 2
    Trace.objects.filter(pk=ids[1]).update(started_at=START)  # this one's effect may have begun
    assert recover_leases(START + LEASE / 2) == 0  # the lease still runs
    clock.move_to(START + LEASE + HOUR)
    assert recover_leases() == 2
    first, second = traces(activity)
    assert first.state == "scheduled"
    assert (second.state, second.reason) == ("error", "interrupted")
    tick()
    first.refresh_from_db()
    assert first.state == "processed"


def test_an_interrupted_send_is_never_sent_again(clock, bob, smtp):
    make_contacts(2)
    campaign = make_campaign(bob)
    email = add_email(campaign)
    services.start_campaign(campaign, bob)
    ids = claim_due(email, START, 10).trace_ids
    first, second = sorted(ids)
    # The crash left one message recorded as sent and one as outgoing (send may have begun).
    for trace_id, state in ((first, "sent"), (second, "outgoing")):
        Message.objects.create(
            channel="email",
            trace_id=trace_id,
            recipient=f"x{trace_id}@example.com",
            message_id=f"<{trace_id}@example.org>",
            token=f"token{trace_id}",
            state=state,
        )
    clock.move_to(START + LEASE + HOUR)
    tick()
    a, b = traces(email)
    assert a.state == "processed" and a.message_id is not None
    assert (b.state, b.reason) == ("error", "interrupted")
    assert smtp.messages == []


def test_test_mode_runs_a_test_participant_and_simulates_events(clock, bob, smtp, committed):
    (ann,) = make_contacts(1)
    campaign = make_campaign(bob)  # stays New: nothing runs by itself
    email = add_email(campaign)
    clicked = add_action(campaign, parent=email, trigger="mail_click", name="Clicked")
    participant = services.launch_test(campaign, ann.pk, bob)
    assert participant.is_test
    tick()
    assert traces(email)[0].state == "scheduled"
    services.run_trace_now(traces(email)[0], bob)
    assert len(smtp.to(ann.email)) == 1
    trace = traces(email)[0]
    assert trace.state == "processed" and trace.is_test
    with committed():
        services.simulate_event(trace, "click", bob)
    child = traces(clicked)[0]
    assert child.is_test and child.scheduled_at == START
    services.run_trace_now(child, bob)
    assert traces(clicked)[0].state == "processed"
    participant.refresh_from_db()
    assert participant.state == "completed"
    assert Message.objects.get(trace_id=trace.pk).clicked_at == START
    with pytest.raises(services.ValidationError, match="Choose one of"):
        services.simulate_event(trace, "explode", bob)
    # The test participant is excluded from the campaign's counts.
    figures = campaign_metrics(campaign)
    assert (figures["total"], figures["tests"]) == (0, 1)


def test_campaign_email_names_the_campaign_in_list_id_and_feedback_id(clock, bob, smtp, settings):
    settings.INBOUND_DOMAIN = "in.example.org"
    (ann,) = make_contacts(1)
    campaign = make_campaign(bob, name="Spring: sale")
    email = add_email(campaign)
    services.start_campaign(campaign, bob)

    tick()

    [sent] = smtp.to(ann.email)
    identifier = f"campaign-{campaign.pk}.list-id.in.example.org"
    assert sent["List-Id"] == f'"Spring: sale" <{identifier}>'
    assert sent["Feedback-ID"] == f"c{campaign.pk}:a{email.pk}:drumbeat"


def test_a_test_on_a_record_already_enrolled_is_refused(clock, bob):
    (ann,) = make_contacts(1)
    campaign = make_campaign(bob)
    add_action(campaign, delay_amount=1)
    services.start_campaign(campaign, bob)
    with pytest.raises(services.ValidationError, match="already takes part"):
        services.launch_test(campaign, ann.pk, bob)
    with pytest.raises(services.ValidationError, match="No contact with id"):
        services.launch_test(campaign, 999999, bob)


STATEMENTS: dict[str, list[str]] = {}


def run_batch_statements(bob, size: int, name: str, email: bool = False) -> int:
    make_contacts(size, city=name)
    campaign = make_campaign(bob, name=name, domain=[["city", "=", name]])
    activity = add_email(campaign) if email else add_action(campaign)
    add_action(
        campaign, parent=activity, name="Child", delay_amount=1, action=activity.server_action
    )
    services.start_campaign(campaign, bob)
    with CaptureQueriesContext(connection) as ctx:
        execute_one_batch(activity, START, limit=1000)
    STATEMENTS[name] = [q["sql"][:150] for q in ctx.captured_queries]
    assert {t.state for t in traces(activity)} == {"processed"}
    assert len(traces(campaign.activities.get(name="Child"))) == size
    return len(ctx.captured_queries)


def test_a_server_action_batch_of_10_or_1000_takes_the_same_statements(clock, bob):
    small = run_batch_statements(bob, 10, "Small")
    large = run_batch_statements(bob, 1000, "Large")
    assert small == large
    assert Tag.objects.get(name="Hot").contacts.count() == 1010


def test_an_email_batch_of_10_or_1000_takes_the_same_statements(clock, bob, settings):
    settings.EMAIL_URL = "outbox://"  # its entries are stored too: every statement is counted
    small = run_batch_statements(bob, 10, "Small", email=True)
    large = run_batch_statements(bob, 1000, "Large", email=True)
    assert small == large > 10
    assert Message.objects.filter(state="sent").count() == 1010
    assert OutboxEntry.objects.count() == 1010


def test_participants_are_counted_by_state(clock, bob):
    make_contacts(3)
    campaign = make_campaign(bob)
    activity = add_action(campaign, delay_amount=1)
    services.start_campaign(campaign, bob)
    services.stop_participant(Participant.objects.filter(campaign=campaign).first(), bob)
    counts = campaign_metrics(campaign)
    assert (counts["running"], counts["completed"], counts["total"]) == (2, 1, 3)
    assert len(traces(activity, state="cancelled")) == 1


def test_a_database_only_batch_takes_at_most_its_limit(clock, bob):
    from drumbeat.automation.engine.execute import execute_batch

    make_contacts(1500)
    campaign = make_campaign(bob)
    activity = add_action(campaign)
    services.start_campaign(campaign, bob)
    activity.refresh_from_db()

    assert execute_batch(activity, START, 1000) == 1000
    assert Trace.objects.filter(activity=activity, state="processed").count() == 1000
    assert execute_batch(activity, START, 1000) == 500
    assert Tag.objects.get(name="Hot").contacts.count() == 1500
