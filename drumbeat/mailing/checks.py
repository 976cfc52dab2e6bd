"""System checks of the channel settings: transports, sender, DKIM key."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error

from .mime import address_of
from .transports import TransportConfigError, get_email_transport, get_sms_transport


def check_channels(app_configs, **kwargs) -> list[Error]:
    errors = []
    for name, url, factory in (
        ("DRUMBEAT_EMAIL_URL", settings.EMAIL_URL, get_email_transport),
        ("DRUMBEAT_SMS_URL", settings.SMS_URL, get_sms_transport),
    ):
        try:
            factory(url)
        except (TransportConfigError, ValueError) as exc:
            errors.append(Error(f"{name}: {exc}", id="drumbeat.E101"))
    sender = address_of(settings.FROM_EMAIL)
    if "@" not in sender or " " in sender:  # 'marketing@localhost' is fine on a laptop
        errors.append(
            Error(
                f"DRUMBEAT_FROM_EMAIL is not an email address: {settings.FROM_EMAIL!r}",
                id="drumbeat.E102",
            )
        )
    if settings.DKIM_KEY_FILE:
        path = Path(settings.DKIM_KEY_FILE)
        try:
            head = path.read_bytes()[:100]
        except OSError as exc:
            errors.append(Error(f"DRUMBEAT_DKIM_KEY_FILE unreadable: {exc}", id="drumbeat.E103"))
        else:
            if b"PRIVATE KEY-----" not in head:
                errors.append(
                    Error(
                        f"DRUMBEAT_DKIM_KEY_FILE {path} is not a PEM private key",
                        id="drumbeat.E103",
                    )
                )
    return errors
