"""A marketing user cannot reach administrator pages nor another user's API token
(docs/product.md#users-and-access): 403 in the UI and the API, nothing changed. Anonymous visitors
are sent to the login page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from drumbeat.accounts.models import ApiToken, User
from drumbeat.mailing.models import EmailBlacklist

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def alice_token(alice):
    token, raw = ApiToken.issue(alice, "alice's sync")
    return token


@pytest.fixture
def as_bob(bob):
    client = Client()
    client.force_login(bob)
    return client


def api(user) -> Client:
    _, raw = ApiToken.issue(user, "test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def admin_pages(alice, alice_token) -> list[tuple[str, str]]:
    return [
        ("get", reverse("settings_overview")),
        ("get", reverse("user_list")),
        ("get", reverse("user_create")),
        ("post", reverse("user_create")),
        ("get", reverse("user_edit", args=[alice.pk])),
        ("post", reverse("user_edit", args=[alice.pk])),
        ("get", reverse("token_list")),
        ("post", reverse("token_revoke", args=[alice_token.pk])),
        ("get", reverse("record_list", args=["email-blacklist"])),
        ("get", reverse("record_create", args=["email-blacklist"])),
        ("post", reverse("record_create", args=["email-blacklist"])),
        ("get", reverse("record_list", args=["phone-blacklist"])),
    ]


def test_a_marketing_user_gets_403_on_administrator_pages(as_bob, alice, alice_token):
    for method, url in admin_pages(alice, alice_token):
        data = {"username": "bob", "role": "admin", "email": "x@example.com"}
        response = getattr(as_bob, method)(url, data if method == "post" else None)
        assert response.status_code == 403, (method, url, response.status_code)
    alice_token.refresh_from_db()
    assert alice_token.is_active
    assert User.objects.get(username="bob").role == "marketing"
    assert not EmailBlacklist.objects.exists()


def test_an_administrator_reaches_them(alice, alice_token):
    client = Client()
    client.force_login(alice)
    for method, url in admin_pages(alice, alice_token):
        if method == "get":
            assert client.get(url).status_code == 200, url


def test_anonymous_visitors_are_sent_to_login(alice, alice_token):
    client = Client()
    for method, url in admin_pages(alice, alice_token):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_a_marketing_user_cannot_enter_the_django_admin(as_bob):
    response = as_bob.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_marketing_user_cannot_read_or_revoke_another_users_api_token(bob, alice_token):
    client = api(bob)

    assert client.get(f"/api/v1/tokens/{alice_token.pk}").status_code == 403
    assert client.delete(f"/api/v1/tokens/{alice_token.pk}").status_code == 403
    listed = client.get("/api/v1/tokens").json()
    assert alice_token.pk not in [t["id"] for t in listed["items"]]
    alice_token.refresh_from_db()
    assert alice_token.is_active


def test_a_marketing_user_cannot_issue_a_token_for_someone_else(bob, alice):
    before = ApiToken.objects.filter(user=alice).count()

    response = api(bob).post(
        "/api/v1/tokens", {"name": "mine now", "user": alice.pk}, content_type="application/json"
    )

    assert response.status_code == 403
    assert ApiToken.objects.filter(user=alice).count() == before


def test_a_marketing_user_cannot_change_the_blacklist_through_the_api(bob):
    response = api(bob).post(
        "/api/v1/blacklist/emails",
        {"email": "someone@example.com", "reason": "x"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not EmailBlacklist.objects.exists()


def test_a_revoked_or_forged_token_is_refused(alice):
    token, raw = ApiToken.issue(alice, "old")
    token.revoke()
    for bearer in (raw, raw[:-1] + "x", "dbt_" + "A" * 43, "' OR 1=1 --", ""):
        client = Client(HTTP_AUTHORIZATION=f"Bearer {bearer}")
        assert client.get("/api/v1/contacts").status_code == 401, bearer
