"""The brand kit and media library routes: read and change the kit (422 naming the field),
upload images as multipart (type by content, size limit), list, read and delete them."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from drumbeat.brand.models import BrandKit, MediaFile
from drumbeat.brand.tests.conftest import image_bytes

from .conftest import BASE

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def media_folder(settings, tmp_path):
    settings.HOME = tmp_path
    settings.MEDIA_STORAGE_URL = ""
    settings.MEDIA_PUBLIC_URL = "https://news.example.com/media/"
    return tmp_path / "media"


def upload(api, name: str, data: bytes):
    return api.client.post(
        f"{BASE}/media",
        {"file": SimpleUploadedFile(name, data)},
        headers={"Authorization": f"Bearer {api.token}"},
    )


def test_marketing_users_upload_list_read_and_delete(marketing_api, media_folder):
    data = image_bytes("PNG", (320, 96))

    r = upload(marketing_api, "logo.png", data)

    assert r.status_code == 201, r.json()
    name = f"{hashlib.sha256(data).hexdigest()[:40]}.png"
    body = r.json()
    assert {k: body[k] for k in ("name", "original_name", "content_type", "width", "height")} == {
        "name": name,
        "original_name": "logo.png",
        "content_type": "image/png",
        "width": 320,
        "height": 96,
    }
    assert body["url"] == f"https://news.example.com/media/{name}"
    assert (media_folder / name).read_bytes() == data
    again = upload(marketing_api, "copy.png", data)
    assert again.status_code == 200 and again.json()["id"] == body["id"]

    listing = marketing_api.get("media", domain='[["width", ">=", 300]]').json()
    assert [m["id"] for m in listing["items"]] == [body["id"]] and listing["count"] == 1
    assert marketing_api.get(f"media/{body['id']}").json()["name"] == name

    assert marketing_api.delete(f"media/{body['id']}").status_code == 204
    assert not (media_folder / name).exists()
    assert marketing_api.get(f"media/{body['id']}").status_code == 404


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("logo.png", b"GIF89a but not really", "not an image the library takes"),
        ("logo.bmp", image_bytes("BMP"), "This is a BMP image"),
    ],
)
def test_refused_uploads_are_422_on_file(admin_api, name, data, message):
    r = upload(admin_api, name, data)
    assert r.status_code == 422, r.content
    assert r.json()["errors"][0]["field"] == "file"
    assert message in r.json()["detail"]
    assert not MediaFile.objects.exists()


def test_too_big_and_missing_files_are_422_on_file(admin_api, settings):
    settings.MEDIA_MAX_BYTES = 1024
    r = upload(admin_api, "big.png", image_bytes("PNG", (400, 400), color=(9, 99, 199)) * 3)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "file"
    assert "too big" in r.json()["detail"] and "1 KB" in r.json()["detail"]
    r = admin_api.client.post(
        f"{BASE}/media", {}, headers={"Authorization": f"Bearer {admin_api.token}"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "file"


def test_the_brand_kit_reads_and_changes(marketing_api, settings):
    settings.SENDER_NAME = "Acme"
    settings.SENDER_ADDRESS = "1 Main Street"
    logo = upload(marketing_api, "logo.png", image_bytes("PNG")).json()

    r = marketing_api.get("brand-kit")
    assert r.status_code == 200
    assert r.json()["effective"] == {
        "sender_name": "Acme",
        "postal_address": "1 Main Street",
        "logo_url": "",
    }

    r = marketing_api.request(
        "PUT",
        "brand-kit",
        {
            "sender_name": "Acme Bakery",
            "logo": logo["id"],
            "primary_color": "#B45309",
            "font": "georgia",
            "social_links": [{"network": "instagram", "url": "https://instagram.com/acme"}],
        },
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["sender_name"] == "Acme Bakery" and body["postal_address"] == ""
    assert body["primary_color"] == "#b45309" and body["font"] == "georgia"
    assert body["effective"] == {
        "sender_name": "Acme Bakery",
        "postal_address": "1 Main Street",
        "logo_url": logo["url"],
    }
    assert (
        marketing_api.request("PUT", "brand-kit", {"link_color": "#000000"}).json()["sender_name"]
        == "Acme Bakery"
    )  # fields left out keep their values

    r = marketing_api.delete(f"media/{logo['id']}")
    assert r.status_code == 409
    assert "brand kit's logo" in r.json()["detail"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"primary_color": "red"}, "primary_color"),
        ({"primary_color": "#12345z"}, "primary_color"),
        ({"font": "comic"}, "font"),
        ({"logo": 999999}, "logo"),
        ({"logo_url": "ftp://x.org/logo.png"}, "logo_url"),
        ({"logo_width": 2}, "logo_width"),
        ({"social_links": [{"network": "myspace", "url": "https://x.org"}]}, "social_links.0"),
        ({"social_links": [{"network": "x", "url": "javascript:alert(1)"}]}, "social_links"),
        ({"sender_name": "x" * 201}, "sender_name"),
    ],
)
def test_invalid_brand_kit_values_are_422_naming_the_field(admin_api, payload, field):
    r = admin_api.request("PUT", "brand-kit", payload)
    assert r.status_code == 422, r.content
    assert any(e["field"].startswith(field) for e in r.json()["errors"]), r.json()
    assert not BrandKit.objects.exists()
