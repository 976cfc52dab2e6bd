"""Contact pressure in the engine: quiet hours, frequency caps, priority, exemption and local
send times, under a fixed clock (START is Monday 2 March 2026, 09:00 UTC)."""

from datetime import UTC, datetime, time, timedelta

import pytest

from drumbeat.automation import metrics, services
from drumbeat.automation.engine.execute import execute_batch
from drumbeat.automation.models import Participant
from drumbeat.automation.pressure_models import PressureEvent, SendSlot
from drumbeat.contacts.models import Contact
from drumbeat.mailing.models import Message

from .fixtures import START, add_email, make_campaign, tick, traces
from .rollup_check import differences

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def person(name: str, zone: str = "", **fields) -> Contact:
    return Contact.objects.create(
        name=name, email=f"{name.lower()}@example.com", time_zone=zone, **fields
    )


def running(bob, name: str, **fields):
    """A started campaign whose one email is due at once for every contact."""
    email_fields = {k: fields.pop(k) for k in ("on_cap", "send_at_local") if k in fields}
    campaign = make_campaign(bob, name=name, **fields)
    email = add_email(campaign, name=f"{name} email", **email_fields)
    services.start_campaign(campaign, bob)
    return campaign, email


def sent_to(address: str) -> list[int | None]:
    """Campaign ids of the emails sent to `address`, oldest first."""
    rows = Message.objects.filter(recipient=address, state="sent").order_by("sent_at", "id")
    return list(rows.values_list("campaign_id", flat=True))


# --- quiet hours -----------------------------------------------------------------------------


def test_it_defers_an_email_to_the_next_window_in_the_recipients_zone(clock, bob, smtp, settings):
    settings.PRESSURE_EMAIL_WINDOW = "Mon-Sat 08:00-20:00"
    clock.move_to(utc(2026, 3, 2, 19, 30))  # Paris 20:30, New York 14:30, Tokyo Tue 04:30
    paris = person("Paris", "Europe/Paris")
    person("NewYork", "America/New_York")
    tokyo = person("Tokyo", "Asia/Tokyo")
    campaign, email = running(bob, "Spring")
    tick()
    assert [m["To"] for m in smtp.messages] == ["newyork@example.com"]
    by_record = {t.participant.record_id: t for t in traces(email)}
    assert by_record[paris.pk].state == "scheduled"
    assert by_record[paris.pk].scheduled_at == utc(2026, 3, 3, 7)  # Tue 08:00 CET
    assert by_record[paris.pk].reason == (
        "deferred: quiet hours until 2026-03-03 08:00 Europe/Paris"
    )
    assert by_record[tokyo.pk].scheduled_at == utc(2026, 3, 2, 23)  # Tue 08:00 JST
    assert by_record[tokyo.pk].reason == "deferred: quiet hours until 2026-03-03 08:00 Asia/Tokyo"

    clock.move_to(utc(2026, 3, 2, 23))
    tick()
    assert sorted(m["To"] for m in smtp.messages) == ["newyork@example.com", "tokyo@example.com"]
    clock.move_to(utc(2026, 3, 3, 7))
    tick()
    assert [t.state for t in traces(email)] == ["processed"] * 3
    assert [t.reason for t in traces(email)] == [""] * 3
    assert PressureEvent.objects.filter(activity_id=email.pk, kind="deferred").count() == 2


def test_the_next_window_keeps_its_wall_clock_time_across_a_dst_change(clock, bob, settings):
    settings.PRESSURE_EMAIL_WINDOW = "Mon-Sat 08:00-20:00"
    # Saturday 7 March 21:00 in New York (EST); clocks go forward on Sunday 8 March.
    clock.move_to(utc(2026, 3, 8, 2))
    person("NewYork", "America/New_York")
    _, email = running(bob, "Weekend")
    tick()
    (trace,) = traces(email)
    assert trace.scheduled_at == utc(2026, 3, 9, 12)  # Monday 08:00 EDT (UTC-4), not 13:00
    assert trace.reason == "deferred: quiet hours until 2026-03-09 08:00 America/New_York"


