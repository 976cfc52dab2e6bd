"""Security headers on every page: CSP, X-Frame-Options DENY, nosniff, Referrer-Policy; HSTS
and secure cookies when DRUMBEAT_BASE_URL is https (a fresh process, settings come from the
environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
ROOT = Path(__file__).resolve().parents[2]


def assert_headers(response) -> None:
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp or "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[-1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer", "strict-origin"}


def test_public_and_login_pages_carry_the_headers(client):
    for url in ("/login/", "/api/v1/openapi.json", "/u/" + "0" * 32):
        assert_headers(client.get(url))


def test_signed_in_pages_carry_the_headers(alice):
    client = Client()
    client.force_login(alice)
    for url in ("/campaigns/", "/records/contacts/", "/settings/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_headers(response)
        assert "Strict-Transport-Security" not in response  # http base URL


def test_the_online_view_of_an_email_runs_no_script(client, sent):
    response = client.get(f"/v/{sent.token}")

    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
response = Client().get("/login/", secure=True)
print(json.dumps({
    "status": response.status_code,
    "hsts": response.get("Strict-Transport-Security", ""),
    "csp": response.get("Content-Security-Policy", ""),
    "session_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
}))
"""


def test_it_sends_hsts_when_served_over_https(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRUMBEAT_", "DATABASE_URL"))}
    env.update(
        DRUMBEAT_HOME=str(tmp_path),
        DRUMBEAT_BASE_URL="https://marketing.example.com",
        DRUMBEAT_ALLOWED_HOSTS="testserver,marketing.example.com",
        DJANGO_SETTINGS_MODULE="drumbeat.settings",
    )
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["status"] == 200
    assert found["hsts"].startswith("max-age=31536000")
    assert "frame-ancestors 'none'" in found["csp"]
    assert found["session_secure"] and found["csrf_secure"]


def test_no_template_has_inline_script_the_csp_would_block():
    import re

    offenders = []
    for path in ROOT.glob("drumbeat/*/templates/**/*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            attrs = match.group(1)
            if "src=" not in attrs and "application/json" not in attrs:
                offenders.append(f"{path.relative_to(ROOT)}: inline <script>")
        for match in re.finditer(r"\son[a-z]+\s*=\s*[\"']", text):
            offenders.append(f"{path.relative_to(ROOT)}: inline handler {match.group(0).strip()}")
    assert offenders == []
