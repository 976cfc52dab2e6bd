"""Lists, subscriptions and blacklists (drumbeat/mailing/audience.py)."""

import pytest
from django.core.exceptions import ValidationError

from drumbeat.lib import hooks
from drumbeat.mailing import audience
from drumbeat.mailing.models import EmailBlacklist, MailingContact, PhoneBlacklist, Subscription
from drumbeat.timeline.models import Note

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def changed():
    seen: list[tuple[str, list[int]]] = []

    def listener(label: str, ids: list[int]) -> None:
        seen.append((label, sorted(ids)))

    hooks._records_listeners.append(listener)
    yield seen
    hooks._records_listeners.remove(listener)


@pytest.fixture
def news():
    return audience.create_list(name="Newsletter")


@pytest.fixture
def ann(news):
    return audience.create_mailing_contact(email=" Ann@Example.com ", name="Ann", lists=[news])


def test_it_creates_a_mailing_contact_normalised_and_subscribed(ann, news):
    assert ann.email == "ann@example.com"
    assert list(ann.lists.all()) == [news]


def test_it_refuses_a_mailing_contact_without_a_valid_email():
    with pytest.raises(ValidationError) as exc:
        audience.create_mailing_contact(email="not-an-email")
    assert "email" in exc.value.message_dict
    with pytest.raises(ValidationError):
        audience.create_mailing_contact(email="")


def test_it_refuses_a_second_list_with_the_same_name(news):
    with pytest.raises(ValidationError) as exc:
        audience.create_list(name="newsletter")
    assert "already exists" in exc.value.message_dict["name"][0]


def test_it_opts_out_with_date_and_reason(ann, news):
    assert audience.opt_out(ann, [news], "Too many emails") == 1

    subscription = Subscription.objects.get(contact=ann, list=news)
    assert subscription.opt_out
    assert subscription.opt_out_at is not None
    assert subscription.opt_out_reason == "Too many emails"


def test_an_explicit_subscription_clears_the_opt_out_but_bulk_adds_do_not(ann, news):
    audience.opt_out(ann, [news], "bye")

    assert audience.subscribe_many([ann.pk], news) == 0
    assert Subscription.objects.get(contact=ann, list=news).opt_out

    audience.subscribe(ann, news)
    subscription = Subscription.objects.get(contact=ann, list=news)
    assert (subscription.opt_out, subscription.opt_out_reason) == (False, "")


def test_it_confirms_a_subscription(ann, news):
    subscription = Subscription.objects.get(contact=ann, list=news)

    audience.confirm_subscription(subscription)

    assert Subscription.objects.get(pk=subscription.pk).confirmed


def test_it_opts_out_an_address_from_the_unsubscribe_page(ann, news):
    assert audience.opt_out_email("ANN@example.com", [news], "") == 1
    assert audience.set_opt_out_reason("ann@example.com", [news], "Not relevant") == 1
    assert Subscription.objects.get(contact=ann).opt_out_reason == "Not relevant"


def test_add_people_to_list_matches_by_email_and_creates_the_others(ann, news):
    customers = audience.create_list(name="Customers")

    ids = audience.add_people_to_list(
        customers,
        [
            {"email": "ANN@example.com", "name": "Ann again"},
            {"email": "bob@example.com", "name": "Bob", "country": "BE", "phone": "0470123456"},
            {"email": "broken"},
        ],
    )

    bob = MailingContact.objects.get(email="bob@example.com")
    assert sorted(ids) == sorted([ann.pk, bob.pk])
    assert bob.phone == "+32470123456"
    assert MailingContact.objects.count() == 2
    assert set(customers.contacts.all()) == {ann, bob}


def test_remove_from_list_by_address(ann, news):
    assert audience.remove_from_list(news, emails=["Ann@example.com"]) == 1
    assert not Subscription.objects.exists()


def test_it_blacklists_normalised_and_posts_the_reason_to_the_timeline():
    entry = audience.blacklist_email("  Spam@Example.COM ", "Complained")

    assert (entry.email, entry.reason, entry.active) == ("spam@example.com", "Complained", True)
    assert audience.is_email_blacklisted("SPAM@example.com")
    assert Note.objects.get(object_id=entry.pk).body == "Blacklisted: Complained"


def test_unblacklisting_needs_a_reason_and_keeps_the_history():
    entry = audience.blacklist_email("spam@example.com", "Complained")

    with pytest.raises(ValidationError):
        audience.unblacklist_email("spam@example.com", "  ")
    assert audience.unblacklist_email("SPAM@example.com", "Asked to be back")

    entry.refresh_from_db()
    assert (entry.active, entry.reason) == (False, "Asked to be back")
    assert not audience.is_email_blacklisted("spam@example.com")
    assert not audience.unblacklist_email("spam@example.com", "again")  # nothing to lift

    audience.blacklist_email("spam@example.com", "Bounced")
    assert EmailBlacklist.objects.get().active
    bodies = set(Note.objects.filter(object_id=entry.pk).values_list("body", flat=True))
    assert bodies == {
        "Blacklisted: Complained",
        "Unblacklisted: Asked to be back",
        "Blacklisted: Bounced",
    }


def test_it_refuses_to_blacklist_an_invalid_address():
    with pytest.raises(ValidationError):
        audience.blacklist_email("nope", "x")
    assert not EmailBlacklist.objects.exists()


def test_it_blacklists_many_addresses_in_bulk():
    count = audience.blacklist_emails(["a@example.com", "A@example.com", "b@example.com"], "x")
    assert count == 2
    assert audience.blacklist_emails(["a@example.com"], "again") == 0  # already active


def test_it_blacklists_phones_in_e164():
    entry = audience.blacklist_phone("+32 470 12 34 56", "Replied STOP")

    assert entry.number == "+32470123456"
    assert audience.is_phone_blacklisted("+32470123456")
    assert audience.unblacklist_phone("+32470123456", "Asked again")
    assert not PhoneBlacklist.objects.get().active
    with pytest.raises(ValidationError):
        audience.blacklist_phone("12", "x")
    assert not audience.is_phone_blacklisted("not a number")


def test_it_reports_changed_mailing_contacts_after_commit(
    news, changed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        contact = audience.create_mailing_contact(email="c@example.com", lists=[news])
    assert changed == []  # nothing before the commit

    for callback in callbacks:
        callback()
    assert changed == [("mailing.mailingcontact", [contact.pk])]


def test_it_renames_a_list_and_refuses_a_clash_or_no_name(news):
    audience.create_list(name="Customers")

    assert audience.update_list(news, name="NEWSLETTER").name == "NEWSLETTER"
    with pytest.raises(ValidationError):
        audience.update_list(news, name="customers")
    with pytest.raises(ValidationError):
        audience.update_list(news, name=None)
    assert audience.update_list(news, description="Monthly").description == "Monthly"
