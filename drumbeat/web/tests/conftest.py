"""Fixtures of the web tests: personas, logged-in clients, records, and the login helper.

alice is an administrator, bob a marketing user. Browser tests drive Debian's Chromium
through Playwright against pytest-django's live_server, with the `browser` and `page`
fixtures of the root conftest.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from drumbeat.accounts.models import User
from drumbeat.contacts.services import create_contact

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _home(settings, tmp_path):
    """Each test gets its own data folder (import jobs live there)."""
    settings.HOME = Path(tmp_path)


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user(
        "alice", "alice@example.com", PASSWORD, role=User.Role.ADMIN, first_name="Alice"
    )


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user(
        "bob", "bob@example.com", PASSWORD, role=User.Role.MARKETING, first_name="Bob"
    )


@pytest.fixture
def admin_client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def marketer_client(bob) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def contacts(db, bob):
    """Thirty contacts, the first three Belgian, one of them archived later by tests."""
    made = []
    for i in range(30):
        made.append(
            create_contact(
                name=f"Person {i:02d}",
                email=f"person{i:02d}@example.com",
                country="BE" if i < 3 else "FR",
                salesperson=bob,
                tags=["VIP"] if i % 10 == 0 else [],
                created_at=timezone.now() - dt.timedelta(days=i),
            )
        )
    return made


# --- browser -------------------------------------------------------------------------------------
# `browser` and `page` are shared by every package's browser tests: see the root conftest.py.


def login(page, live_server, username: str, password: str = PASSWORD) -> None:
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
