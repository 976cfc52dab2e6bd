"""Brand kit and Media library in a real browser (Chromium): the preview follows the form under
the app's Content-Security-Policy, social rows are added and saved, an image uploaded from the
kit becomes the logo; the library refuses a fake image and deletes with confirmation."""

import pytest
from playwright.sync_api import expect

from drumbeat.brand.models import BrandKit, MediaFile
from drumbeat.brand.tests.conftest import image_bytes

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def media_settings(settings, tmp_path):
    settings.MEDIA_STORAGE_URL = ""
    settings.MEDIA_PUBLIC_URL = "https://news.example.com/media/"
    settings.SENDER_ADDRESS = "1 Main Street, Springfield"


def test_a_marketer_sets_up_the_brand(page, live_server, bob, media_settings, tmp_path):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )
    login(page, live_server, "bob")
    page.goto(live_server.url + "/configuration/templates/")
    page.get_by_role("link", name="Brand kit").click()
    preview = page.locator("#mail-preview")
    expect(preview.locator("#preview-address")).to_have_text("1 Main Street, Springfield")

    page.fill("#id_sender_name", "Acme Bakery")
    expect(preview.locator("#preview-name")).to_have_text("Acme Bakery")
    expect(preview.locator("#preview-name-logo")).to_have_text("Acme Bakery")
    page.locator("#id_primary_color").fill("#b45309")
    expect(page.locator('[data-hex-for="id_primary_color"]')).to_have_text("#b45309")
    button_color = preview.locator(".mail-button").evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert button_color == "rgb(180, 83, 9)"
    page.select_option("#id_heading_font", "georgia")
    heading_font = preview.locator("h3").evaluate("e => getComputedStyle(e).fontFamily")
    assert heading_font.startswith("Georgia")

    logo = tmp_path / "logo.png"
    logo.write_bytes(image_bytes("PNG", (200, 60)))
    page.set_input_files("#id_logo_upload", str(logo))
    expect(preview.locator("#preview-logo")).to_be_visible()
    page.select_option("#social-network-1", "instagram")
    page.fill("#social-url-1", "https://instagram.com/acme")
    page.get_by_role("button", name="Add a link").click()
    rows = page.locator("[data-social-row]")
    expect(rows).to_have_count(2)
    rows.nth(1).locator("select").select_option("website")
    rows.nth(1).locator("input").fill("https://acme.example")
    expect(preview.locator("#preview-social span")).to_have_text(["Instagram", "Website"])

    page.get_by_role("button", name="Save brand kit").click()
    expect(page.locator(".toast")).to_contain_text("Brand kit saved.")
    kit = BrandKit.objects.get()
    assert kit.sender_name == "Acme Bakery" and kit.primary_color == "#b45309"
    assert kit.logo.width == 200 and kit.heading_font == "georgia"
    assert [link["network"] for link in kit.social_links] == ["instagram", "website"]
    # the logo from the library shows in the preview (served by Drumbeat under the page's CSP);
    # waited for: the page after the save loads it after the toast may already show
    logo_loaded = "e => e.complete && e.naturalWidth > 0"
    page.wait_for_function(f"() => ({logo_loaded})(document.querySelector('#preview-logo'))")
    natural = preview.locator("#preview-logo").evaluate("e => e.naturalWidth")
    assert natural == 200
    assert errors == []

    page.get_by_role("link", name="Media library").first.click()
    card = page.locator(".media-card", has_text="logo.png")
    expect(card).to_contain_text("Brand kit logo")
    expect(
        card.get_by_role("button", name="Delete (not possible: brand kit logo)")
    ).to_be_disabled()
    fake = tmp_path / "photo.jpg"
    fake.write_bytes(b"<html>not a photo</html>")
    page.set_input_files("#id_file", str(fake))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-error")).to_contain_text("not an image the library takes")
    banner = tmp_path / "banner.gif"
    banner.write_bytes(image_bytes("GIF", (300, 100)))
    page.set_input_files("#id_file", str(banner))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".toast")).to_contain_text("“banner.gif” uploaded.")
    page.get_by_role("button", name="Delete banner.gif").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Delete “banner.gif”?")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator(".toast")).to_contain_text("“banner.gif” deleted.")
    assert list(MediaFile.objects.values_list("original_name", flat=True)) == ["logo.png"]
