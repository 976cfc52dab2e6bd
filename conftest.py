"""Test-session wiring shared by every app's tests.

Two passes make up `make test`: the whole suite on SQLite, then the database-touching tests
(`@pytest.mark.postgres`) and the PostgreSQL-only ones again with DATABASE_URL pointing at
PostgreSQL. Without PostgreSQL the second pass is skipped with a reason, except with CI=true
where a missing service is a failure.

The browser tests of every package share one Chromium per test process (`browser`, `page`
below): Playwright's sync API allows a single instance per thread, so a second
`sync_playwright()` in the same process fails with "Sync API inside the asyncio loop".
Whatever was skipped for want of a service or the browser is summed up at the end of the run
with the command that fixes it.
"""

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from scripts.system_needs import CHROMIUM, chromium_install_command, fix_for, postgres_start_command

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API + live_server
# Shared builders with assertion helpers, imported by several test packages.
pytest.register_assert_rewrite("drumbeat.automation.tests.fixtures")

IS_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: the machine may be busy with other test processes; waits are on conditions.
BROWSER_TIMEOUT_MS = 30_000


def pytest_configure(config):
    import logging

    # Server threads (aiosmtpd, http.server) may log after pytest closed the capture stream
    # their handler was bound to; that is noise, not a failure.
    logging.raiseExceptions = False


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run the large-size tests")


def _on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config, items):
    on_pg = _on_postgres()
    keep, drop = [], []
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        if on_pg:
            wanted = bool(marks & {"postgres", "postgres_only"})
        else:
            wanted = "postgres_only" not in marks
        if "slow" in marks and not config.getoption("--run-slow"):
            wanted = False
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_sessionstart(session):
    if not _on_postgres():
        return
    import psycopg

    url = os.environ["DATABASE_URL"]
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        fix = f"start it with `{postgres_start_command()}`, or run only `make test-sqlite`"
        if IS_CI:
            pytest.exit(f"PostgreSQL is required with CI=true but unreachable: {exc}; {fix}", 1)
        pytest.exit(f"PostgreSQL unreachable, PostgreSQL pass SKIPPED: {exc}; {fix}", 0)


def pytest_terminal_summary(terminalreporter):
    """One line per reason something was skipped, so a run without CI=true is never silently
    partial."""
    reasons = Counter(_skip_reason(report) for report in terminalreporter.stats.get("skipped", []))
    if not reasons:
        return
    terminalreporter.section("skipped on this machine", yellow=True)
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"SKIPPED {count} test(s): {reason}", yellow=True)
        if fix := fix_for(reason):
            terminalreporter.write_line(f"    to run them: {fix}")
    if not IS_CI:
        terminalreporter.write_line("With CI=true these skips are failures.")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, one per test process, shared by every package's browser tests."""
    if not Path(CHROMIUM).exists():
        if IS_CI:
            pytest.fail(f"{CHROMIUM} is required with CI=true: run `{chromium_install_command()}`")
        pytest.skip(f"{CHROMIUM} is not installed (make test installs it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context per test (no cookies carried over), waiting up to 30 s."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    yield page
    context.close()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database name of our own on PostgreSQL, so parallel runs do not collide."""
    from django.conf import settings

    if _on_postgres():
        db = settings.DATABASES["default"]
        db.setdefault("TEST", {})
        db["TEST"]["NAME"] = f"test_drumbeat_{os.getpid()}"


@pytest.fixture(scope="session", autouse=True)
def _home_of_this_worker(worker_id):
    """Each xdist worker keeps the state it writes under DRUMBEAT_HOME at run time (the send
    journal, the transport pause) in a folder of its own: the two workers' tests otherwise
    shared them (and, on SQLite, one key for their identical in-memory database names), so
    one worker's clean-up after a test wiped the other's pause or journal mid-test."""
    from django.conf import settings

    base = Path(settings.HOME)
    settings.HOME = base / f"worker-{worker_id}"
    settings.HOME.mkdir(parents=True, exist_ok=True)
    yield
    settings.HOME = base


@pytest.fixture(autouse=True)
def _no_send_journal_left_over():
    """A batch's send journal (mailing/journal.py) left by one test (a simulated crash) must not
    be read by the next test's recovery: record ids are reused across tests."""
    from drumbeat.mailing import journal

    shutil.rmtree(journal.directory(), ignore_errors=True)
    yield


@pytest.fixture(autouse=True)
def _no_transport_pause():
    """A transport pause (drumbeat/mailing/circuit.py) tripped by one test's failing servers
    must not leak into the next test."""
    yield
    from drumbeat.mailing import circuit

    for channel in circuit.CHANNELS:
        circuit.resume(channel)


@pytest.fixture(autouse=True)
def _no_webhook_subscriptions_cached():
    """Each test starts with an empty database: outbound webhooks (automation/outbound.py) know
    without a query that no endpoint subscribes, so statement counts never depend on test order.
    Saving an endpoint drops this, as in production."""
    from drumbeat.automation import outbound

    outbound.prime_subscriptions(())
    yield
    outbound.forget_subscriptions()


@pytest.fixture(autouse=True)
def _no_rollup_left_over(request):
    """Between transactional tests Django empties SQLite table by table (DELETE, where
    PostgreSQL truncates without triggers): rows deleted after their roll-up table was emptied
    leave negative counts behind. Such a test starts from empty roll-ups, as its tables are."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction") or _on_postgres():
        yield
        return
    request.getfixturevalue("transactional_db")
    from django.db import connection

    from drumbeat.automation import rollup_models

    tables = [
        model._meta.db_table
        for model in vars(rollup_models).values()
        if isinstance(model, type) and model.__name__.endswith("Rollup")
    ]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")
    yield