def test_a_spring_forward_night_in_paris_opens_at_eight_local(clock, bob, settings):
    settings.PRESSURE_EMAIL_WINDOW = "08:00-20:00"
    clock.move_to(utc(2026, 3, 29, 0, 30))  # Sunday 01:30 CET; 02:00 becomes 03:00 CEST
    person("Paris", "Europe/Paris")
    _, email = running(bob, "Night")
    tick()
    assert traces(email)[0].scheduled_at == utc(2026, 3, 29, 6)  # 08:00 CEST


def test_a_zone_is_derived_from_the_phone_when_none_is_stored(clock, bob, settings):
    settings.PRESSURE_EMAIL_WINDOW = "Mon-Sat 08:00-20:00"
    clock.move_to(utc(2026, 3, 2, 19, 30))
    Contact.objects.create(name="Ann", email="ann@example.com", phone="+81312345678")
    _, email = running(bob, "Derived")
    tick()
    assert traces(email)[0].reason == "deferred: quiet hours until 2026-03-03 08:00 Asia/Tokyo"


def test_a_campaign_window_replaces_the_instances(clock, bob, settings):
    settings.PRESSURE_EMAIL_WINDOW = "Mon-Sat 08:00-20:00"
    person("Paris", "Europe/Paris")  # 10:00 in Paris: open for the instance
    _, email = running(bob, "Evening", email_window="Mon-Fri 18:00-21:00")
    tick()
    assert traces(email)[0].scheduled_at == utc(2026, 3, 2, 17)  # 18:00 CET


# --- frequency caps --------------------------------------------------------------------------


def test_a_daily_cap_defers_the_second_campaigns_email_to_the_next_day(clock, bob, settings):
    settings.PRESSURE_EMAIL_CAP = "1/day"
    person("Ann", "Europe/Paris")  # 10:00 in Paris
    first, _ = running(bob, "First")
    second, later = running(bob, "Second")
    tick()
    assert sent_to("ann@example.com") == [first.pk]
    (trace,) = traces(later)
    assert trace.state == "scheduled"
    assert trace.scheduled_at == utc(2026, 3, 2, 23)  # Tuesday 00:00 in Paris
    assert trace.reason == "deferred: frequency cap until 2026-03-03 00:00 Europe/Paris"
    # The card's deferrals come from the pressure roll-up, equal to the events' rows.
    assert metrics.pressure_counts([later.pk]) == {later.pk: (1, 0)}
    assert differences() == {}

    clock.move_to(utc(2026, 3, 2, 23))
    tick()
    assert sent_to("ann@example.com") == [first.pk, second.pk]
    assert SendSlot.objects.filter(recipient="ann@example.com").count() == 2


def test_a_daily_cap_with_on_cap_skip_rejects_the_second_email(clock, bob, settings):
    settings.PRESSURE_EMAIL_CAP = "1/day"
    person("Ann", "Europe/Paris")
    first, _ = running(bob, "First")
    second, skipped = running(bob, "Second", on_cap="skip")
    tick()
    assert sent_to("ann@example.com") == [first.pk]
    assert [(t.state, t.reason) for t in traces(skipped)] == [("rejected", "frequency cap")]
    assert Participant.objects.get(campaign=second).state == "completed"
    assert PressureEvent.objects.filter(activity_id=skipped.pk, kind="skipped").count() == 1
    assert metrics.activity_metrics(second)[skipped.pk].skipped == 1  # from the roll-up
    assert differences() == {}


def test_a_day_is_the_recipients_calendar_day(clock, bob, settings):
    settings.PRESSURE_EMAIL_CAP = "1/day"
    clock.move_to(utc(2026, 3, 2, 14, 30))  # 23:30 in Tokyo
    person("Tokyo", "Asia/Tokyo")
    running(bob, "First")
    tick()
    clock.move_to(utc(2026, 3, 2, 15, 30))  # 00:30 on Tuesday in Tokyo: a new day
    second, _ = running(bob, "Second")
    tick()
    assert sent_to("tokyo@example.com")[-1] == second.pk


