"""The media library: what it accepts (by content, not name), how it names, stores and serves
files — from a folder and from an S3-compatible bucket (moto's server, over HTTP)."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from drumbeat.brand.kit import update_brand_kit
from drumbeat.brand.media import add_media, delete_media, upload_media
from drumbeat.brand.models import MediaFile
from drumbeat.brand.storage import StorageConfigError, parse_storage_url

from .conftest import image_bytes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.mark.parametrize(
    "kind, extension, content_type",
    [
        ("PNG", "png", "image/png"),
        ("JPEG", "jpg", "image/jpeg"),
        ("GIF", "gif", "image/gif"),
        ("WEBP", "webp", "image/webp"),
    ],
)
def test_it_accepts_the_four_formats_and_records_their_size(
    media_home, kind, extension, content_type
):
    data = image_bytes(kind, (64, 32))

    media, created = add_media(data, "C:\\Users\\ann\\logo." + extension)

    assert created
    assert media.name == f"{hashlib.sha256(data).hexdigest()[:40]}.{extension}"
    assert (media.content_type, media.width, media.height) == (content_type, 64, 32)
    assert media.size == len(data)
    assert media.original_name == f"logo.{extension}"
    assert (media_home / media.name).read_bytes() == data
    assert media.url == f"http://testserver/media/{media.name}"


def test_the_type_comes_from_the_bytes_not_the_name(media_home):
    jpeg = image_bytes("JPEG")
    media = upload_media(SimpleUploadedFile("photo.png", jpeg, "image/png"))[0]
    assert media.content_type == "image/jpeg" and media.name.endswith(".jpg")

    for name, data, message in [
        ("logo.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not an image the library"),
        ("logo.png", b"%PDF-1.4 fake", "not an image the library"),
        ("logo.bmp", image_bytes("BMP"), "This is a BMP image; upload a PNG, JPEG, GIF or WebP"),
        ("logo.tiff", image_bytes("TIFF"), "This is a TIFF image"),
        ("cut.png", image_bytes("PNG", (300, 300))[:200], "damaged or truncated"),
        ("empty.png", b"", "The file is empty."),
    ]:
        with pytest.raises(ValidationError) as caught:
            upload_media(SimpleUploadedFile(name, data))
        assert message in caught.value.message_dict["file"][0], name
    assert MediaFile.objects.count() == 1
    assert [p.name for p in media_home.iterdir()] == [media.name]


def test_it_refuses_files_over_the_limit(media_home, settings):
    data = image_bytes("PNG", (200, 200), color=(1, 2, 3))
    settings.MEDIA_MAX_BYTES = len(data) - 1

    with pytest.raises(ValidationError) as caught:
        upload_media(SimpleUploadedFile("big.png", data))

    assert "The file is too big" in caught.value.message_dict["file"][0]
    assert "the limit is" in caught.value.message_dict["file"][0]
    settings.MEDIA_MAX_BYTES = len(data)
    assert upload_media(io.BytesIO(data))[1] is True  # a plain file object works too


def test_the_same_bytes_make_the_same_file(media_home):
    data = image_bytes("PNG")
    first, created = add_media(data, "a.png")
    again, created_again = add_media(data, "b.png")
    assert created and not created_again
    assert again.pk == first.pk and MediaFile.objects.count() == 1


def test_deleting_removes_the_bytes_but_not_the_brand_logo(media_home):
    logo = add_media(image_bytes("PNG"), "logo.png")[0]
    other = add_media(image_bytes("GIF"), "banner.gif")[0]
    update_brand_kit(logo=logo)

    with pytest.raises(ValidationError) as caught:
        delete_media(logo)
    assert "brand kit's logo" in caught.value.messages[0]
    assert (media_home / logo.name).exists()

    delete_media(other)
    assert not (media_home / other.name).exists()
    assert list(MediaFile.objects.values_list("name", flat=True)) == [logo.name]


def test_the_public_route_serves_with_long_cache_headers(media_home, client):
    data = image_bytes("WEBP")
    media = add_media(data, "x.webp")[0]

    r = client.get(f"/media/{media.name}")

    assert r.status_code == 200
    assert b"".join(r.streaming_content) == data
    assert r["Content-Type"] == "image/webp"
    assert r["Cache-Control"] == "public, max-age=31536000, immutable"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert client.head(f"/media/{media.name}").status_code == 200
    assert client.post(f"/media/{media.name}").status_code == 405


def test_the_public_route_serves_nothing_else(media_home, client, settings):
    media = add_media(image_bytes("PNG"), "x.png")[0]
    (media_home / "notes.txt").write_text("private")
    settings.HOME.joinpath("secret_key").write_text("s3cr3t")
    unknown = "0" * 40 + ".png"
    for path in [
        f"/media/{unknown}",  # well formed, not in the library
        "/media/notes.txt",
        "/media/../secret_key",
        "/media/..%2Fsecret_key",
        "/media/%2e%2e/secret_key",
        f"/media/{media.name}/",
        f"/media/{media.name.upper()}",
        "/media/",
    ]:
        assert client.get(path).status_code == 404, path
    (media_home / media.name).unlink()  # a row whose bytes are gone
    assert client.get(f"/media/{media.name}").status_code == 404


def test_s3_storage_keeps_the_bytes_in_the_bucket(s3_bucket, client):
    s3, bucket = s3_bucket
    data = image_bytes("PNG", (10, 10))

    media = add_media(data, "logo.png")[0]

    stored = s3.get_object(Bucket=bucket, Key=f"emails/{media.name}")
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "image/png"
    assert stored["CacheControl"] == "public, max-age=31536000, immutable"
    r = client.get(f"/media/{media.name}")  # Drumbeat serves it from the bucket
    assert r.status_code == 200 and b"".join(r.streaming_content) == data
    assert r["Content-Type"] == "image/png" and r["Content-Length"] == str(len(data))
    assert r["Cache-Control"] == "public, max-age=31536000, immutable"

    delete_media(media)
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="emails/")
    assert listing.get("KeyCount", 0) == 0
    assert client.get(f"/media/{media.name}").status_code == 404


@pytest.mark.parametrize(
    "value, message",
    [
        ("s3://Bad_Bucket/x", "not an S3 bucket name"),
        ("s3://bucket/x?endpoint=ftp://host", "endpoint must be an http"),
        ("s3://bucket/x?regoin=eu", "unknown option 'regoin'"),
        ("gs://bucket/x", "expected a folder path"),
        ("relative/folder", "absolute path"),
    ],
)
def test_bad_storage_urls_say_what_is_wrong(tmp_path, value, message):
    with pytest.raises(StorageConfigError, match=message):
        parse_storage_url(value, tmp_path)


def test_storage_urls(tmp_path):
    assert parse_storage_url("", tmp_path).root == tmp_path / "media"
    assert parse_storage_url("file:///srv/media", tmp_path).root.as_posix() == "/srv/media"
    store = parse_storage_url("s3://my.bucket/a/b/?endpoint=https://s3.example.net", tmp_path)
    assert (store.bucket, store.prefix, store.endpoint, store.region) == (
        "my.bucket",
        "a/b/",
        "https://s3.example.net",
        None,
    )
