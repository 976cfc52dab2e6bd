"""Who may open what: anonymous users go to the login page, marketing users are refused the
administrator pages, POST-only views refuse GET."""

import pytest

from drumbeat.mailing.audience import blacklist_email

pytestmark = pytest.mark.django_db

PAGES = [
    "/campaigns/",
    "/campaigns/new/",
    "/records/contacts/",
    "/records/contacts/new/",
    "/records/contacts/import/",
    "/records/leads/",
    "/records/events/",
    "/records/registrations/",
    "/records/mailing-lists/",
    "/records/mailing-contacts/",
    "/reporting/participants/",
    "/reporting/traces/",
    "/reporting/links/",
    "/configuration/templates/",
    "/configuration/templates/new/email/",
    "/configuration/templates/new/sms/",
    "/configuration/server-actions/",
    "/configuration/server-actions/new/",
    "/configuration/brand/",
    "/configuration/media/",
]
ADMIN_PAGES = [
    "/settings/",
    "/settings/users/",
    "/settings/users/new/",
    "/settings/tokens/",
    "/records/email-blacklist/",
    "/records/email-blacklist/new/",
    "/records/phone-blacklist/",
]
POST_ONLY = [
    "/records/contacts/1/archive/",
    "/records/contacts/1/restore/",
    "/records/contacts/1/notes/",
    "/records/contacts/1/tasks/",
    "/records/mailing-contacts/1/delete/",
    "/records/email-blacklist/1/unblacklist/",
    "/campaigns/1/do/start/",
    "/campaigns/templates/tag_hot_contacts/",
    "/traces/1/run/",
    "/participants/1/stop/",
    "/settings/tokens/1/revoke/",
    "/filters/contacts.contact/favorites/",
    "/configuration/templates/1/send-test/",
    "/configuration/templates/1/delete/",
    "/configuration/server-actions/1/delete/",
    "/configuration/media/1/delete/",
]


@pytest.mark.parametrize("url", PAGES + ADMIN_PAGES)
def test_it_sends_anonymous_users_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", PAGES)
def test_it_opens_pages_for_marketing_users(marketer_client, url):
    assert marketer_client.get(url).status_code == 200


@pytest.mark.parametrize("url", PAGES + ADMIN_PAGES)
def test_it_opens_every_page_for_administrators(admin_client, url):
    assert admin_client.get(url).status_code == 200


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_it_refuses_admin_pages_to_marketing_users(marketer_client, url):
    assert marketer_client.get(url).status_code == 403


def test_it_refuses_a_blacklist_entry_to_marketing_users(marketer_client):
    entry = blacklist_email("nope@example.com", "test")
    assert marketer_client.get(f"/records/email-blacklist/{entry.pk}/").status_code == 403
    response = marketer_client.post(
        f"/records/email-blacklist/{entry.pk}/unblacklist/", {"reason": "x"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("url", POST_ONLY)
def test_it_refuses_get_on_post_only_views(admin_client, url):
    assert admin_client.get(url).status_code == 405


def test_it_hides_admin_entries_from_marketing_users(marketer_client, admin_client):
    html = marketer_client.get("/records/contacts/").content.decode()
    assert "Blacklists" not in html
    assert "/settings/users/" not in html
    admin_html = admin_client.get("/records/contacts/").content.decode()
    assert "Blacklists" in admin_html


def test_it_answers_404_for_unknown_kinds_and_records(admin_client):
    assert admin_client.get("/records/unicorns/").status_code == 404
    assert admin_client.get("/records/contacts/999999/").status_code == 404
    assert admin_client.get("/campaigns/999999/").status_code == 404


def test_home_redirects_to_the_campaign_dashboard(admin_client):
    response = admin_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/campaigns/"


def test_refusals_use_the_application_layout(marketer_client):
    html = marketer_client.get("/settings/users/").content.decode()
    assert "You cannot open this page" in html and "Only administrators" in html
    assert 'class="topbar"' in html


def test_missing_pages_use_the_application_layout(client, marketer_client):
    assert "This page does not exist" in marketer_client.get("/records/nope/").content.decode()
    assert "This page does not exist" in client.get("/no-such-page/").content.decode()