def test_a_seven_day_cap_counts_the_days_before(clock, bob, settings):
    settings.PRESSURE_EMAIL_CAP = "1/day,2/7days"
    person("Ann", "UTC")
    for day in range(3):
        clock.move_to(START + timedelta(days=day))
        running(bob, f"Day {day}")
        tick()
    *_, third = traces_of_campaigns("Day 2")
    assert third.reason == "deferred: frequency cap until 2026-03-09 00:00 UTC"
    assert len(sent_to("ann@example.com")) == 2


def traces_of_campaigns(name: str):
    from drumbeat.automation.models import Trace

    return list(Trace.objects.filter(activity__campaign__name=name).order_by("id"))


# --- priority and exemption ------------------------------------------------------------------


def test_the_higher_priority_campaign_sends_when_both_are_due(clock, bob, settings):
    settings.PRESSURE_EMAIL_CAP = "1/day"
    person("Ann", "Europe/Paris")
    low, low_email = running(bob, "Newsletter", priority="low")
    high, _ = running(bob, "Renewal", priority="high")
    tick()
    assert sent_to("ann@example.com") == [high.pk]
    assert traces(low_email)[0].reason.startswith("deferred: frequency cap until")


def test_a_lower_priority_batch_leaves_the_last_slot_to_a_due_higher_one(clock, bob, settings):
    settings.PRESSURE_EMAIL_CAP = "1/day"
    person("Ann", "Europe/Paris")
    person("Bea", "Europe/Paris")
    low, low_email = running(bob, "Newsletter")
    high = make_campaign(bob, name="Renewal", priority="high", domain=[["name", "=", "Ann"]])
    add_email(high, name="Renewal email")
    services.start_campaign(high, bob)
    execute_batch(low_email, START)  # the low-priority batch was claimed first
    assert [t.state for t in traces(low_email)] == ["scheduled", "processed"]  # Ann waits
    assert sent_to("bea@example.com") == [low.pk]
    tick()
    assert sent_to("ann@example.com") == [high.pk]


def test_an_exempt_campaign_always_sends(clock, bob, settings):
    settings.PRESSURE_EMAIL_CAP = "1/day"
    settings.PRESSURE_EMAIL_WINDOW = "Mon-Fri 12:00-13:00"
    person("Ann", "Europe/Paris")
    settings.PRESSURE_EMAIL_WINDOW = ""
    first, _ = running(bob, "Newsletter")
    tick()
    settings.PRESSURE_EMAIL_WINDOW = "Mon-Fri 12:00-13:00"  # closed at 10:00 in Paris
    optin, confirmation = running(bob, "Double opt-in", pressure_exempt=True)
    tick()
    assert sent_to("ann@example.com") == [first.pk, optin.pk]
    assert traces(confirmation)[0].state == "processed"
    assert SendSlot.objects.filter(campaign_id=optin.pk).count() == 0


def test_server_actions_ignore_windows_and_caps(clock, bob, settings):
    from .fixtures import add_action

    settings.PRESSURE_EMAIL_WINDOW = "Mon 00:00-00:01"
    person("Ann", "Europe/Paris")
    campaign = make_campaign(bob, name="Tagging")
    action = add_action(campaign)
    services.start_campaign(campaign, bob)
    tick()
    assert [t.state for t in traces(action)] == ["processed"]


def test_configuration_wins_over_the_environment(clock, bob, settings):
    from drumbeat.automation.pressure_models import PressureSettings

    settings.PRESSURE_EMAIL_CAP = ""
    PressureSettings.objects.create(email_cap="1/day")
    person("Ann", "Europe/Paris")
    running(bob, "First")
    _, second = running(bob, "Second")
    tick()
    assert traces(second)[0].reason.startswith("deferred: frequency cap")


# --- local send times ------------------------------------------------------------------------


def test_a_delay_in_days_lands_at_the_local_time(clock, bob):
    person("Tokyo", "Asia/Tokyo")  # enrolled Monday 18:00 in Tokyo
    person("Paris", "Europe/Paris")  # Monday 10:00 in Paris
    campaign = make_campaign(bob, name="Follow-up")
    first = add_email(campaign, name="Hello")
    later = add_email(
        campaign,
        parent=first,
        name="Two days later",
        delay_amount=2,
        delay_unit="days",
        send_at_local="10:00",
    )
    services.start_campaign(campaign, bob)
    tick()
    dates = {t.participant.record_id: t.scheduled_at for t in traces(later)}
    tokyo, paris = Contact.objects.get(name="Tokyo"), Contact.objects.get(name="Paris")
    assert dates[tokyo.pk] == utc(2026, 3, 4, 1)  # Wednesday 10:00 JST
    assert dates[paris.pk] == utc(2026, 3, 4, 9)  # Wednesday 10:00 CET


