"""The docs page renders every operation in a real browser, from local files only.

Uses the shared `browser`/`page` fixtures of the root conftest.py, so it can share a test
process with the web package's browser tests."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

MIN_OPERATIONS = 50


@pytest.mark.browser
def test_the_docs_page_lists_the_operations_without_a_cdn(page, live_server, db):
    hosts: set[str] = set()
    errors: list[str] = []
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(live_server.url + "/api/v1/docs")
    page.wait_for_function(
        "(least) => document.querySelectorAll('.opblock').length > least", arg=MIN_OPERATIONS
    )
    page.get_by_text("Drumbeat API").first.wait_for(state="visible")  # page's 30 s timeout
    page.wait_for_load_state("networkidle")
    assert hosts == {urlsplit(live_server.url).netloc}
    assert errors == []
