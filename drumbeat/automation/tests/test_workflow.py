"""Activity rules (docs/product.md#workflows-and-activities), Update / Don't update, metrics."""

from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta

from drumbeat.automation import metrics, services
from drumbeat.automation.models import Activity, CampaignLog, Participant
from drumbeat.contacts.models import Contact

from .fixtures import (
    START,
    add_action,
    add_email,
    add_sms,
    make_action,
    make_campaign,
    make_contacts,
    make_template,
    participant_states,
    tick,
    traces,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

HOUR = timedelta(hours=1)


def test_a_begin_activity_has_no_parent_and_others_need_one(clock, bob):
    campaign = make_campaign(bob)
    first = add_action(campaign)
    with pytest.raises(services.ValidationError, match="has no parent"):
        add_action(campaign, parent=first, trigger="begin", name="x")
    with pytest.raises(services.ValidationError, match="needs a parent"):
        add_action(campaign, trigger="activity", name="x")


def test_email_triggers_need_an_email_parent_and_both_names_are_given(clock, bob):
    campaign = make_campaign(bob)
    action = add_action(campaign, name="Tagging")
    with pytest.raises(services.ValidationError, match="'Tagging' .* cannot trigger 'Opened'"):
        add_action(campaign, parent=action, trigger="mail_open", name="Opened")
    sms = add_sms(campaign)
    with pytest.raises(services.ValidationError, match="cannot trigger"):
        add_action(campaign, parent=sms, trigger="mail_click", name="Clicked")
    add_action(campaign, parent=sms, trigger="sms_click", name="Clicked")


def test_changing_a_parent_kind_that_no_longer_fits_is_refused(clock, bob):
    campaign = make_campaign(bob)
    email = add_email(campaign, name="Welcome")
    add_action(campaign, parent=email, trigger="mail_open", name="On open")
    with pytest.raises(services.ValidationError, match="'Welcome' .* no longer fits .*'On open'"):
        services.update_activity(email, kind="action", server_action=make_action(), template=None)


def test_cycles_are_refused(clock, bob):
    campaign = make_campaign(bob)
    a = add_action(campaign, name="A")
    b = add_action(campaign, parent=a, name="B")
    c = add_action(campaign, parent=b, name="C")
    with pytest.raises(services.ValidationError, match="cycle"):
        services.update_activity(a, parent=c, trigger="activity")


@pytest.mark.parametrize("bad", [-1, 1.5, "2.5", "soon", None])
def test_delays_are_whole_numbers(clock, bob, bad):
    campaign = make_campaign(bob)
    with pytest.raises(services.ValidationError):
        add_action(campaign, delay_amount=bad)


def test_templates_and_actions_must_fit_the_campaign(clock, bob):
    campaign = make_campaign(bob)
    with pytest.raises(services.ValidationError, match="another target"):
        add_email(campaign, template=make_template("email", "crm.lead"))
    with pytest.raises(services.ValidationError, match="is not an email template"):
        add_email(campaign, template=make_template("sms"))
    with pytest.raises(services.ValidationError, match="another target"):
        add_action(campaign, action=make_action(target="crm.lead", field="priority", value=3))
    with pytest.raises(services.ValidationError, match="Unknown field|unknown"):
        add_action(campaign, domain=[["shoe_size", "=", 3]])


def test_deleting_an_activity_deletes_descendants_and_their_traces(clock, bob):
    make_contacts(2)
    campaign = make_campaign(bob)
    a = add_action(campaign, name="A")
    b = add_action(campaign, parent=a, name="B", delay_amount=1)
    add_action(campaign, parent=b, name="C")
    services.start_campaign(campaign, bob)
    tick()
    assert services.delete_counts(a) == {"descendants": 2, "traces": 4}
    assert services.delete_activity(a) == 2
    assert not Activity.objects.filter(campaign=campaign).exists()
    assert participant_states(campaign) == ["completed", "completed"]


def test_activities_are_ordered_by_delay(clock, bob):
    campaign = make_campaign(bob)
    add_action(campaign, name="Week", delay_amount=1, delay_unit="weeks")
    add_action(campaign, name="Hours", delay_amount=30, delay_unit="hours")
    add_action(campaign, name="Day", delay_amount=1, delay_unit="days")
    assert list(campaign.activities.values_list("name", flat=True)) == ["Day", "Hours", "Week"]


def test_update_applies_new_activities_and_delays_to_existing_participants(clock, bob):
    make_contacts(2)
    campaign = make_campaign(bob)
    first = add_action(campaign, name="First")
    slow = add_action(campaign, name="Slow", delay_amount=10, delay_unit="days")
    services.start_campaign(campaign, bob)
    tick()
    assert campaign.require_sync is False
    added_begin = add_action(campaign, name="New start", delay_amount=2)
    added_child = add_action(campaign, parent=first, name="New child", delay_amount=3)
    services.update_activity(slow, delay_amount=1)
    campaign.refresh_from_db()
    assert campaign.require_sync is True
    assert services.pending_update_counts(campaign) == {"create": 4, "redate": 2}
    clock.move_to(START + HOUR)
    counts = services.apply_update(campaign, bob)
    assert counts == {"create": 4, "redate": 2}
    assert {t.scheduled_at for t in traces(added_begin)} == {START + 3 * HOUR}
    assert {t.scheduled_at for t in traces(added_child)} == {START + 3 * HOUR}
    assert {t.scheduled_at for t in traces(slow)} == {START + timedelta(days=1)}
    campaign.refresh_from_db()
    assert campaign.require_sync is False
    assert services.pending_update_counts(campaign) == {"create": 0, "redate": 0}
    assert CampaignLog.objects.filter(campaign=campaign, action="update", user=bob).exists()


def test_update_reopens_completed_participants(clock, bob):
    make_contacts(1)
    campaign = make_campaign(bob)
    first = add_action(campaign, name="First")
    services.start_campaign(campaign, bob)
    tick()
    assert participant_states(campaign) == ["completed"]
    add_action(campaign, parent=first, name="Later", delay_amount=1)
    services.apply_update(campaign, bob)
    assert participant_states(campaign) == ["running"]


def test_dont_update_applies_changes_to_future_traces_only(clock, bob):
    make_contacts(1)
    campaign = make_campaign(bob)
    slow = add_action(campaign, name="Slow", delay_amount=10, delay_unit="days")
    services.start_campaign(campaign, bob)
    services.update_activity(slow, delay_amount=1)
    added = add_action(campaign, name="New start")
    services.dismiss_update(campaign, bob)
    campaign.refresh_from_db()
    assert campaign.require_sync is False
    assert traces(added) == []
    assert traces(slow)[0].scheduled_at == START + timedelta(days=10)
    Contact.objects.create(name="Later", email="later@example.com")
    tick()
    later = Participant.objects.get(
        campaign=campaign, record_id__in=Contact.objects.filter(name="Later").values("pk")
    )
    assert sorted(later.traces.values_list("activity_id", flat=True)) == [slow.pk, added.pk]
    assert later.traces.get(activity=slow).scheduled_at == START + timedelta(days=1)


def test_a_new_campaign_is_not_marked_modified(clock, bob):
    campaign = make_campaign(bob)
    add_action(campaign)
    campaign.refresh_from_db()
    assert campaign.require_sync is False


def test_the_target_can_change_only_while_new_and_resets_filter_and_unique_field(clock, bob):
    campaign = make_campaign(bob, domain=[["city", "=", "Ghent"]], unique_field="phone")
    services.update_campaign(campaign, target="crm.lead")
    assert (campaign.domain, campaign.unique_field) == ([], "email")
    add_action(campaign, action=make_action(target="crm.lead", field="priority", value=3))
    with pytest.raises(services.ValidationError):
        services.update_campaign(campaign, target="contacts.contact")
    with pytest.raises(services.ValidationError, match="filter|Unknown"):
        services.update_campaign(campaign, domain=[["nope", "=", 1]])


def test_metrics_count_traces_and_messages_without_tests(clock, bob, settings):
    settings.EMAIL_URL = "outbox://"
    contacts = make_contacts(4)
    Contact.objects.filter(pk=contacts[3].pk).update(city="Ghent")
    campaign = make_campaign(bob)
    email = add_email(campaign, domain=[["city", "!=", "Ghent"]])
    services.start_campaign(campaign, bob)
    tick()
    from drumbeat.mailing import events

    first = traces(email)[0]
    events.mark_opened([first.message_id], START)
    events.mark_clicked(first.message_id, START)
    figures = metrics.activity_metrics(campaign)[email.pk]
    assert (figures.processed, figures.rejected, figures.sent) == (3, 1, 3)
    assert (figures.opened, figures.clicked, figures.opened_percent) == (1, 1, 33.3)
    assert figures.daily[-1] == (START.date(), 3, 1)
    assert len(figures.daily) == 15
    assert metrics.participants_concerned(email, "clicked").count() == 1
    summary = metrics.campaign_metrics(campaign)
    assert (summary["participants"], summary["tests"], summary["templates"]) == (4, 0, 1)


def test_activities_accept_ids_and_refuse_unknown_ones(clock, bob):
    campaign = make_campaign(bob)
    template = make_template()
    email = services.create_activity(
        campaign, name="Mail", kind="email", template_id=template.pk, trigger="begin"
    )
    assert email.template == template
    with pytest.raises(services.ValidationError, match="No such template"):
        services.create_activity(campaign, name="x", kind="email", template_id=999999)
    with pytest.raises(services.ValidationError, match="No such parent"):
        services.create_activity(
            campaign,
            name="x",
            kind="email",
            template_id=template.pk,
            parent_id=999999,
            trigger="activity",
        )
    with pytest.raises(services.ValidationError, match="Unknown activity fields"):
        services.create_activity(campaign, name="x", colour="red")


def test_update_dates_new_and_changed_steps_from_what_each_recipient_did(
    clock, bob, smtp, committed
):
    """Update on a running campaign whose email was opened, clicked, replied to, bounced or
    ignored: a new "clicked" child is dated from the click, waits for it elsewhere, and none
    follows the bounce; a new "not opened" child only for those who did not open; a new
    "bounced" child from the bounce; a new first step for the running participants; a
    changed "opened" child re-dated from each open."""
    from drumbeat.mailing import events
    from drumbeat.mailing.models import Message

    make_contacts(6)
    campaign = make_campaign(bob)
    email = add_email(campaign, name="Launch")
    opened = add_action(campaign, parent=email, name="Opened", trigger="mail_open", delay_amount=1)
    services.start_campaign(campaign, bob)
    tick()  # six emails sent at START
    participant_of = {t.pk: t.participant_id for t in traces(email)}
    by_person = {
        participant_of[trace]: pk
        for trace, pk in Message.objects.filter(activity_id=email.pk).values_list("trace_id", "pk")
    }
    people = sorted(by_person)
    m = [by_person[p] for p in people]
    with committed():  # the events date the "opened" child's traces
        events.mark_opened([m[0]], START + HOUR)
        events.mark_clicked(m[1], START + 2 * HOUR)  # opened by the click
        events.mark_replied(m[2], START + 3 * HOUR)  # opened by the reply
        events.mark_bounced(m[3], START + HOUR)
    clock.move_to(START + 5 * HOUR)  # nothing runs before the Update

    services.update_activity(opened, delay_amount=3)
    clicked = add_action(campaign, parent=email, name="Clicked", trigger="mail_click")
    not_opened = add_action(
        campaign,
        parent=email,
        name="No open",
        trigger="mail_not_open",
        delay_amount=2,
        delay_unit="days",
    )
    bounced = add_action(campaign, parent=email, name="Bounced", trigger="mail_bounce")
    first = add_action(campaign, name="New first step", delay_amount=1, delay_unit="days")
    # The bounce cancelled its "opened" child: that participant has completed, and a new
    # first step goes to running participants only (the "bounced" child reopens it).
    assert Participant.objects.get(pk=people[3]).state == "completed"
    assert services.pending_update_counts(campaign) == {"create": 5 + 2 + 6 + 5, "redate": 3}
    assert services.apply_update(campaign, bob) == {"create": 18, "redate": 3}

    def dates(activity) -> dict[int, tuple]:
        return {
            people.index(t.participant_id): (t.scheduled_at, t.window_ends_at, t.parent_id)
            for t in traces(activity)
        }

    sent = {people.index(t.participant_id): t.pk for t in traces(email)}
    window = START + timedelta(days=campaign.event_window_days)  # from the send
    assert dates(clicked) == {
        0: (None, window, sent[0]),
        1: (START + 2 * HOUR, None, sent[1]),
        2: (None, window, sent[2]),
        4: (None, window, sent[4]),
        5: (None, window, sent[5]),
    }
    assert dates(not_opened) == {
        4: (START + timedelta(days=2), None, sent[4]),
        5: (START + timedelta(days=2), None, sent[5]),
    }
    assert dates(bounced) == {
        i: ((START + HOUR, None, sent[i]) if i == 3 else (None, window, sent[i])) for i in range(6)
    }
    assert dates(first) == {
        i: (START + 5 * HOUR + timedelta(days=1), None, None) for i in (0, 1, 2, 4, 5)
    }
    assert {i: d[0] for i, d in dates(opened).items()} == {
        0: START + HOUR + 3 * HOUR,
        1: START + 2 * HOUR + 3 * HOUR,
        2: START + 3 * HOUR + 3 * HOUR,
        3: None,  # bounced, never opened: still waiting
        4: None,
        5: None,
    }
    assert services.pending_update_counts(campaign) == {"create": 0, "redate": 0}


@pytest.mark.parametrize(
    "delay",
    [
        relativedelta(months=1),
        relativedelta(months=2),
        relativedelta(months=12),
        relativedelta(months=13),
        relativedelta(weeks=2),
        relativedelta(days=3),
        relativedelta(hours=5),
    ],
)
def test_update_dates_add_delays_in_sql_as_relativedelta_does(bob, delay):
    """The SQL date arithmetic of an Update (workflow_update._later) gives what Python's
    relativedelta gives: months by the calendar, the day clamped to a shorter month's end
    (31 January + 1 month = 28 or 29 February), the time of day and its microseconds kept."""
    from datetime import UTC, datetime

    from django.db.models import F

    from drumbeat.automation.workflow_update import _later

    bases = [
        datetime(2026, 1, 31, 10, 30, tzinfo=UTC),
        datetime(2024, 1, 31, 0, 0, tzinfo=UTC),  # a leap year's February
        datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 8, 15, 5, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 5, 15, 9, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 8, 31, 0, 0, 0, 1, tzinfo=UTC),
    ]
    campaign = make_campaign(bob)
    Participant.objects.bulk_create(
        Participant(campaign=campaign, record_id=i, unique_key=f"p{i}", enrolled_at=at)
        for i, at in enumerate(bases)
    )
    rows = (
        Participant.objects.filter(campaign=campaign)
        .annotate(later=_later(F("enrolled_at"), delay))
        .order_by("record_id")
        .values_list("later", flat=True)
    )
    assert list(rows) == [at + delay for at in bases]