def test_a_begin_activity_with_a_local_time(clock, bob):
    person("NewYork", "America/New_York")  # Monday 04:00 in New York
    campaign = make_campaign(bob, name="Morning")
    email = add_email(campaign, delay_amount=0, delay_unit="days", send_at_local=time(9, 30))
    services.start_campaign(campaign, bob)
    assert traces(email)[0].scheduled_at == utc(2026, 3, 2, 14, 30)  # 09:30 EST today


def test_a_local_time_needs_a_delay_in_days(bob):
    campaign = make_campaign(bob)
    with pytest.raises(services.ValidationError) as refused:
        add_email(campaign, delay_amount=3, delay_unit="hours", send_at_local="10:00")
    assert "days, weeks or months" in str(refused.value)
    with pytest.raises(services.ValidationError) as refused:
        add_email(campaign, delay_amount=1, delay_unit="days", send_at_local="25:00")
    assert "'25:00' is not a time" in str(refused.value)


def test_the_readme_worked_example(clock, bob, settings):
    settings.PRESSURE_EMAIL_WINDOW = "Mon-Sat 08:00-20:00"
    settings.PRESSURE_EMAIL_CAP = "1/day,3/7days"
    clock.move_to(utc(2026, 3, 2, 12))  # Monday 21:00 in Tokyo
    Contact.objects.create(name="Kei", email="kei@example.com", phone="+81312345678")
    sale, sale_email = running(bob, "Spring sale")
    renewal = make_campaign(bob, name="Renewal", priority="high")
    add_email(renewal, name="Renewal email", delay_amount=0)
    tick()
    clock.move_to(utc(2026, 3, 2, 12, 30))
    services.start_campaign(renewal, bob)
    tick()
    assert sent_to("kei@example.com") == []
    clock.move_to(utc(2026, 3, 2, 23))  # Tuesday 08:00 in Tokyo: both due
    tick()
    assert sent_to("kei@example.com") == [renewal.pk]
    assert traces(sale_email)[0].reason == (
        "deferred: frequency cap until 2026-03-04 08:00 Asia/Tokyo"
    )


def test_setting_a_local_time_on_a_running_campaign_re_dates_on_update(clock, bob):
    person("Tokyo", "Asia/Tokyo")
    campaign = make_campaign(bob, name="Later")
    email = add_email(campaign, delay_amount=1, delay_unit="days")
    services.start_campaign(campaign, bob)
    assert traces(email)[0].scheduled_at == utc(2026, 3, 3, 9)  # a day after enrolment
    services.update_activity(email, send_at_local="10:00")
    services.apply_update(campaign, bob)
    assert traces(email)[0].scheduled_at == utc(2026, 3, 3, 1)  # Tuesday 10:00 JST


def test_slots_are_taken_in_one_statement_and_a_trace_keeps_the_slot_it_holds():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from drumbeat.automation.engine.pressure import _take_slots

    first, later = utc(2026, 3, 2, 9), utc(2026, 3, 2, 10)
    _take_slots([("email", "ann@example.com", first, 1, 7)])
    with CaptureQueriesContext(connection) as queries:
        _take_slots(
            [
                ("email", "ann@example.com", later, 1, 7),  # trace 1 already holds a slot
                ("email", "bea@example.com", later, 2, 7),
                ("sms", "+33612345678", later, 3, 8),
            ]
        )
    slots = SendSlot.objects.order_by("trace_id").values_list(
        "channel", "recipient", "sent_at", "trace_id", "campaign_id"
    )
    assert list(slots) == [
        ("email", "ann@example.com", first, 1, 7),
        ("email", "bea@example.com", later, 2, 7),
        ("sms", "+33612345678", later, 3, 8),
    ]
    if connection.vendor == "postgresql":
        assert len(queries) == 1
