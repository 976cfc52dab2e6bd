"""Demo data (drumbeat/demo/): volumes, realism, idempotence, the admin login."""

import stat

import phonenumbers
import pytest
from django.utils import timezone

from drumbeat import demo
from drumbeat.accounts.models import User
from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.events.models import Event, Registration
from drumbeat.mailing.models import (
    EmailBlacklist,
    MailingContact,
    MailingList,
    PhoneBlacklist,
    Subscription,
)

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def home(settings, tmp_path):
    settings.HOME = tmp_path
    return tmp_path


def counts() -> dict[str, int]:
    models = [Contact, Lead, Event, Registration, MailingContact, Subscription, EmailBlacklist]
    return {m.__name__: m.objects.count() for m in [*models, PhoneBlacklist, User]}


@pytest.mark.postgres
def test_it_seeds_the_stated_volumes_once(home):
    login = demo.seed()
    first = counts()

    assert first["Contact"] == 2000
    assert first["Lead"] == 500
    assert first["Event"] == 2
    assert first["Registration"] == 300
    assert first["MailingContact"] == 1500
    assert set(MailingList.objects.values_list("name", flat=True)) == {
        "Newsletter",
        "Customers",
        "Confirmed contacts",
    }
    assert Subscription.objects.filter(opt_out=True).exclude(opt_out_reason="").exists()
    assert first["EmailBlacklist"] > 0 and first["PhoneBlacklist"] > 0

    assert demo.seed() == login
    assert counts() == first


def test_the_admin_login_is_kept_in_a_private_file_and_works(home):
    login = demo.ensure_admin()

    path = home / "demo-login.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert login.password in path.read_text()
    admin = User.objects.get(username="admin")
    assert admin.check_password(login.password)
    assert admin.is_administrator and admin.is_staff

    admin.set_password("changed")
    admin.save()
    assert demo.ensure_admin().password == login.password  # the printed login works again
    admin.refresh_from_db()
    assert admin.check_password(login.password)


def test_the_records_look_real(home):
    demo.seed()

    sellers = User.objects.filter(role=User.Role.MARKETING)
    assert sellers.count() == 3
    assert all(s.first_name and s.last_name for s in sellers)
    assert Contact.objects.values("country").distinct().count() >= 6
    assert Contact.objects.filter(tags__name="VIP").exists()
    assert Contact.objects.filter(active=False).exists()
    for contact in Contact.objects.exclude(phone="")[:200]:
        number = phonenumbers.parse(contact.phone)
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.region_code_for_number(number) == contact.country
    emails = list(Contact.objects.values_list("email", flat=True))
    assert len(set(emails)) == len(emails)
    assert set(Lead.objects.values_list("stage__name", flat=True)) == {
        "New",
        "Qualified",
        "Proposition",
        "Won",
    }
    assert Lead.objects.filter(contact__isnull=False).exists()
    assert set(Lead.objects.values_list("priority", flat=True)) == {0, 1, 2, 3}


def test_it_is_deterministic(home):
    ctx = demo.DemoContext(now=timezone.now(), progress=False)
    demo.seed_users(ctx)
    demo.seed_contacts(ctx)
    first = list(Contact.objects.order_by("id").values_list("name", "email", "phone")[:50])
    Contact.objects.all().delete()

    demo.seed_contacts(ctx)

    again = list(Contact.objects.order_by("id").values_list("name", "email", "phone")[:50])
    assert again == first
