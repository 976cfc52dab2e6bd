"""CSRF on every state-changing form: every route of the web UI and of the public recipient
pages refuses a POST without the CSRF token, before the view runs. The list is built from the
URL resolver, so a new view is covered the day it is added. The only exemptions are the
machine-to-machine endpoints that cannot carry a token (RFC 8058 one-click, provider webhooks,
authenticated by their signed token or HMAC)."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

EXEMPT = {
    "mailing-one-click",
    "webhook-mail-events",
    "webhook-sms-status",
    "webhook-sms-inbound",
}
SAMPLE = {"int": "1", "slug": "contacts", "str": "x", "path": "x", "uuid": None}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _sample_path(route: str) -> str | None:
    def fill(match: re.Match) -> str:
        converter = match.group(1) or "str"
        value = SAMPLE.get(converter)
        if value is None:
            raise LookupError(converter)
        return value

    try:
        return "/" + re.sub(r"<(?:(\w+):)?\w+>", fill, route)
    except LookupError:
        return None


def ui_routes() -> list[tuple[str, str]]:
    """(name, sample path) of every route outside the admin and the API (which has its own
    test below)."""
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith(("admin/", "api/v1/")) and pattern.name not in EXEMPT:
            continue
        path = _sample_path(route)
        if path is not None:
            routes.append((pattern.name or route, path, pattern))
    return routes


def row_counts() -> dict[str, int]:
    return {
        m._meta.label: m._default_manager.count()
        for m in apps.get_models()
        if m._meta.app_label not in {"sessions", "axes", "admin", "contenttypes"}
    }


def test_it_covers_the_state_changing_routes():
    names = {name for name, _, _ in ui_routes()}
    # a sanity check that the walk finds the web UI and the public pages
    assert {"login", "mailing-unsubscribe"} <= names
    assert len(names) > 10


def test_only_machine_endpoints_are_csrf_exempt():
    exempt = {
        name for name, _, pattern in ui_routes() if getattr(pattern.callback, "csrf_exempt", False)
    }
    assert exempt <= EXEMPT


@pytest.fixture
def strict_client(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


def test_it_refuses_a_post_without_the_csrf_token_on_every_route(strict_client):
    before = row_counts()
    refused, checked = [], 0
    for name, path, _ in ui_routes():
        if name in EXEMPT:
            continue
        checked += 1
        response = strict_client.post(path, {"name": "x", "action": "unsubscribe"})
        if response.status_code != 403 or b"CSRF" not in response.content:
            refused.append((name, path, response.status_code))
    assert refused == []
    assert checked > 10
    assert row_counts() == before


def test_it_refuses_a_post_with_a_wrong_csrf_token(strict_client):
    strict_client.get("/login/")
    response = strict_client.post(
        "/records/contacts/new/", {"name": "x", "csrfmiddlewaretoken": "A" * 64}
    )
    assert response.status_code == 403


def test_it_accepts_the_post_with_the_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/login/",
        {"username": "alice", "password": "pw-alice-long-enough", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302


def test_the_api_refuses_a_session_post_without_the_csrf_token(strict_client):
    before = row_counts()

    response = strict_client.post(
        "/api/v1/contacts", {"name": "Eve"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert row_counts() == before


def test_the_api_accepts_a_bearer_token_without_csrf(alice):
    from drumbeat.accounts.models import ApiToken

    _, raw = ApiToken.issue(alice, "sync")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/contacts",
        {"name": "Eve", "email": "eve@example.com"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201
