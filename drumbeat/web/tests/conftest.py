"""Fixtures of the web tests: personas, logged-in clients, records, and the browser.

alice is an administrator, bob a marketing user. Browser tests drive Debian's Chromium
through Playwright against pytest-django's live_server (DESIGN §7).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from drumbeat.accounts.models import User
from drumbeat.contacts.services import create_contact

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{CHROMIUM} is required with CI=true")
        pytest.skip(f"{CHROMIUM} is not installed (apt install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def login(page, live_server, username: str, password: str = PASSWORD) -> None:
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
