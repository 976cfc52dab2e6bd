"""Who may call the API: bearer tokens, the browser session with CSRF, and refusals."""

from __future__ import annotations

import pytest
from django.test import Client

from drumbeat.accounts.models import ApiToken

from .conftest import ApiClient


def test_it_refuses_a_request_without_credentials(anonymous_api):
    r = anonymous_api.get("contacts")
    assert r.status_code == 401
    assert r.json() == {"detail": "Unauthorized"}
    assert r["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_an_unknown_token(db):
    r = ApiClient("dbt_not-a-real-token").get("contacts")
    assert r.status_code == 401
    assert "Invalid or revoked" in r.json()["detail"]


def test_it_refuses_a_revoked_token(alice):
    token, raw = ApiToken.issue(alice, "old")
    token.revoke()
    assert ApiClient(raw).get("contacts").status_code == 401


def test_it_refuses_the_token_of_a_deactivated_user(bob):
    raw = ApiToken.issue(bob, "x")[1]
    bob.is_active = False
    bob.save()
    assert ApiClient(raw).get("contacts").status_code == 401


def test_it_records_when_a_token_was_last_used(alice):
    token, raw = ApiToken.issue(alice, "cli")
    assert token.last_used_at is None
    assert ApiClient(raw).get("me").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_it_tells_who_is_calling(marketing_api, bob):
    r = marketing_api.get("me")
    assert r.status_code == 200
    assert r.json() == {
        "id": bob.pk,
        "username": "bob",
        "email": "bob@example.com",
        "role": "marketing",
        "is_administrator": False,
    }


def test_it_accepts_the_browser_session_for_reads(bob):
    client = Client()
    client.force_login(bob)
    r = client.get("/api/v1/me")
    assert r.status_code == 200
    assert r.json()["username"] == "bob"


def test_it_requires_the_csrf_token_for_session_writes(bob):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    r = client.post("/api/v1/tags", {"name": "VIP"}, content_type="application/json")
    assert r.status_code == 403
    assert "CSRF" in r.json()["detail"]

    client.get("/api/v1/me")  # any page would do; we need the csrftoken cookie
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    r = client.post(
        "/api/v1/tags",
        {"name": "VIP"},
        content_type="application/json",
        headers={"X-CSRFToken": _mask_cipher_secret(secret)},
    )
    assert r.status_code == 201


def test_it_serves_the_openapi_document_and_docs_without_a_cdn(db):
    client = Client()
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert "/api/v1/contacts" in spec["paths"]
    assert spec["components"]["securitySchemes"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger" in html.lower()
    assert "cdn." not in html and "unpkg" not in html


def test_every_schema_has_examples(db):
    spec = Client().get("/api/v1/openapi.json").json()
    missing = []
    for name, schema in spec["components"]["schemas"].items():
        props = schema.get("properties", {})
        has_example = "examples" in schema or any(
            "examples" in p or "example" in p for p in props.values()
        )
        if not has_example:
            missing.append(name)
    assert missing == []


@pytest.mark.parametrize("method", ["post", "patch"])
def test_it_refuses_a_malformed_json_body(admin_api, method, alice):
    from drumbeat.contacts.services import create_contact

    contact = create_contact(name="Ada")
    path = "contacts" if method == "post" else f"contacts/{contact.pk}"
    r = admin_api.request(method.upper(), path, "{not json")
    assert r.status_code == 400
    assert r.json()["detail"]


def test_it_refuses_an_oversized_body(admin_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    r = admin_api.post("contacts", {"name": "x" * 20_000})
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]


def test_it_refuses_a_deeply_nested_body(admin_api):
    r = admin_api.post("targets/contacts.contact/count", "[" * 100_000 + "]" * 100_000)
    assert r.status_code == 400


def test_an_unknown_api_path_is_a_json_404(marketing_api):
    r = marketing_api.get("no-such-collection")
    assert r.status_code == 404
    assert r.json()["detail"] == "Not found: no API route /api/v1/no-such-collection"


@pytest.mark.parametrize("method", ["post", "delete"])
def test_a_write_to_an_unknown_api_path_is_a_json_404_not_a_csrf_page(marketing_api, method):
    # A token client sends no CSRF cookie: the fallback must answer like the routes do.
    r = getattr(marketing_api, method)("lists")
    assert r.status_code == 404
    assert r.json()["detail"] == "Not found: no API route /api/v1/lists"
