"""The email designer in a real browser (issue 15, "Done when"): a marketer builds an email from
an empty design by dragging a heading, a text with a placeholder, a two-column section with an
image and a button, and the footer; sets the brand colour; saves; previews it on a record at
mobile width; sends a test. The message received over SMTP renders in Chromium at 375 and 600 px
without horizontal scroll, every image has an alt text, and its unsubscribe link works.

Also: blocks added and moved from the keyboard, reordered by dragging, duplicated, deleted,
undo/redo; the footer cannot be removed; the checks panel names an image without alt; an image
uploaded into the media library; "Convert to HTML" is one-way."""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
import socket

import pytest
from aiosmtpd.controller import Controller
from PIL import Image
from playwright.sync_api import expect

from drumbeat.brand.media import add_media
from drumbeat.brand.models import MediaFile
from drumbeat.mailing.models import Message, Template

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BRAND_COLOUR = "#0f766e"
MEDIA_HOST = "https://media.acme-garden.example"


class Sink:
    """A real SMTP server's handler keeping what it receives."""

    def __init__(self):
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.append(envelope.original_content)
        return "250 Message accepted"


@pytest.fixture
def smtp(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=5"
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def site(settings, live_server):
    """Links and media in emails point at the live server (so Chromium can follow them)."""
    settings.BASE_URL = live_server.url
    # the library's public URL, as recipients load it (not localhost: the checks refuse that);
    # the browser contexts below are routed to the live server for it
    settings.MEDIA_PUBLIC_URL = MEDIA_HOST + "/media/"
    settings.FROM_EMAIL = "Drumbeat <news@example.org>"
    settings.SENDER_NAME = "Acme Garden"
    settings.SENDER_ADDRESS = "1 Rose Lane, 1000 Brussels"
    return live_server


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def shop_image(site):
    """A 560×200 PNG in the media library (what the image block shows)."""
    media, _ = add_media(png(560, 200), "shop.png")
    return media


def drag(page, selector, target, position=None, source=None):
    """HTML5 drag and drop with the mouse. The designer is first scrolled to the top of the
    window, so that the (sticky) palette stays put while the target scrolls into view."""
    page.evaluate("window.scrollTo(0, document.getElementById('designer').offsetTop - 60)")
    (source or page.locator(selector)).drag_to(target, target_position=position)


def drag_to_end(page, source):
    """Drop into the last section's bottom padding: a new section after it."""
    last = page.locator("[data-dz-canvas] .dz-section").last
    box = last.bounding_box()
    drag(page, source, last, {"x": 6, "y": box["height"] - 6})


def stored_design(page) -> dict:
    return json.loads(page.locator("#id_design").input_value())


def shape(design: dict) -> list:
    """Sections → columns → block types, for comparing layouts."""
    return [[[b["type"] for b in c["blocks"]] for c in s["columns"]] for s in design["sections"]]


def no_horizontal_scroll(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_a_marketer_designs_previews_and_sends_an_email(
    page, browser, site, smtp, shop_image, bob, contacts
):
    errors = []  # script errors and CSP refusals: the page must not have any
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    login(page, site, "bob")
    page.goto(site.url + "/configuration/templates/new/email/")
    page.fill("#id_name", "Spring news")
    page.fill("#id_subject", "Spring offers for ")
    page.locator("#id_subject").press("End")
    page.select_option("#pick-subject", "{{ record.name }}")
    expect(page.locator("#id_subject")).to_have_value("Spring offers for {{ record.name }}")
    page.fill("#id_preview_text", "Our garden is in bloom")

    designer = page.locator("#designer")
    canvas = designer.locator("[data-dz-canvas]")
    props = designer.locator("[data-dz-props]")
    # the palette and the canvas both in view (a drag must not scroll the page under the mouse)
    page.evaluate("window.scrollTo(0, document.getElementById('designer').offsetTop - 60)")

    # 1. a heading onto the empty design
    drag(page, '[data-dz-new="block:heading"]', canvas.locator(".dz-empty"))
    props.get_by_label("Text", exact=True).fill("Spring is here")
    expect(canvas.locator("h1.dz-h")).to_have_text("Spring is here")

    # 2. a text below it, with a placeholder from the picker
    heading = canvas.locator(".dz-block").first
    box = heading.bounding_box()
    drag(page, '[data-dz-new="block:text"]', heading, {"x": 40, "y": box["height"] - 4})
    editor = props.locator(".dz-rte")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Hello ")
    props.get_by_label("Insert a placeholder into the text").select_option("{{ record.name }}")
    editor.press("End")
    page.keyboard.type(", our new roses are ")
    page.keyboard.press("Control+B")
    page.keyboard.type("in")
    page.keyboard.press("Control+B")
    page.keyboard.type(".")

    # 3. a two-column section at the end, an image in its first column, a button in its second
    drag_to_end(page, '[data-dz-new="section:50,50"]')
    drag(page, '[data-dz-new="block:image"]', canvas.locator(".dz-column").nth(1))
    props.get_by_role("button", name="Choose from the library…").click()
    page.get_by_role("button", name="Use shop.png").click()
    expect(props.get_by_label("Image URL", exact=True)).to_have_value(shop_image.url)
    props.get_by_label("Width (px)", exact=True).fill(
        "900"
    )  # wider than the column: clamped on save
    drag(page, '[data-dz-new="block:button"]', canvas.locator(".dz-column").nth(2))
    props.get_by_label("Label", exact=True).fill("Shop the roses")
    props.get_by_label("Link (URL)", exact=True).fill(
        "https://shop.example/roses?c={{ record.id }}"
    )

    # the image has no alt yet: the checks panel says so, and leads to the block
    checks = page.locator("#designer-checks")
    expect(checks.locator('[data-code="image_alt"]')).to_be_visible()
    checks.locator('[data-code="image_alt"] button').click()
    props.get_by_label("Alt text", exact=True).fill("Red roses in our shop")
    expect(checks.locator('[data-code="image_alt"]')).to_have_count(0)

    # 4. the footer; then the brand colour in the email settings
    drag_to_end(page, '[data-dz-new="block:footer"]')
    expect(designer.locator('[data-dz-new="block:footer"]')).to_be_disabled()
    footer = canvas.locator(".dz-block.dz-footer")
    expect(footer.get_by_role("button", name=re.compile("cannot be removed"))).to_be_disabled()
    canvas.locator(".dz-paper").click(position={"x": 5, "y": 5})
    props.get_by_label("Brand colour", exact=True).fill(BRAND_COLOUR)
    expect(checks.locator(".dz-check.is-error")).to_have_count(0)

    design = stored_design(page)
    assert shape(design) == [[["heading", "text"]], [["image"], ["button"]], [["footer"]]]

    page.get_by_role("button", name="Create template").click()
    expect(page.locator(".toast")).to_contain_text("created")
    template = Template.objects.get()
    assert shape(template.design) == shape(design)
    blocks = {
        b["type"]: b for s in template.design["sections"] for c in s["columns"] for b in c["blocks"]
    }
    assert blocks["heading"]["text"] == "Spring is here"
    assert (
        "Hello {{ record.name }}, our new roses are <strong>in</strong>." in blocks["text"]["html"]
    )
    assert blocks["image"]["alt"] == "Red roses in our shop"
    assert blocks["image"]["width"] <= 300  # half of 600 px at most
    assert blocks["button"]["background"] == BRAND_COLOUR  # it wore the brand colour
    assert template.design["settings"]["link_color"] == BRAND_COLOUR
    assert "{{ record.name }}" in template.body_html  # compiled from the design on save
    assert template.subject == "Spring offers for {{ record.name }}"

    # 5. preview on a chosen record at mobile width: rendered, no horizontal scroll
    page.select_option("#preview-record", str(contacts[4].pk))
    page.get_by_role("button", name="Mobile").click()
    frame_el = page.locator("#designer-frame")
    expect(frame_el).to_have_attribute("style", re.compile("width: ?375px"))
    frame = page.frame_locator("#designer-frame")
    expect(frame.locator("body")).to_contain_text("Hello Person 04, our new roses are in.")
    preview = next(f for f in page.frames if f != page.main_frame)
    assert preview.evaluate("document.documentElement.clientWidth") == 375
    assert preview.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    expect(page.locator("[data-dz-subject]")).to_have_text("Spring offers for Person 04")

    assert errors == []

    # 6. send a test, rendered for that record
    page.fill("#test-to", "bob@example.com")
    page.get_by_role("button", name="Send test email").click()
    expect(page.locator(".toast")).to_contain_text("Test email sent to bob@example.com")
    assert len(smtp.received) == 1
    received = email.message_from_bytes(smtp.received[0], policy=email.policy.default)
    assert received["Subject"] == "Spring offers for Person 04"
    html = received.get_body(("html",)).get_content()
    assert BRAND_COLOUR in html.lower()  # the button and the links wear the brand colour

    def mail_reader(width):
        """A browser window showing the received HTML; library images load from the live
        server (standing in for the media host)."""
        context = browser.new_context(viewport={"width": width, "height": 800})
        context.route(
            MEDIA_HOST + "/**",
            lambda route: route.fulfill(
                response=route.fetch(url=route.request.url.replace(MEDIA_HOST, site.url))
            ),
        )
        return context, context.new_page()

    for width in (375, 600):
        context, mail = mail_reader(width)
        mail.set_content(html, wait_until="load")
        assert no_horizontal_scroll(mail), f"horizontal scroll at {width} px"
        alts = mail.eval_on_selector_all("img", "imgs => imgs.map(i => i.getAttribute('alt'))")
        shown = mail.eval_on_selector_all(  # images actually drawn (not the open pixel)
            "img",
            "imgs => imgs.filter(i => i.naturalWidth > 1 && i.width > 1)"
            ".map(i => [i.getAttribute('alt'), i.getBoundingClientRect().right])",
        )
        assert shown, "the shop image did not load"
        assert all(alt and alt.strip() for alt, _ in shown), alts
        assert all(right <= width for _, right in shown)
        expect(mail.get_by_text("Hello Person 04, our new roses are in.")).to_be_visible()
        expect(mail.get_by_role("link", name="Shop the roses")).to_be_visible()
        context.close()

    # the unsubscribe link works: the page asks, the reader confirms, the record is out
    context, mail = mail_reader(375)
    mail.set_content(html)
    href = mail.get_by_role("link", name=re.compile("unsubscribe", re.I)).first.get_attribute(
        "href"
    )
    message = Message.objects.get()
    assert href == f"{site.url}/u/{message.token}"
    mail.goto(href)
    mail.get_by_role("button", name=re.compile("unsubscribe", re.I)).click()
    expect(mail.locator("body")).to_contain_text(re.compile("unsubscribed", re.I))
    context.close()


def test_keyboard_moves_duplicate_delete_undo_redo_and_convert(page, site, bob, contacts):
    login(page, site, "bob")
    page.goto(site.url + "/configuration/templates/new/email/")
    designer = page.locator("#designer")
    canvas = designer.locator("[data-dz-canvas]")
    # blocks added by pressing the palette (keyboard users): each after the selection
    for kind in ("heading", "text", "divider", "button"):
        designer.locator(f'[data-dz-new="block:{kind}"]').press("Enter")
    assert shape(stored_design(page)) == [[["heading", "text", "divider", "button"]]]

    button = canvas.locator(".dz-block.dz-button")
    button.get_by_role("button", name="Move button up").press("Enter")
    assert shape(stored_design(page)) == [[["heading", "text", "button", "divider"]]]
    # focus stays on the moved block's control: press again
    page.keyboard.press("Enter")
    assert shape(stored_design(page)) == [[["heading", "button", "text", "divider"]]]

    divider = canvas.locator(".dz-block.dz-divider")
    divider.click()  # selected: its tools show
    divider.get_by_role("button", name="Duplicate divider").click()
    assert shape(stored_design(page)) == [[["heading", "button", "text", "divider", "divider"]]]
    ids = [b["id"] for b in stored_design(page)["sections"][0]["columns"][0]["blocks"]]
    assert len(set(ids)) == len(ids)

    heading = canvas.locator(".dz-block.dz-heading")
    heading.hover()
    heading.get_by_role("button", name="Delete heading").click()
    assert shape(stored_design(page)) == [[["button", "text", "divider", "divider"]]]

    designer.get_by_role("button", name="Undo").click()
    assert shape(stored_design(page)) == [[["heading", "button", "text", "divider", "divider"]]]
    canvas.locator(".dz-paper").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+Z")  # the duplicate undone
    assert shape(stored_design(page)) == [[["heading", "button", "text", "divider"]]]
    page.keyboard.press("Control+Shift+Z")
    assert shape(stored_design(page)) == [[["heading", "button", "text", "divider", "divider"]]]

    # a block dragged by the mouse to the top of its column
    last = canvas.locator(".dz-block.dz-divider").last
    drag(page, None, canvas.locator(".dz-block.dz-heading"), {"x": 30, "y": 4}, source=last)
    assert shape(stored_design(page)) == [[["divider", "heading", "button", "text", "divider"]]]

    # the footer: one at most, and it stays
    designer.locator('[data-dz-new="block:footer"]').press("Enter")
    expect(designer.locator('[data-dz-new="block:footer"]')).to_be_disabled()
    footer_block = canvas.locator(".dz-block.dz-footer")
    footer_block.focus()
    page.keyboard.press("Delete")
    assert "footer" in json.dumps(shape(stored_design(page)))

    # an image uploaded from the properties panel goes to the media library and into the block;
    # a file that is no image is refused, saying why
    designer.locator('[data-dz-new="block:image"]').press("Enter")
    page.set_input_files(
        "#dz-upload", files=[{"name": "fake.png", "mimeType": "image/png", "buffer": b"hello"}]
    )
    expect(designer.locator(".dz-img-error")).to_contain_text("image")
    assert not MediaFile.objects.exists()
    page.set_input_files(
        "#dz-upload", files=[{"name": "rose.png", "mimeType": "image/png", "buffer": png(40, 30)}]
    )
    media = designer.get_by_label("Image URL", exact=True)
    expect(media).to_have_value(re.compile(r"/media/[0-9a-f]{40}\.png$"))
    uploaded = MediaFile.objects.get()
    assert (uploaded.original_name, uploaded.width, uploaded.height) == ("rose.png", 40, 30)
    assert media.input_value() == uploaded.url

    page.fill("#id_name", "Keyboard made")
    page.fill("#id_subject", "Hi")
    page.get_by_role("button", name="Create template").click()
    expect(page.locator(".toast")).to_contain_text("created")
    template = Template.objects.get()
    assert shape(template.design)[0] == [["divider", "heading", "button", "text", "divider"]]

    # Convert to HTML, confirmed: the design goes, the compiled HTML stays, the HTML editor shows
    compiled = template.body_html
    page.get_by_role("button", name="Convert to HTML").click()
    page.locator("#confirm-ok").click()
    expect(page.locator(".toast")).to_contain_text("converted to HTML")
    template.refresh_from_db()
    assert template.design is None
    assert template.body_html == compiled
    expect(page.locator("#id_body_html")).to_be_visible()
    expect(page.get_by_role("button", name="Convert to HTML")).to_have_count(0)


def test_leaving_with_unsaved_work_asks_first(page, site, bob):
    login(page, site, "bob")
    page.goto(site.url + "/configuration/templates/new/email/")
    asked = []

    def answer(dialog):
        asked.append(dialog.type)
        dialog.dismiss()  # stay

    page.on("dialog", answer)
    page.locator('[data-dz-new="block:heading"]').press("Enter")
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("[data-dz-canvas] .dz-heading")).to_be_visible()
    assert asked == ["beforeunload"]
    assert page.url.endswith("/configuration/templates/new/email/")
