"""The docs page renders every operation in a real browser, from local files only."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{CHROMIUM} is required with CI=true")
        pytest.skip(f"{CHROMIUM} is not installed (apt install chromium)")
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()


@pytest.mark.browser
def test_the_docs_page_lists_the_operations_without_a_cdn(page, live_server, db):
    hosts: set[str] = set()
    errors: list[str] = []
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(live_server.url + "/api/v1/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() > 50
    assert page.get_by_text("Drumbeat API").first.is_visible()
    assert hosts == {urlsplit(live_server.url).netloc}
    assert errors == []
