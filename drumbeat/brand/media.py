"""The media library's rules: what may be uploaded (PNG, JPEG, GIF or WebP, told by the bytes
with Pillow, never by the file name; at most DRUMBEAT_MEDIA_MAX_BYTES), how it is named (a hash
of the bytes, so a URL never changes meaning), stored, listed and deleted."""

from __future__ import annotations

import hashlib
import io

from django.conf import settings
from django.core.exceptions import ValidationError

from .models import BrandKit, MediaFile
from .storage import get_store

# Pillow format -> (extension, content type)
FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
CONTENT_TYPES = {ext: content_type for ext, content_type in FORMATS.values()}
MAX_PIXELS = 40_000_000  # a 5 MB file may still decode to gigabytes: refuse huge canvases


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def read_upload(upload) -> bytes:
    """The bytes of an uploaded file (Django UploadedFile or a binary file object), refusing
    more than the limit without reading all of it."""
    limit = settings.MEDIA_MAX_BYTES
    declared = getattr(upload, "size", None)
    if declared is not None and declared > limit:
        raise ValidationError({"file": _too_big(declared)})
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ValidationError({"file": _too_big(len(data), at_least=True)})
    return data


def _too_big(size: int, at_least: bool = False) -> str:
    limit = settings.MEDIA_MAX_BYTES
    got = f"{'over ' if at_least else ''}{human_size(size)}"
    return f"The file is too big ({got}); the limit is {human_size(limit)}."


def inspect_image(data: bytes) -> tuple[str, str, int, int]:
    """(extension, content type, width, height) of an image the library accepts; a
    ValidationError on `file` says why any other content is refused."""
    from PIL import Image, UnidentifiedImageError

    accepted = "PNG, JPEG, GIF or WebP"
    if not data:
        raise ValidationError({"file": "The file is empty."})
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            width, height = image.size
            if kind not in FORMATS:
                raise ValidationError(
                    {"file": f"This is a {kind} image; upload a {accepted} image."}
                )
            if width * height > MAX_PIXELS:
                raise ValidationError(
                    {"file": f"The image is {width}×{height} pixels; at most 40 megapixels."}
                )
            image.verify()  # reads the whole file: truncated or corrupt data fails here
    except ValidationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise ValidationError(
            {"file": f"This file is not an image the library takes; upload a {accepted} image."}
        )
    except Exception:  # Pillow raises many kinds (OSError, SyntaxError, struct.error…)
        raise ValidationError({"file": "The image is damaged or truncated; it cannot be read."})
    extension, content_type = FORMATS[kind]
    return extension, content_type, width, height


def add_media(data: bytes, original_name: str = "", user=None) -> tuple[MediaFile, bool]:
    """Store an image; returns (media file, created). The same bytes uploaded again return the
    existing file (its name is the hash of the bytes)."""
    if len(data) > settings.MEDIA_MAX_BYTES:
        raise ValidationError({"file": _too_big(len(data))})
    extension, content_type, width, height = inspect_image(data)
    name = f"{hashlib.sha256(data).hexdigest()[:40]}.{extension}"
    existing = MediaFile.objects.filter(name=name).first()
    if existing is not None:
        return existing, False
    get_store().save(name, data, content_type)
    original = (original_name or "").replace("\\", "/").rsplit("/", 1)[-1][:255]
    media, created = MediaFile.objects.get_or_create(
        name=name,
        defaults={
            "original_name": original,
            "content_type": content_type,
            "size": len(data),
            "width": width,
            "height": height,
            "uploaded_by": user if getattr(user, "pk", None) else None,
        },
    )
    return media, created


def upload_media(upload, user=None) -> tuple[MediaFile, bool]:
    """add_media for an uploaded file object (web form, API multipart)."""
    if upload is None:
        raise ValidationError({"file": "Choose an image file to upload."})
    data = read_upload(upload)
    return add_media(data, getattr(upload, "name", "") or "", user)


def used_by_brand_kit(media: MediaFile) -> bool:
    return BrandKit.objects.filter(logo=media).exists()


def delete_media(media: MediaFile) -> None:
    """Delete a file and its bytes; the brand kit's logo is refused (ValidationError)."""
    if used_by_brand_kit(media):
        raise ValidationError(
            f"“{media}” is the brand kit's logo; choose another logo before deleting it."
        )
    name = media.name
    media.delete()
    get_store().delete(name)  # after the row: a failure leaves unreferenced bytes, no dead URL
