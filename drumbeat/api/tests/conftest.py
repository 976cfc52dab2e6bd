"""Personas and an authenticated JSON client for the API tests.

alice is an administrator, bob a marketing user; each has a bearer token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import clear_url_caches

from drumbeat.accounts.models import ApiToken, User

BASE = "/api/v1"


class ApiClient:
    """Django's test client speaking JSON with an optional bearer token."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client(enforce_csrf_checks=True)  # as a real client: no CSRF pass
        self.token = token

    def request(self, method: str, path: str, body: Any = None, **query: Any):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = path if path.startswith("/") else f"{BASE}/{path}"
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["data"] = body if isinstance(body, str | bytes) else json.dumps(body)
            kwargs["content_type"] = "application/json"
        elif query:
            kwargs["data"] = query
        return getattr(self.client, method.lower())(url, **kwargs)

    def get(self, path: str, **query: Any):
        return self.request("GET", path, **query)

    def post(self, path: str, body: Any = None):
        return self.request("POST", path, {} if body is None else body)

    def patch(self, path: str, body: Any):
        return self.request("PATCH", path, body)

    def delete(self, path: str):
        return self.request("DELETE", path)


@pytest.fixture(autouse=True)
def api_urls(settings):
    settings.ROOT_URLCONF = "drumbeat.api.tests.urls"
    clear_url_caches()
    yield
    clear_url_caches()


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user(
        "alice", "alice@example.com", "pw-alice-123", role=User.Role.ADMIN
    )


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob", "bob@example.com", "pw-bob-123")


@pytest.fixture
def admin_api(alice) -> ApiClient:
    return ApiClient(ApiToken.issue(alice, "tests")[1])


@pytest.fixture
def marketing_api(bob) -> ApiClient:
    return ApiClient(ApiToken.issue(bob, "tests")[1])


@pytest.fixture
def anonymous_api(db) -> ApiClient:
    return ApiClient()
