"""Normalisation of email addresses and phone numbers, shared by blacklists, import and sending."""

import phonenumbers
from email_validator import EmailNotValidError, validate_email

DEFAULT_PHONE_REGION = "US"


def normalize_email(value: str | None) -> str:
    """Lower-cased, trimmed address ('' for nothing). No validity check: see `is_valid_email`."""
    return (value or "").strip().lower()


def is_valid_email(value: str | None) -> bool:
    """Syntax check only: no DNS lookup (sending must not depend on the resolver)."""
    if not value:
        return False
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def email_error(value: str) -> str | None:
    """The validator's reason when `value` is not a valid address, else None."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def normalize_phone(value: str | None, region: str | None = None) -> str:
    """E.164 form of a phone number ('' when missing or unparseable)."""
    if not value or not value.strip():
        return ""
    try:
        number = phonenumbers.parse(value, (region or DEFAULT_PHONE_REGION).upper())
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_region(value: str | None) -> str:
    """The country (ISO 3166-1 alpha-2) of an international number, '' when it has none."""
    try:
        number = phonenumbers.parse(value or "")
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(number)
    return "" if region in (None, "001", "ZZ") else region
