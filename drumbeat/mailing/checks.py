"""System checks of the channel settings: transports, sender, DKIM key, inbound server, the
Feedback-ID sender, the SMS opt-out texts."""

from __future__ import annotations

import re
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
    errors += check_dkim()
    errors += check_inbound()
    errors += check_feedback_sender_id()
    errors += check_sms_texts()
    return errors


def check_inbound() -> list[Error]:
    """Inbound server size, TLS files and the bounce limits (drumbeat.E104–E106)."""
    errors = []
    if settings.INBOUND_MAX_BYTES < 100_000:
        errors.append(
            Error("DRUMBEAT_INBOUND_MAX_BYTES must be at least 100000", id="drumbeat.E104")
        )
    cert, key = settings.INBOUND_TLS_CERT, settings.INBOUND_TLS_KEY
    if bool(cert) != bool(key):
        errors.append(
            Error(
                "DRUMBEAT_INBOUND_TLS_CERT and DRUMBEAT_INBOUND_TLS_KEY go together",
                id="drumbeat.E105",
            )
        )
    elif cert:
        import ssl

        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            errors.append(
                Error(f"DRUMBEAT_INBOUND_TLS_CERT/KEY unusable: {exc}", id="drumbeat.E105")
            )
    for name, value in (
        ("DRUMBEAT_HARD_BOUNCE_LIMIT", settings.HARD_BOUNCE_LIMIT),
        ("DRUMBEAT_SOFT_BOUNCE_LIMIT", settings.SOFT_BOUNCE_LIMIT),
    ):
        if value < 1:
            errors.append(Error(f"{name} must be at least 1", id="drumbeat.E106"))
    return errors


def check_feedback_sender_id() -> list[Error]:
    """Gmail reads the last field of Feedback-ID as the sender's id: 5 to 15 characters."""
    value = settings.FEEDBACK_SENDER_ID
    if re.fullmatch(r"[A-Za-z0-9._-]{5,15}", value):
        return []
    return [
        Error(
            "DRUMBEAT_FEEDBACK_SENDER_ID must be 5 to 15 letters, digits, '.', '_' or '-', "
            f"got {value!r}",
            id="drumbeat.E110",
        )
    ]


SMS_TEXT_LIMIT = 640  # characters of a reply text: four GSM-7 segments and a bit
SMS_FOOTER_LIMIT = 60


def check_sms_texts() -> list[Error]:
    errors = []
    footer = settings.SMS_OPTOUT_FOOTER
    if not footer or len(footer) > SMS_FOOTER_LIMIT or "\n" in footer:
        errors.append(
            Error(
                f"DRUMBEAT_SMS_OPTOUT_FOOTER must be one line of 1 to {SMS_FOOTER_LIMIT} "
                f"characters, got {footer!r}",
                id="drumbeat.E111",
            )
        )
    for name in ("SMS_STOP_REPLY", "SMS_START_REPLY", "SMS_HELP_REPLY"):
        if len(getattr(settings, name)) > SMS_TEXT_LIMIT:
            errors.append(
                Error(
                    f"DRUMBEAT_{name} is longer than {SMS_TEXT_LIMIT} characters",
                    id="drumbeat.E111",
                )
            )
    return errors


def check_dkim() -> list[Error]:
    """The DKIM key file must hold a key that parses: a bad key found at send time would fail
    every batch. (That the three DKIM settings come together is drumbeat.E005.)"""
    import dkim.crypto

    if not settings.DKIM_KEY_FILE:
        return []
    path = Path(settings.DKIM_KEY_FILE)
    try:
        pem = path.read_bytes()
    except OSError as exc:
        return [Error(f"DRUMBEAT_DKIM_KEY_FILE unreadable: {exc}", id="drumbeat.E103")]
    try:
        dkim.crypto.parse_pem_private_key(pem)
    except Exception as exc:  # dkimpy raises several types for malformed keys
        return [
            Error(
                f"DRUMBEAT_DKIM_KEY_FILE {path} is not a usable PEM RSA private key ({exc})",
                id="drumbeat.E103",
            )
        ]
    return []
