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
# As in a deployment, emails load library images from a public address, not from localhost
# (which the designer's checks flag); the app shows them from its own /media/ meanwhile.
MEDIA_PUBLIC_URL = "https://media.harbor-and-pine.example/media/"
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
        "DRUMBEAT_MEDIA_PUBLIC_URL": MEDIA_PUBLIC_URL,
        "DJANGO_SETTINGS_MODULE": "drumbeat.settings",
        "PYTHONPATH": str(ROOT),
    }
    code = (
        "import django; django.setup();"
        "from django.core.management import call_command; call_command('migrate', verbosity=0);"
        "from drumbeat.demo import seed; login = seed();"
        "from scripts.screenshots import add_campaigns, add_designed_template;"
        "add_campaigns(); add_designed_template();"
        "print(login.username, login.password)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    username, password = out.stdout.strip().splitlines()[-1].split()
    return username, password


def add_designed_template() -> None:
    """A designed email (the designer's screenshots) when the demo data has none."""
    from drumbeat.brand.models import MediaFile
    from drumbeat.mailing import services
    from drumbeat.mailing.models import Template

    if Template.objects.filter(design__isnull=False).exists():
        return
    images = {m.original_name: m.url for m in MediaFile.objects.all()}
    hero = images.get("spring-hero.jpg", "")
    pack = images.get("trail-backpack.png", "")
    blocks = [
        {
            "id": "b1",
            "type": "image",
            "src": hero,
            "alt": "Mountains over a lake at dawn",
            "href": "",
            "width": 568,
            "align": "center",
        },
        {
            "id": "b2",
            "type": "heading",
            "text": "Spring trails are open, {{ record.name }}",
            "level": 1,
            "align": "left",
            "color": None,
        },
        {
            "id": "b3",
            "type": "text",
            "align": "left",
            "html": "<p>The snow is gone from the lower paths and our "
            "<strong>spring range</strong> "
            "is in the shop: light packs, rain shells and boots broken in by our staff.</p>",
        },
    ]
    design = {
        "version": 1,
        "settings": {},
        "sections": [
            {
                "id": "s1",
                "layout": [100],
                "background": None,
                "padding": 16,
                "columns": [{"blocks": blocks}],
            },
            {
                "id": "s2",
                "layout": [33, 67],
                "background": "#f4f1ea",
                "padding": 16,
                "columns": [
                    {
                        "blocks": [
                            {
                                "id": "b4",
                                "type": "image",
                                "src": pack,
                                "alt": "Trail backpack",
                                "href": "",
                                "width": 160,
                                "align": "center",
                            }
                        ]
                    },
                    {
                        "blocks": [
                            {
                                "id": "b5",
                                "type": "heading",
                                "text": "The 28 L trail pack",
                                "level": 2,
                                "align": "left",
                                "color": None,
                            },
                            {
                                "id": "b6",
                                "type": "text",
                                "align": "left",
                                "html": "<p>Rain cover, hip pockets, 1.1 kg.</p>",
                            },
                            {
                                "id": "b7",
                                "type": "button",
                                "label": "See the pack",
                                "href": "https://shop.example/pack",
                                "background": "#1f6f5c",
                                "color": "#ffffff",
                                "align": "left",
                            },
                        ]
                    },
                ],
            },
            {
                "id": "s3",
                "layout": [100],
                "background": None,
                "padding": 16,
                "columns": [
                    {
                        "blocks": [
                            {"id": "b8", "type": "divider", "color": "#e5e7eb", "thickness": 1},
                            {
                                "id": "b9",
                                "type": "footer",
                                "text": "You receive this because you joined our trail club.",
                            },
                        ]
                    }
                ],
            },
        ],
    }
    services.create_template(
        name="Spring trails (designed)",
        kind="email",
        target="contacts.contact",
        subject="Spring trails are open, {{ record.name }}",
        preview_text="Light packs, rain shells and boots",
        design=design,
    )


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
    template = first(  # a designed email when there is one (the designer)
        "/configuration/templates/", "tr:has([data-designed]) .row-link"
    ) or first("/configuration/templates/", "table .row-link")
    if template:
        result.append(("template-editor", template))
    action = first("/configuration/server-actions/", "table .row-link")
    if action:
        result.append(("server-action-editor", action))
    return result


def designer_shots(page, out: Path) -> bool:
    """On a designed template: the preview at mobile width (designer-mobile-preview.png), then
    the editor with a block selected (template-editor.png). The window is made as tall as the
    page instead of a full-page capture, which leaves the preview's iframe blank."""
    if not page.locator("#designer").count():
        return False
    page.locator("#designer-frame[data-rendered]").wait_for()
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": height})
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("button", name="Mobile").click()
    page.wait_for_timeout(600)
    page.locator(".dz-bottom").screenshot(path=str(out / "designer-mobile-preview.png"))
    print("saved designer-mobile-preview")
    page.get_by_role("button", name="Desktop").click()
    blocks = page.locator("[data-dz-canvas] .dz-block.dz-text")
    if blocks.count():
        blocks.first.click()
    page.mouse.move(0, 0)
    page.wait_for_timeout(600)
    page.screenshot(path=str(out / "template-editor.png"))
    page.set_viewport_size(size)
    return True


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
        env = {
            **os.environ,
            "DRUMBEAT_HOME": str(home),
            "DRUMBEAT_MEDIA_PUBLIC_URL": MEDIA_PUBLIC_URL,
            "PYTHONPATH": str(ROOT),
        }
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
                    if name == "template-editor" and designer_shots(page, out):
                        print("saved", name)
                        continue
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
