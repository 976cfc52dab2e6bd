from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from drumbeat.contacts.services import create_contact
from drumbeat.crm import services
from drumbeat.crm.models import Lead, Stage

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_it_creates_a_lead_from_a_contact_in_the_first_stage():
    ann = create_contact(name="Ann", email="ann@example.com", phone="+32470123456")

    lead = services.create_lead(title="Deal", contact=ann, priority="High", tags=["VIP"])

    assert (lead.contact_name, lead.email, lead.phone) == ("Ann", "ann@example.com", "+32470123456")
    assert lead.priority == Lead.Priority.HIGH
    assert lead.stage.name == "New"
    assert list(Stage.objects.values_list("name", flat=True)) == [
        "New",
        "Qualified",
        "Proposition",
        "Won",
    ]


def test_it_refuses_bad_priority_revenue_and_title():
    with pytest.raises(ValidationError) as exc:
        services.create_lead(title="", priority=9, expected_revenue="lots")
    assert set(exc.value.message_dict) == {"title", "priority", "expected_revenue"}


def test_it_updates_priorities_and_stages_in_bulk():
    a = services.create_lead(title="A", expected_revenue="1200.5")
    b = services.create_lead(title="B")
    won = Stage.objects.get(name="Won")

    assert services.set_leads_priority([a.pk, b.pk], 3) == 2
    assert services.move_leads_to_stage([a.pk], won) == 1
    a.refresh_from_db()
    assert (a.priority, a.stage, a.expected_revenue) == (3, won, Decimal("1200.50"))
    with pytest.raises(ValidationError):
        services.set_leads_priority([a.pk], "urgent")


def test_it_archives_and_links_leads_to_contacts():
    lead = services.create_lead(title="A", email="Ann@Example.com")
    ann = create_contact(name="Ann", email="ann@example.com")

    assert services.link_leads_to_contacts([lead.pk]) == 1
    assert services.archive_leads([lead.pk]) == 1
    lead.refresh_from_db()
    assert (lead.contact, lead.active) == (ann, False)
    assert services.restore_leads([lead.pk]) == 1
