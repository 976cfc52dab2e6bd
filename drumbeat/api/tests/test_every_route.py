"""Refusals that every route shares: no token, a bad or revoked token, an unknown id, and the
administrator-only routes for a marketing user."""

from __future__ import annotations

import pytest
from django.test import Client

from drumbeat.accounts.models import ApiToken
from drumbeat.api.main import api

from .conftest import ApiClient

PATH_VALUES = {"{id}": "999999", "{key}": "contacts.contact"}


def _operations() -> list[tuple[str, str]]:
    spec = api.get_openapi_schema()
    found = []
    for path, methods in spec["paths"].items():
        if "/webhooks/" in path:
            continue
        for method in methods:
            url = path
            for name, value in PATH_VALUES.items():
                url = url.replace(name, value)
            if "campaign-templates/" in url:
                url = url.replace("contacts.contact", "tag_hot_contacts")
            found.append((method.upper(), url))
    return found


OPERATIONS = _operations()


def test_the_api_has_every_collection_of_the_design():
    paths = {url for _, url in OPERATIONS}
    for collection in [
        "contacts",
        "tags",
        "leads",
        "events",
        "registrations",
        "mailing-lists",
        "mailing-contacts",
        "blacklist/emails",
        "blacklist/phones",
        "templates",
        "server-actions",
        "campaigns",
        "activities",
        "participants",
        "traces",
        "links",
        "clicks",
        "messages",
    ]:
        assert f"/api/v1/{collection}" in paths
        assert f"/api/v1/{collection}/999999" in paths


@pytest.mark.parametrize("method, url", OPERATIONS)
def test_every_route_needs_credentials(db, method, url):
    client = Client()
    r = client.generic(method, url, "{}", content_type="application/json")
    assert r.status_code == 401, (method, url)
    assert r.json()["detail"]


def test_every_route_refuses_bad_and_revoked_tokens(alice):
    token, raw = ApiToken.issue(alice, "old")
    token.revoke()
    for credentials in (raw, "dbt_made-up", "x" * 300):
        client = ApiClient(credentials)
        for method, url in OPERATIONS:
            r = client.request(method, url, None if method == "GET" else {})
            assert r.status_code == 401, (credentials[:8], method, url)


@pytest.mark.parametrize(
    "method, url",
    [(m, u) for m, u in OPERATIONS if "999999" in u and m in {"GET", "DELETE"}]
    + [
        (m, u)
        for m, u in OPERATIONS
        if "999999" in u
        and m == "POST"
        and u.endswith(("/start", "/stop", "/duplicate", "/run", "/cancel", "/retry"))
    ],
)
def test_unknown_ids_are_404(admin_api, method, url):
    r = admin_api.request(method, url, {} if method == "POST" else None)
    assert r.status_code == 404, (method, url, r.content)
    assert r.json()["detail"].startswith("Not found")


ADMIN_ONLY = [
    ("DELETE", "contacts"),
    ("DELETE", "tags"),
    ("DELETE", "leads"),
    ("DELETE", "events"),
    ("DELETE", "registrations"),
    ("DELETE", "mailing-lists"),
    ("DELETE", "mailing-contacts"),
    ("POST", "blacklist/emails"),
    ("PATCH", "blacklist/emails"),
    ("DELETE", "blacklist/emails"),
    ("POST", "blacklist/phones"),
    ("PATCH", "blacklist/phones"),
    ("DELETE", "blacklist/phones"),
]


@pytest.mark.parametrize("method, collection", ADMIN_ONLY)
def test_administrator_routes_refuse_marketing_users(marketing_api, method, collection):
    url = collection if method == "POST" else f"{collection}/999999"
    body = {"email": "x@example.com", "number": "+32470123456", "active": False, "reason": "x"}
    r = marketing_api.request(method, url, body if method != "DELETE" else None)
    assert r.status_code == 403, (method, url, r.content)
    assert "administrators" in r.json()["detail"]
