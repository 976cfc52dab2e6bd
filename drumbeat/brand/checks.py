"""System checks of the media library's settings (DRUMBEAT_MEDIA_URL,
DRUMBEAT_MEDIA_PUBLIC_URL, DRUMBEAT_MEDIA_MAX_BYTES): a bad value fails every command loudly."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register

from .storage import StorageConfigError, parse_storage_url

MAX_UPLOAD_LIMIT = 50 * 1024 * 1024


@register()
def check_media_settings(app_configs, **kwargs) -> list[Error]:
    errors = []
    try:
        parse_storage_url(settings.MEDIA_STORAGE_URL, settings.HOME)
    except StorageConfigError as exc:
        errors.append(
            Error(
                f"DRUMBEAT_MEDIA_URL: {exc} (expected empty, a folder, or "
                "s3://bucket/prefix?endpoint=https://…&region=…)",
                id="drumbeat.E030",
            )
        )
    public = settings.MEDIA_PUBLIC_URL
    try:
        parts = urlsplit(public)
        valid = parts.scheme in {"http", "https"} and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or parts.query or parts.fragment:
        errors.append(
            Error(
                "DRUMBEAT_MEDIA_PUBLIC_URL must be an http:// or https:// URL without query, "
                f"got {public!r}",
                id="drumbeat.E031",
            )
        )
    if not 1024 <= settings.MEDIA_MAX_BYTES <= MAX_UPLOAD_LIMIT:
        errors.append(
            Error(
                "DRUMBEAT_MEDIA_MAX_BYTES must be between 1024 and 52428800 (50 MB), "
                f"got {settings.MEDIA_MAX_BYTES}",
                id="drumbeat.E032",
            )
        )
    return errors
