import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from drumbeat.contacts.services import create_contact
from drumbeat.events import services
from drumbeat.events.models import Registration

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def summit():
    start = timezone.now()
    return services.create_event(
        name="Summit", date_begin=start, date_end=start + dt.timedelta(hours=8)
    )


def test_it_refuses_an_event_ending_before_it_begins(summit):
    with pytest.raises(ValidationError) as exc:
        services.update_event(summit, date_end=summit.date_begin - dt.timedelta(hours=1))
    assert "date_end" in exc.value.message_dict


def test_it_registers_a_contact_with_its_details(summit):
    ann = create_contact(name="Ann", email="ann@example.com")

    registration = services.register_attendee(event=summit, contact=ann)

    assert (registration.name, registration.email) == ("Ann", "ann@example.com")
    assert registration.state == Registration.State.CONFIRMED


def test_it_refuses_bad_registrations(summit):
    with pytest.raises(ValidationError) as exc:
        services.register_attendee(event=summit, name="", email="nope", state="lost")
    assert set(exc.value.message_dict) == {"name", "email", "state"}


def test_it_changes_states_in_bulk(summit):
    a = services.register_attendee(event=summit, name="A")
    b = services.register_attendee(event=summit, name="B", state="Unconfirmed")
    assert b.state == "draft"

    assert services.mark_attended([a.pk]) == 1
    assert services.cancel_registrations([b.pk]) == 1
    assert set(Registration.objects.values_list("state", flat=True)) == {"attended", "cancelled"}
