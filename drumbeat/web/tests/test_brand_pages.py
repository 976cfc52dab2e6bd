"""Configuration → Brand kit and Media library through the web UI (session auth, both roles):
saving the kit with colours, fonts, logo upload and social links; field errors; uploads with
clear refusals; delete refused for the kit's logo; the image picker's JSON endpoint."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from drumbeat.brand.kit import current_brand, update_brand_kit
from drumbeat.brand.media import add_media
from drumbeat.brand.models import BrandKit, MediaFile
from drumbeat.brand.tests.conftest import image_bytes
from drumbeat.mailing.models import Template

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

KIT = {
    "sender_name": "Acme Bakery",
    "postal_address": "3 Mill Lane\r\nLeeds LS1 4AP",
    "logo": "",
    "logo_url": "",
    "logo_width": "180",
    "primary_color": "#b45309",
    "text_color": "#1f2937",
    "link_color": "#b45309",
    "background_color": "#fef3c7",
    "content_background_color": "#ffffff",
    "font": "georgia",
    "heading_font": "trebuchet",
    "social_network": ["instagram", "", "website"],
    "social_url": ["https://instagram.com/acme", "", "https://acme.example"],
}


@pytest.fixture(autouse=True)
def media_settings(settings):
    settings.MEDIA_STORAGE_URL = ""
    settings.MEDIA_PUBLIC_URL = "https://news.example.com/media/"


def test_marketing_users_save_the_kit_with_an_uploaded_logo(marketer_client):
    page = marketer_client.get("/configuration/brand/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'type="color"' in html and 'name="social_network"' in html
    assert 'id="mail-preview"' in html
    assert "img-src 'self' data: blob: https:" in page["Content-Security-Policy"]

    logo = image_bytes("PNG", (300, 80))
    r = marketer_client.post(
        "/configuration/brand/", {**KIT, "logo_upload": SimpleUploadedFile("logo.png", logo)}
    )

    assert r.status_code == 302, r.content.decode()[:2000]
    kit = BrandKit.objects.get()
    assert kit.logo.width == 300 and kit.logo.original_name == "logo.png"
    assert kit.postal_address == "3 Mill Lane\nLeeds LS1 4AP"
    assert kit.social_links == [
        {"network": "instagram", "url": "https://instagram.com/acme"},
        {"network": "website", "url": "https://acme.example"},
    ]
    brand = current_brand()
    assert (brand.sender_name, brand.font, brand.heading_font) == (
        "Acme Bakery",
        "georgia",
        "trebuchet",
    )
    assert brand.logo_url == f"https://news.example.com/media/{kit.logo.name}"
    again = marketer_client.get("/configuration/brand/").content.decode()
    assert f'src="/media/{kit.logo.name}"' in again  # preview from this site
    assert "Instagram" in again and "Leeds LS1 4AP" in again


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"primary_color": "orange"}, "Enter a colour as #rrggbb."),
        ({"logo_width": "4000"}, "less than or equal to 600"),
        ({"font": "comic"}, "Select a valid choice"),
        ({"logo_url": "javascript:alert(1)"}, "Enter an http:// or https:// URL."),
        (
            {"social_url": ["ftp://acme.example", "", ""]},
            "Link 1 (instagram): enter an http(s) URL",
        ),
        ({"social_network": ["", "", ""]}, "unknown network"),
        (
            {"logo_upload": SimpleUploadedFile("logo.png", b"not an image")},
            "not an image the library takes",
        ),
    ],
)
def test_bad_values_are_shown_and_nothing_is_saved(admin_client, changes, message):
    r = admin_client.post("/configuration/brand/", {**KIT, **changes})
    assert r.status_code == 422
    assert message in r.content.decode()
    assert 'value="Acme Bakery"' in r.content.decode()  # what was typed stays
    assert not BrandKit.objects.exists()
    assert not MediaFile.objects.exists()


def test_the_library_uploads_lists_and_refuses_wrong_files(marketer_client, settings):
    r = marketer_client.post(
        "/configuration/media/", {"file": SimpleUploadedFile("hero.jpg", image_bytes("JPEG"))}
    )
    assert r.status_code == 302
    media = MediaFile.objects.get()
    page = marketer_client.get("/configuration/media/").content.decode()
    assert "hero.jpg" in page and "JPEG · 40×20" in page
    assert f'data-copy="https://news.example.com/media/{media.name}"' in page
    assert f'src="/media/{media.name}"' in page

    r = marketer_client.post(
        "/configuration/media/", {"file": SimpleUploadedFile("doc.png", b"%PDF-1.7")}
    )
    assert r.status_code == 422
    assert "This file is not an image the library takes" in r.content.decode()
    settings.MEDIA_MAX_BYTES = 2048
    big = image_bytes("PNG", (300, 300), color=(5, 6, 7)) + b"\0" * 4096
    r = marketer_client.post("/configuration/media/", {"file": SimpleUploadedFile("b.png", big)})
    assert "The file is too big" in r.content.decode() and "the limit is 2 KB" in r.content.decode()
    r = marketer_client.post("/configuration/media/", {})
    assert "Choose an image file to upload." in r.content.decode()
    assert MediaFile.objects.count() == 1


def test_delete_refuses_the_logo_and_warns_about_templates(admin_client):
    logo = add_media(image_bytes("PNG"), "logo.png")[0]
    banner = add_media(image_bytes("GIF"), "banner.gif")[0]
    update_brand_kit(logo=logo)
    Template.objects.create(
        name="Spring news",
        kind="email",
        target="contacts.contact",
        subject="Hi",
        body_html=f'<img src="{banner.url}" alt="Spring">',
    )
    page = admin_client.get("/configuration/media/").content.decode()
    assert "Brand kit logo" in page
    assert "It is used in 1 template (Spring news)" in page

    r = admin_client.post(f"/configuration/media/{logo.pk}/delete/", follow=True)
    assert "brand kit&#x27;s logo" in r.content.decode() or "brand kit's logo" in r.content.decode()
    assert MediaFile.objects.filter(pk=logo.pk).exists()

    admin_client.post(f"/configuration/media/{banner.pk}/delete/")
    assert not MediaFile.objects.filter(pk=banner.pk).exists()
    assert admin_client.post("/configuration/media/999999/delete/").status_code == 404


def test_the_picker_endpoint_lists_and_uploads(marketer_client):
    empty = marketer_client.get("/configuration/media/library.json").json()
    assert empty["items"] == [] and "image/webp" in empty["accepted"]

    r = marketer_client.post(
        "/configuration/media/library.json",
        {"file": SimpleUploadedFile("hero.webp", image_bytes("WEBP", (600, 300)))},
    )
    assert r.status_code == 201
    item = r.json()["item"]
    assert (item["width"], item["height"], item["content_type"]) == (600, 300, "image/webp")
    assert item["url"] == f"https://news.example.com/media/{item['name']}"
    assert item["thumbnail_url"] == f"/media/{item['name']}"
    listing = marketer_client.get("/configuration/media/library.json").json()
    assert [i["id"] for i in listing["items"]] == [item["id"]]

    r = marketer_client.post(
        "/configuration/media/library.json", {"file": SimpleUploadedFile("x.png", b"<svg/>")}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "file"
    assert marketer_client.post("/configuration/media/library.json", {}).status_code == 422


def test_the_picker_endpoint_needs_a_session_and_csrf(marketer_client, bob):
    assert Client().get("/configuration/media/library.json").status_code == 401
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(bob)
    r = strict.post(
        "/configuration/media/library.json",
        {"file": SimpleUploadedFile("a.png", image_bytes("PNG"))},
    )
    assert r.status_code == 403
    assert (
        json.loads(marketer_client.get("/configuration/media/library.json").content)["items"] == []
    )


def test_both_pages_are_in_the_configuration_navigation(marketer_client):
    html = marketer_client.get("/configuration/templates/").content.decode()
    assert 'href="/configuration/brand/"' in html and 'href="/configuration/media/"' in html


def test_the_settings_overview_shows_sender_and_media(admin_client, settings):
    settings.SENDER_ADDRESS = "1 Main Street"
    settings.MEDIA_STORAGE_URL = "s3://media-bucket/mail?endpoint=https://u:secret@s3.example.net"
    html = admin_client.get("/settings/").content.decode()
    assert "1 Main Street" in html
    assert "bucket s3://media-bucket/mail/ at https://***@s3.example.net" in html
    assert "secret" not in html.split("Sender and media")[1].split("</section>")[0]
    assert "5 MB" in html


def test_link_errors_show_with_other_field_errors(admin_client):
    r = admin_client.post(
        "/configuration/brand/",
        {**KIT, "primary_color": "orange", "social_url": ["ftp://acme.example", "", ""]},
    )
    page = r.content.decode()
    assert "Enter a colour as #rrggbb." in page
    assert "Link 1 (instagram): enter an http(s) URL" in page
