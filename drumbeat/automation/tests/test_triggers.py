"""One test per row of the trigger table (docs/product.md#triggers) and per event rule, with real
emails sent through SMTP to a loopback server and events recorded by the mailing tracking
functions."""

from datetime import timedelta

import pytest

from drumbeat.automation import services
from drumbeat.automation.models import Trace
from drumbeat.contacts.models import Contact
from drumbeat.mailing import events
from drumbeat.mailing.models import Message

from .fixtures import (
    START,
    add_action,
    add_email,
    add_sms,
    assert_traces,
    make_campaign,
    participant_states,
    tick,
    traces,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HOUR = timedelta(hours=1)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


@pytest.fixture
def ann(db):
    return Contact.objects.create(name="Ann", email="ann@example.com", phone="+15555550101")


def email_campaign(bob, trigger: str, delay_hours: int = 1):
    """Welcome email (begin, at once) → child action on `trigger` after `delay_hours`."""
    campaign = make_campaign(bob)
    email = add_email(campaign)
    child = add_action(
        campaign, parent=email, trigger=trigger, delay_amount=delay_hours, delay_unit="hours"
    )
    return campaign, email, child


def sent_message(activity) -> Message:
    trace = traces(activity)[0]
    assert trace.state == "processed", trace.reason
    assert trace.message is not None
    return trace.message


def test_it_sends_the_begin_email_through_smtp(clock, bob, ann, smtp):
    campaign, email, child = email_campaign(bob, "activity")
    services.start_campaign(campaign, bob)
    tick()
    assert len(smtp.to("ann@example.com")) == 1
    assert smtp.to("ann@example.com")[0]["Subject"] == "Hello Ann"
    assert sent_message(email).recipient == "ann@example.com"


def test_activity_trigger_dates_the_child_at_parent_execution_plus_delay(clock, bob, ann, smtp):
    campaign, email, child = email_campaign(bob, "activity", delay_hours=3)
    services.start_campaign(campaign, bob)
    tick()
    assert traces(child)[0].scheduled_at == START + 3 * HOUR
    clock.move_to(START + 3 * HOUR)
    tick()
    assert_traces(child, ["processed"])
    assert participant_states(campaign) == ["completed"]


def test_mail_open_waits_for_the_open_then_runs_after_the_delay(clock, bob, ann, smtp, committed):
    campaign, email, child = email_campaign(bob, "mail_open", delay_hours=2)
    services.start_campaign(campaign, bob)
    tick()
    waiting = traces(child)[0]
    assert waiting.state == "scheduled" and waiting.scheduled_at is None
    clock.move_to(START + 5 * HOUR)
    tick()
    assert traces(child)[0].scheduled_at is None
    with committed():
        events.mark_opened([sent_message(email).pk], START + 5 * HOUR)
    assert traces(child)[0].scheduled_at == START + 7 * HOUR
    clock.move_to(START + 7 * HOUR)
    tick()
    assert_traces(child, ["processed"])


def test_mail_open_is_triggered_by_the_tracking_pixel_of_the_real_email(
    clock, bob, ann, smtp, client, committed
):
    campaign, email, child = email_campaign(bob, "mail_open", delay_hours=0)
    services.start_campaign(campaign, bob)
    tick()
    pixel = [u for u in smtp.links(smtp.to("ann@example.com")[0]) if "/t/o/" in u][0]
    clock.move_to(START + HOUR)
    with committed():
        response = client.get(pixel.replace("http://testserver", ""), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200
    assert sent_message(email).opened_at is not None
    assert traces(child)[0].scheduled_at is not None
    tick()
    assert_traces(child, ["processed"])


def test_mail_click_is_triggered_by_the_tracked_link_of_the_real_email(
    clock, bob, ann, smtp, client, committed
):
    campaign, email, child = email_campaign(bob, "mail_click", delay_hours=0)
    opened = add_action(campaign, parent=email, name="On open", trigger="mail_open")
    services.start_campaign(campaign, bob)
    tick()
    link = [u for u in smtp.links(smtp.to("ann@example.com")[0]) if "/r/" in u][0]
    clock.move_to(START + HOUR)
    with committed():
        response = client.get(link.replace("http://testserver", ""), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302
    assert response["Location"] == "https://example.org/offer"
    tick()
    assert_traces(child, ["processed"])
    assert_traces(opened, ["processed"])  # a click counts as an open


def test_mail_not_open_runs_when_no_open_came(clock, bob, ann, smtp):
    campaign, email, child = email_campaign(bob, "mail_not_open", delay_hours=24)
    services.start_campaign(campaign, bob)
    tick()
    assert traces(child)[0].scheduled_at == START + 24 * HOUR
    clock.move_to(START + 24 * HOUR)
    tick()
    assert_traces(child, ["processed"])


@pytest.mark.parametrize("event", ["open", "click", "reply"])
def test_mail_not_open_is_cancelled_by_an_open_click_or_reply(
    clock, bob, ann, smtp, committed, event
):
    campaign, email, child = email_campaign(bob, "mail_not_open", delay_hours=24)
    services.start_campaign(campaign, bob)
    tick()
    message = sent_message(email)
    with committed():
        if event == "open":
            events.mark_opened([message.pk], START + HOUR)
        elif event == "click":
            events.mark_clicked(message.pk, START + HOUR)
        else:
            events.mark_replied(message.pk, START + HOUR)
    assert_traces(child, [("cancelled", "parent opened")] if event == "open" else ["cancelled"])
    clock.move_to(START + 24 * HOUR)
    tick()
    assert_traces(child, ["cancelled"])
    assert participant_states(campaign) == ["completed"]


def test_mail_reply_dates_the_child_and_counts_as_an_open(clock, bob, ann, smtp, committed):
    campaign, email, child = email_campaign(bob, "mail_reply", delay_hours=1)
    opened = add_action(campaign, parent=email, name="On open", trigger="mail_open")
    services.start_campaign(campaign, bob)
    tick()
    with committed():
        events.mark_replied(sent_message(email).pk, START + 2 * HOUR)
    assert traces(child)[0].scheduled_at == START + 3 * HOUR
    assert traces(opened)[0].scheduled_at == START + 2 * HOUR
    clock.move_to(START + 3 * HOUR)
    tick()
    assert_traces(child, ["processed"])
    assert_traces(opened, ["processed"])


def test_mail_not_reply_runs_without_reply_and_is_cancelled_by_one(
    clock, bob, ann, smtp, committed
):
    Contact.objects.create(name="Ben", email="ben@example.com")
    campaign, email, child = email_campaign(bob, "mail_not_reply", delay_hours=48)
    services.start_campaign(campaign, bob)
    tick()
    first = traces(email)[0]
    with committed():
        events.mark_replied(first.message.pk, START + HOUR)
    clock.move_to(START + 48 * HOUR)
    tick()
    assert_traces(child, [("cancelled", "parent replied"), ("processed", "")])


def test_mail_click_waits_for_a_click(clock, bob, ann, smtp, committed):
    campaign, email, child = email_campaign(bob, "mail_click", delay_hours=1)
    services.start_campaign(campaign, bob)
    tick()
    with committed():
        events.mark_opened([sent_message(email).pk], START + HOUR)
    assert traces(child)[0].scheduled_at is None  # an open is not a click
    with committed():
        events.mark_clicked(sent_message(email).pk, START + 2 * HOUR)
    assert traces(child)[0].scheduled_at == START + 3 * HOUR


def test_mail_not_click_runs_without_click_and_is_cancelled_by_one(
    clock, bob, ann, smtp, committed
):
    Contact.objects.create(name="Ben", email="ben@example.com")
    campaign, email, child = email_campaign(bob, "mail_not_click", delay_hours=24)
    services.start_campaign(campaign, bob)
    tick()
    first = traces(email)[0]
    with committed():
        events.mark_opened([first.message.pk], START + HOUR)  # opening is not clicking
        events.mark_clicked(first.message.pk, START + 2 * HOUR)
    clock.move_to(START + 24 * HOUR)
    tick()
    assert_traces(child, [("cancelled", "parent clicked"), ("processed", "")])


def test_mail_bounce_runs_the_bounce_child_and_cancels_the_others(clock, bob, ann, smtp, committed):
    campaign, email, child = email_campaign(bob, "mail_bounce", delay_hours=2)
    followup = add_action(
        campaign, parent=email, name="Follow-up", delay_amount=1, delay_unit="days"
    )
    not_opened = add_action(
        campaign, parent=email, name="Nudge", trigger="mail_not_open", delay_amount=24
    )
    opened = add_action(campaign, parent=email, name="Opened", trigger="mail_open")
    services.start_campaign(campaign, bob)
    tick()
    with committed():
        events.mark_bounced(
            sent_message(email).pk, START + HOUR, kind="hard", reason="550 no such user"
        )
    assert traces(child)[0].scheduled_at == START + 3 * HOUR
    for other in (followup, not_opened, opened):
        assert_traces(other, [("cancelled", "parent bounced")])
    clock.move_to(START + 3 * HOUR)
    tick()
    assert_traces(child, ["processed"])
    assert participant_states(campaign) == ["completed"]


def test_sms_click_and_not_click(clock, bob, ann, smtp, committed):
    Contact.objects.create(name="Ben", email="ben@example.com", phone="+15555550102")
    campaign = make_campaign(bob, unique_field="phone")
    sms = add_sms(campaign)
    clicked = add_action(campaign, parent=sms, name="Clicked", trigger="sms_click", delay_amount=1)
    not_clicked = add_action(
        campaign, parent=sms, name="Not clicked", trigger="sms_not_click", delay_amount=6
    )
    services.start_campaign(campaign, bob)
    tick()
    assert_traces(sms, ["processed", "processed"])
    first = traces(sms)[0]
    with committed():
        events.mark_clicked(first.message.pk, START + HOUR)
    clock.move_to(START + 6 * HOUR)
    tick()
    assert_traces(clicked, ["processed", "scheduled"])
    assert traces(clicked)[1].scheduled_at is None
    assert_traces(not_clicked, [("cancelled", "parent clicked"), ("processed", "")])


def test_a_complaint_cancels_every_waiting_child(clock, bob, ann, smtp, committed):
    campaign, email, bounced = email_campaign(bob, "mail_bounce", delay_hours=2)
    followup = add_action(
        campaign, parent=email, name="Follow-up", delay_amount=1, delay_unit="days"
    )
    opened = add_action(campaign, parent=email, name="Opened", trigger="mail_open")
    services.start_campaign(campaign, bob)
    tick()
    with committed():
        events.mark_complained_many([sent_message(email).pk], START + HOUR)
    for child in (bounced, followup, opened):
        assert_traces(child, [("cancelled", "parent complained")])


def test_a_block_neither_bounces_nor_cancels(clock, bob, ann, smtp, committed):
    campaign, email, bounced = email_campaign(bob, "mail_bounce", delay_hours=2)
    opened = add_action(campaign, parent=email, name="Opened", trigger="mail_open")
    services.start_campaign(campaign, bob)
    tick()
    with committed():
        events.mark_bounced(
            sent_message(email).pk, START + HOUR, "block", "554 blocked using RBL", "policy"
        )
    assert traces(bounced)[0].scheduled_at is None
    assert_traces(bounced, ["scheduled"])
    assert_traces(opened, ["scheduled"])


def test_sms_bounce(clock, bob, ann, smtp, committed):
    campaign = make_campaign(bob, unique_field="phone")
    sms = add_sms(campaign)
    bounced = add_action(campaign, parent=sms, name="Bounced", trigger="sms_bounce")
    not_clicked = add_action(
        campaign, parent=sms, name="Not clicked", trigger="sms_not_click", delay_amount=6
    )
    services.start_campaign(campaign, bob)
    tick()
    with committed():
        events.mark_bounced(traces(sms)[0].message.pk, START + HOUR, kind="hard")
    clock.move_to(START + HOUR)
    tick()
    assert_traces(bounced, ["processed"])
    assert_traces(not_clicked, [("cancelled", "parent bounced")])


def test_a_delay_zero_child_runs_on_the_event(clock, bob, ann, smtp, committed):
    campaign, email, child = email_campaign(bob, "mail_open", delay_hours=0)
    services.start_campaign(campaign, bob)
    tick()
    with committed():
        events.mark_opened([sent_message(email).pk], START)
    assert traces(child)[0].scheduled_at == START
    tick()
    assert_traces(child, ["processed"])


def test_repeated_events_never_rerun_a_processed_child(clock, bob, ann, smtp, committed):
    campaign, email, child = email_campaign(bob, "mail_click", delay_hours=0)
    services.start_campaign(campaign, bob)
    tick()
    message = sent_message(email)
    with committed():
        events.mark_clicked(message.pk, START + HOUR)
    clock.move_to(START + HOUR)
    tick()
    first = traces(child)[0]
    with committed():
        events.mark_clicked(message.pk, START + 2 * HOUR)
        events.mark_opened([message.pk], START + 2 * HOUR)
    clock.move_to(START + 2 * HOUR)
    tick()
    again = traces(child)
    assert len(again) == 1
    assert (again[0].state, again[0].executed_at) == ("processed", first.executed_at)


def test_events_on_a_stopped_campaign_are_recorded_but_trigger_nothing(
    clock, bob, ann, smtp, committed
):
    campaign, email, child = email_campaign(bob, "mail_open", delay_hours=0)
    not_opened = add_action(
        campaign, parent=email, name="Nudge", trigger="mail_not_open", delay_amount=24
    )
    services.start_campaign(campaign, bob)
    tick()
    services.stop_campaign(campaign, bob)
    with committed():
        events.mark_opened([sent_message(email).pk], START + HOUR)
    assert sent_message(email).opened_at is not None
    assert traces(child)[0].scheduled_at is None
    assert_traces(not_opened, ["scheduled"])


def test_machine_opens_are_ignored_when_the_campaign_says_so(clock, bob, ann, smtp, committed):
    campaign, email, child = email_campaign(bob, "mail_open", delay_hours=0)
    services.start_campaign(campaign, bob)
    tick()
    with committed():
        events.mark_opened([sent_message(email).pk], START, machine=True)
    assert traces(child)[0].scheduled_at is None


def test_waiting_children_are_cancelled_when_the_event_window_ends(clock, bob, ann, smtp):
    campaign, email, child = email_campaign(bob, "mail_click", delay_hours=0)
    expiring = add_action(
        campaign,
        parent=email,
        name="Opened within a day",
        trigger="mail_open",
        expiry_amount=1,
        expiry_unit="days",
    )
    services.start_campaign(campaign, bob)
    tick()
    clock.move_to(START + timedelta(days=1, minutes=1))
    tick()
    assert_traces(expiring, [("cancelled", "no open within the window")])
    assert_traces(child, ["scheduled"])
    clock.move_to(START + timedelta(days=30, minutes=1))
    tick()
    assert_traces(child, [("cancelled", "no click within the window")])
    assert participant_states(campaign) == ["completed"]


def test_blacklisted_addresses_are_cancelled_and_still_get_children(clock, bob, ann, smtp):
    from drumbeat.mailing.models import EmailBlacklist

    EmailBlacklist.objects.create(email="ann@example.com", reason="asked")
    campaign, email, child = email_campaign(bob, "mail_not_open", delay_hours=1)
    services.start_campaign(campaign, bob)
    tick()
    assert_traces(email, [("cancelled", "blacklisted")])
    assert smtp.to("ann@example.com") == []
    assert len(traces(child)) == 1


def test_a_stopped_participant_gets_nothing_more(clock, bob, ann, smtp):
    campaign, email, child = email_campaign(bob, "activity", delay_hours=1)
    services.start_campaign(campaign, bob)
    tick()
    participant = traces(email)[0].participant
    services.stop_participant(participant, bob)
    assert_traces(child, [("cancelled", "stopped manually")])
    assert Trace.objects.filter(participant=participant, state="scheduled").count() == 0
