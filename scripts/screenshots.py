"""Screenshots of every main page, for docs/screenshots/ (and for looking at the UI).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts the app on a temporary data folder seeded with the demo data, logs in as the demo
administrator with Debian's Chromium (Playwright) and saves each page at 1280 px wide, plus the
campaign dashboard at 390 px (a phone).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(home: Path) -> tuple[str, str]:
    """Migrate and seed `home`; returns the demo login (username, password)."""
    env = {
        **os.environ,
        "DRUMBEAT_HOME": str(home),
        "DJANGO_SETTINGS_MODULE": "drumbeat.settings",
        "PYTHONPATH": str(ROOT),
    }
    code = (
        "import django; django.setup();"
        "from django.core.management import call_command; call_command('migrate', verbosity=0);"
        "from drumbeat.demo import seed; login = seed();"
        "from scripts.screenshots import add_campaigns; add_campaigns();"
        "print(login.username, login.password)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    username, password = out.stdout.strip().splitlines()[-1].split()
    return username, password


def add_campaigns() -> None:
    """Campaigns to show when the demo data has none (two from templates, one running with a
    pass of the engine done), and a test participant whose email step has run, so the test
    screen shows a sent message with its Simulate buttons."""
    from drumbeat.accounts.models import User
    from drumbeat.automation import campaign_templates, services
    from drumbeat.automation.engine.runner import run_once
    from drumbeat.automation.models import Campaign, Participant

    admin = User.objects.filter(username="admin").first()
    if not Campaign.objects.exists():
        running = campaign_templates.instantiate("tag_hot_contacts", admin)
        campaign_templates.instantiate("prioritize_hot_leads", admin)
        campaign_templates.instantiate("commercial_prospection", admin)
        services.start_campaign(running, admin)
        run_once()
    if Participant.objects.filter(is_test=True).exists():
        return
    draft = Campaign.objects.filter(state=Campaign.State.DRAFT).first()
    record = services.matching_records(draft).first() if draft else None
    if record is None:
        return
    participant = services.launch_test(draft, record.pk, admin)
    for trace in participant.traces.filter(parent__isnull=True):
        services.run_trace_now(trace, admin)


def pages(page, base: str) -> list[tuple[str, str]]:
    """(file name, path) of the pages to capture; record pages use the first record."""

    def first(path: str, css: str) -> str | None:
        page.goto(base + path)
        link = page.locator(css).first
        return link.get_attribute("href") if link.count() else None

    result = [
        ("dashboard", "/"),
        ("contacts", "/records/contacts/"),
        ("leads", "/records/leads/"),
        ("events", "/records/events/"),
        ("registrations", "/records/registrations/"),
        ("mailing-lists", "/records/mailing-lists/"),
        ("mailing-contacts", "/records/mailing-contacts/"),
        ("email-blacklist", "/records/email-blacklist/"),
        ("contact-new", "/records/contacts/new/"),
        ("contacts-import", "/records/contacts/import/"),
        ("users", "/settings/users/"),
        ("tokens", "/settings/tokens/"),
        ("settings", "/settings/"),
    ]
    for name, path in [
        ("contact-detail", "/records/contacts/"),
        ("lead-detail", "/records/leads/"),
        ("event-detail", "/records/events/"),
        ("mailing-list-detail", "/records/mailing-lists/"),
        ("mailing-contact-detail", "/records/mailing-contacts/"),
    ]:
        href = first(path, "table .row-link")
        if href:
            result.append((name, href))
    extra = [
        ("campaign-templates", "/campaigns/?q=zzzz-no-such-campaign"),
        ("participants", "/reporting/participants/"),
        ("traces", "/reporting/traces/"),
        ("link-tracker", "/reporting/links/"),
        ("templates", "/configuration/templates/"),
        ("brand-kit", "/configuration/brand/"),
        ("media-library", "/configuration/media/"),
        ("server-actions", "/configuration/server-actions/"),
        ("outbox", "/outbox/"),
    ]
    for name, path in extra:
        response = page.request.get(base + path)
        if response.status == 200:
            result.append((name, path))
    result.append(("campaigns-list", "/campaigns/?view=list"))
    href = first("/campaigns/", 'section[aria-label="Running"] a.kanban-card') or first(
        "/campaigns/", "a.kanban-card"
    )
    if href:
        result.append(("campaign-workflow", href))
        result.append(("campaign-settings", href + "settings/"))
        result.append(("campaign-tests", href + "tests/"))
    split = first("/campaigns/", 'a.kanban-card:has-text("Prioritize Hot leads")')
    if split:  # the demo runs this template with its split and goal
        result.append(("campaign-results", split + "results/"))
    test = first("/reporting/participants/?tests=1", "table .row-link")
    if test:
        result.append(("test-screen", test))
    template = first("/configuration/templates/", "table .row-link")
    if template:
        result.append(("template-editor", template))
    action = first("/configuration/server-actions/", "table .row-link")
    if action:
        result.append(("server-action-editor", action))
    return result


def designer_shots(page, out: Path) -> None:
    """On a designed template: a block selected (its properties shown) for the editor's shot,
    and the preview at mobile width (designer-mobile-preview.png)."""
    if not page.locator("#designer").count():
        return
    page.locator("#designer-frame[data-rendered]").wait_for()
    page.get_by_role("button", name="Mobile").click()
    page.wait_for_timeout(400)
    preview = page.locator(".dz-preview")
    preview.scroll_into_view_if_needed()
    preview.screenshot(path=str(out / "designer-mobile-preview.png"))
    print("saved designer-mobile-preview")
    page.get_by_role("button", name="Desktop").click()
    blocks = page.locator("[data-dz-canvas] .dz-text")
    if blocks.count():
        blocks.first.click()
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument(
        "--only", default="", help="comma-separated page names (e.g. brand-kit,media-library)"
    )
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="drumbeat-shots-") as tmp:
        home = Path(tmp)
        username, password = prepare(home)
        port = free_port()
        env = {**os.environ, "DRUMBEAT_HOME": str(home), "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [sys.executable, "-m", "drumbeat.cli", "serve", "--bind", f"127.0.0.1:{port}"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/login/", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1280, "height": 860})
                page = context.new_page()
                page.goto(base + "/login/")
                if not only or "login" in only:
                    page.screenshot(path=str(out / "login.png"))
                page.fill("#id_username", username)
                page.fill("#id_password", password)
                page.click("button[type=submit]")
                page.wait_for_load_state("networkidle")
                for name, path in pages(page, base):
                    if only and name not in only:
                        continue
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    if name == "template-editor":
                        designer_shots(page, out)
                    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                    print("saved", name)
                if not only:
                    phone = browser.new_context(
                        viewport={"width": 390, "height": 844},
                        storage_state=context.storage_state(),
                    )
                    mobile = phone.new_page()
                    mobile.goto(base + "/")
                    mobile.wait_for_load_state("networkidle")
                    mobile.screenshot(path=str(out / "dashboard-390.png"), full_page=True)
                    mobile.goto(base + "/records/contacts/")
                    mobile.screenshot(path=str(out / "contacts-390.png"), full_page=True)
                    workflow = dict(pages(mobile, base)).get("campaign-workflow")
                    if workflow:
                        mobile.goto(base + workflow)
                        mobile.screenshot(
                            path=str(out / "campaign-workflow-390.png"), full_page=True
                        )
                    print("saved dashboard-390")
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
