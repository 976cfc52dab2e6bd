"""NUL characters in URLs (search boxes, tracking codes) are refused with 400 on every route;
PostgreSQL cannot compare text with them, so they would otherwise end in a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from .test_csrf import ui_routes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_every_route_refuses_a_nul_in_the_query_string(alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    failures = []
    for name, path, _ in ui_routes():
        for query in ("q=a%00b", "domain=%00", "x%00=1"):
            response = client.get(f"{path}?{query}")
            if response.status_code != 400:
                failures.append((name, query, response.status_code))
    assert failures == []


@pytest.mark.parametrize("path", ["/r/%00", "/r/ab%00cd", "/r/abc/%00", "/u/%00", "/v/a%00"])
def test_public_routes_refuse_a_nul_in_the_path(client, path):
    assert client.get(path).status_code == 400


def test_the_api_refuses_nul_in_a_filter(alice):
    from drumbeat.accounts.models import ApiToken

    _, raw = ApiToken.issue(alice, "t")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", raise_request_exception=False)
    response = client.get("/api/v1/contacts", {"domain": '[["name", "=", "a\\u0000b"]]'})
    assert response.status_code in {200, 400, 422}


def test_the_api_answers_a_nul_in_the_url_as_json(alice):
    from drumbeat.accounts.models import ApiToken

    _, raw = ApiToken.issue(alice, "t")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", raise_request_exception=False)

    response = client.get("/api/v1/contacts?search=a%00b")

    assert response.status_code == 400
    assert response.json() == {"detail": "NUL characters are not allowed."}
