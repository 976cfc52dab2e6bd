"""Administrator pages: users and roles, API tokens (raw token shown once), settings."""

import pytest

from drumbeat.accounts.models import ApiToken, User

pytestmark = pytest.mark.django_db


def test_it_creates_a_user_with_a_role(admin_client):
    response = admin_client.post(
        "/settings/users/new/",
        {
            "username": "carol",
            "first_name": "Carol",
            "email": "carol@example.com",
            "role": "admin",
            "is_active": "on",
            "password": "a-long-enough-secret-42",
        },
    )
    assert response.status_code == 302
    carol = User.objects.get(username="carol")
    assert carol.is_administrator and carol.check_password("a-long-enough-secret-42")


def test_it_requires_a_password_for_a_new_user(admin_client):
    response = admin_client.post(
        "/settings/users/new/", {"username": "dave", "role": "marketing", "is_active": "on"}
    )
    assert "This field is required" in response.content.decode()
    assert not User.objects.filter(username="dave").exists()


def test_it_refuses_to_demote_yourself(admin_client, alice):
    response = admin_client.post(
        f"/settings/users/{alice.pk}/",
        {"username": "alice", "role": "marketing", "is_active": "on"},
    )
    assert "cannot remove your own administrator role" in response.content.decode()
    alice.refresh_from_db()
    assert alice.is_administrator


def test_it_shows_a_new_token_once_and_revokes_it(admin_client, bob):
    response = admin_client.post("/settings/tokens/", {"name": "CRM sync", "user": bob.pk})
    html = response.content.decode()
    token = ApiToken.objects.get(name="CRM sync")
    raw = html.split('id="raw-token">')[1].split("<")[0]
    assert ApiToken.authenticate(raw) == bob
    assert raw not in admin_client.get("/settings/tokens/").content.decode()
    admin_client.post(f"/settings/tokens/{token.pk}/revoke/")
    assert ApiToken.authenticate(raw) is None


def test_it_never_shows_transport_passwords(admin_client, settings):
    settings.EMAIL_URL = "smtp+starttls://mailer:hunter2@smtp.example.com:587"
    settings.BROKER_URL = "redis://:brokersecret@redis.example.com:6379/0"
    html = admin_client.get("/settings/").content.decode()
    assert "smtp+starttls://***@smtp.example.com:587" in html
    assert "hunter2" not in html and "brokersecret" not in html
    assert "Distributed" in html


def test_it_reports_dkim_problems(admin_client, settings, tmp_path):
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "example.com", "s1"
    settings.DKIM_KEY_FILE = str(tmp_path / "missing.pem")
    assert "is missing" in admin_client.get("/settings/").content.decode()
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----")
    settings.DKIM_KEY_FILE = str(key)
    assert "s1._domainkey.example.com" in admin_client.get("/settings/").content.decode()
