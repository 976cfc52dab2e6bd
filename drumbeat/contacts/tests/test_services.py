import pytest
from django.core.exceptions import ValidationError

from drumbeat.accounts.models import User
from drumbeat.contacts import services
from drumbeat.contacts.models import Contact, Tag
from drumbeat.lib import hooks

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def changed():
    seen: list[tuple[str, list[int]]] = []

    def listener(label: str, ids: list[int]) -> None:
        seen.append((label, sorted(ids)))

    hooks._records_listeners.append(listener)
    yield seen
    hooks._records_listeners.remove(listener)


def test_it_creates_a_contact_with_normalised_values_and_tags():
    sofia = User.objects.create(username="sofia")
    contact = services.create_contact(
        name=" Ann ",
        email=" Ann@Example.COM",
        phone="0470 12 34 56",
        country="Belgium",
        salesperson=sofia,
        tags=["VIP", "New"],
    )

    assert (contact.name, contact.email, contact.phone) == (
        "Ann",
        "ann@example.com",
        "+32470123456",
    )
    assert contact.country == "BE"
    assert sorted(contact.tags.values_list("name", flat=True)) == ["New", "VIP"]


def test_it_names_every_bad_field():
    with pytest.raises(ValidationError) as exc:
        services.create_contact(name="Ann", email="nope", phone="12", country="Atlantis")

    assert set(exc.value.message_dict) == {"email", "phone", "country"}
    assert not Contact.objects.exists()


def test_it_refuses_unknown_fields_missing_names_and_long_texts():
    with pytest.raises(ValidationError) as exc:
        services.create_contact(name="Ann", shoe_size=42)
    assert "shoe_size" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.create_contact(name="  ")
    with pytest.raises(ValidationError) as exc:
        services.create_contact(name="A" * 201)
    assert exc.value.message_dict["name"] == ["at most 200 characters"]


def test_it_updates_reading_the_phone_in_the_contacts_country():
    contact = services.create_contact(name="Ann", country="FR")

    services.update_contact(contact, phone="06 12 34 56 78", tags=["VIP"])

    contact.refresh_from_db()
    assert contact.phone == "+33612345678"
    assert list(contact.tags.values_list("name", flat=True)) == ["VIP"]


def test_it_archives_restores_and_reports_after_commit(changed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ann = services.create_contact(name="Ann")
        bob = services.create_contact(name="Bob")
    changed.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert services.archive_contacts([ann.pk, bob.pk]) == 2
    assert services.archive_contacts([ann.pk]) == 0
    assert services.restore_contacts([ann.pk]) == 1

    assert changed[0] == ("contacts.contact", sorted([ann.pk, bob.pk]))
    assert Contact.objects.filter(active=True).count() == 1


def test_it_adds_and_removes_tags_in_bulk():
    ann, bob = services.create_contact(name="Ann"), services.create_contact(name="Bob")
    Tag.objects.create(name="VIP")

    assert services.add_tags(Contact, [ann.pk, bob.pk], ["VIP", "Hot"]) == 4
    assert services.add_tags(Contact, [ann.pk], ["VIP"]) == 0
    assert services.remove_tags(Contact, [bob.pk], ["Hot"]) == 1
    assert sorted(bob.tags.values_list("name", flat=True)) == ["VIP"]


def test_it_finds_contacts_by_normalised_email():
    ann = services.create_contact(name="Ann", email="ann@example.com")
    assert services.find_contacts_by_email(["ANN@example.com ", "x@example.com"]) == {
        "ann@example.com": ann.pk
    }
