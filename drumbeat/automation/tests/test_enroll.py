from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drumbeat.automation import services
from drumbeat.automation.engine.enroll import enroll_campaign
from drumbeat.automation.models import Participant, Trace
from drumbeat.contacts.models import Contact

from .fixtures import (
    START,
    add_action,
    make_campaign,
    make_contacts,
    participant_states,
    tick,
    traces,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_it_enrols_matching_records_at_start(clock, bob):
    make_contacts(3)
    Contact.objects.create(name="No mail", email="")
    campaign = make_campaign(bob, domain=[["email", "!=", False]])
    activity = add_action(campaign, delay_amount=2, delay_unit="hours")
    services.start_campaign(campaign, bob)
    assert Participant.objects.filter(campaign=campaign).count() == 3
    found = traces(activity)
    assert len(found) == 3
    assert {t.scheduled_at for t in found} == {START + timedelta(hours=2)}


def test_it_refuses_to_start_an_empty_workflow(clock, bob):
    campaign = make_campaign(bob)
    with pytest.raises(services.ValidationError, match="at least one activity"):
        services.start_campaign(campaign, bob)
    campaign.refresh_from_db()
    assert campaign.state == "draft"


def test_it_deduplicates_on_the_normalised_unique_key(clock, bob):
    Contact.objects.create(name="A", email="Ann@Example.com ")
    Contact.objects.create(name="B", email="ann@example.com")
    Contact.objects.create(name="C", email="carl@example.com")
    campaign = make_campaign(bob, unique_field="email")
    add_action(campaign)
    services.start_campaign(campaign, bob)
    rows = list(
        Participant.objects.filter(campaign=campaign)
        .order_by("record_id")
        .values_list("unique_key", flat=True)
    )
    assert rows == ["ann@example.com", "carl@example.com"]
    # A later record with a taken key is skipped too.
    Contact.objects.create(name="D", email="CARL@example.com")
    tick()
    assert Participant.objects.filter(campaign=campaign).count() == 2


def test_it_enrols_each_record_once(clock, bob):
    make_contacts(2)
    campaign = make_campaign(bob, unique_field="")
    activity = add_action(campaign, delay_amount=1, delay_unit="days")
    services.start_campaign(campaign, bob)
    tick()
    tick()
    assert Participant.objects.filter(campaign=campaign).count() == 2
    assert len(traces(activity)) == 2


def test_it_removes_participants_whose_record_no_longer_matches_or_is_gone(clock, bob):
    a, b, c = make_contacts(3)
    campaign = make_campaign(bob, domain=[["city", "!=", "Ghent"]])
    activity = add_action(campaign, delay_amount=1, delay_unit="days")
    services.start_campaign(campaign, bob)
    Contact.objects.filter(pk=a.pk).update(city="Ghent")
    Contact.objects.filter(pk=b.pk).update(active=False)
    c.delete()
    tick()
    assert participant_states(campaign) == ["removed", "removed", "removed"]
    assert {(t.state, t.reason) for t in traces(activity)} == {("cancelled", "record removed")}


def test_it_enrols_records_reported_by_services_at_once(
    clock, bob, django_capture_on_commit_callbacks
):
    from drumbeat.contacts import services as contact_services

    campaign = make_campaign(bob)
    add_action(campaign, delay_amount=1, delay_unit="days")
    services.start_campaign(campaign, bob)
    with django_capture_on_commit_callbacks(execute=True):
        contact = contact_services.create_contact(name="Zoe", email="zoe@example.com")
    assert Participant.objects.filter(campaign=campaign, record_id=contact.pk).exists()


def enrol_statements(bob, size: int, name: str) -> int:
    contacts = make_contacts(size, city=name)
    campaign = make_campaign(bob, name=name, domain=[["city", "=", name]])
    add_action(campaign, delay_amount=1, delay_unit="days")
    add_action(campaign, name="Second", delay_amount=2, delay_unit="days")
    campaign.state = "running"
    campaign.save()
    with CaptureQueriesContext(connection) as ctx:
        result = enroll_campaign(campaign)
    assert result.enrolled == len(contacts)
    assert Trace.objects.filter(participant__campaign=campaign).count() == 2 * size
    return len(ctx.captured_queries)


def test_it_enrols_10_or_1000_records_in_the_same_number_of_statements(clock, bob):
    assert enrol_statements(bob, 10, "Small") == enrol_statements(bob, 1000, "Large")


def test_a_large_import_report_is_enrolled_in_one_go(clock, bob):
    from drumbeat.automation.engine.enroll import enroll_changed_records

    campaign = make_campaign(bob)
    add_action(campaign, delay_amount=1, delay_unit="days")
    services.start_campaign(campaign, bob)
    contacts = make_contacts(40000)
    enroll_changed_records("contacts.contact", [c.pk for c in contacts])
    assert Participant.objects.filter(campaign=campaign).count() == 40000


def test_a_full_sync_that_finds_nothing_only_reads(clock, bob):
    """Only the sync date is written: on SQLite the sync holds no write lock while it reads.
    A record whose unique key is taken is nothing to do either."""
    first, *_ = make_contacts(3)
    Contact.objects.create(name="Same person", email=first.email.upper())
    campaign = make_campaign(bob, domain=[["city", "!=", "Ghent"]])
    add_action(campaign, delay_amount=1, delay_unit="days")
    services.start_campaign(campaign, bob)

    with CaptureQueriesContext(connection) as queries:
        result = enroll_campaign(campaign)

    assert (result.enrolled, result.traces, result.removed) == (0, 0, 0)
    writes = [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert len(writes) == 1 and "last_sync_at" in writes[0]
    assert not any("SAVEPOINT" in q["sql"] or "BEGIN" in q["sql"] for q in queries)


def test_enrolments_at_the_same_instant_give_each_participant_one_trace(clock, bob):
    """Two reports in the same (frozen) instant: each begin trace is made once."""
    from drumbeat.automation.engine.enroll import enroll_changed_records

    campaign = make_campaign(bob)
    activity = add_action(campaign, delay_amount=1, delay_unit="days")
    services.start_campaign(campaign, bob)
    first, second = make_contacts(2, city="Later")
    enroll_changed_records("contacts.contact", [first.pk])
    enroll_changed_records("contacts.contact", [second.pk])
    enroll_changed_records("contacts.contact", [first.pk, second.pk])
    later = traces(activity, participant__record_id__in=[first.pk, second.pk])
    assert sorted(t.participant.record_id for t in later) == [first.pk, second.pk]


def test_a_restart_removes_participants_that_stopped_matching(clock, bob):
    a, b = make_contacts(2)
    campaign = make_campaign(bob, domain=[["city", "!=", "Ghent"]])
    activity = add_action(campaign, delay_amount=1, delay_unit="days")
    services.start_campaign(campaign, bob)
    services.stop_campaign(campaign, bob)
    Contact.objects.filter(pk=a.pk).update(city="Ghent")
    Contact.objects.create(name="New", email="new@example.com")
    services.start_campaign(campaign, bob)
    by_record = dict(
        Participant.objects.filter(campaign=campaign).values_list("record_id", "state")
    )
    assert by_record[a.pk] == "removed" and by_record[b.pk] == "running"
    assert len(by_record) == 3
    assert [t.state for t in traces(activity, participant__record_id=a.pk)] == ["cancelled"]


def test_the_first_record_of_a_shared_key_is_enrolled_whatever_the_order_of_keys(clock, bob):
    late = Contact.objects.create(name="Zed", email="zed@example.com")
    first = Contact.objects.create(name="Amy", email="AMY@example.com")
    Contact.objects.create(name="Amy again", email="amy@example.com")
    Contact.objects.create(name="Zed again", email="ZED@example.com ")
    campaign = make_campaign(bob, unique_field="email")
    add_action(campaign)
    services.start_campaign(campaign, bob)
    enrolled = set(
        Participant.objects.filter(campaign=campaign).values_list("record_id", "unique_key")
    )
    assert enrolled == {(late.pk, "zed@example.com"), (first.pk, "amy@example.com")}
