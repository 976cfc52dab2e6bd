"""Normalisation of email addresses and phone numbers, shared by blacklists, import and sending."""

import re

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email

DEFAULT_PHONE_REGION = "US"


def normalize_email(value: str | None) -> str:
    """Lower-cased, trimmed address ('' for nothing). No validity check: see `is_valid_email`."""
    return (value or "").strip().lower()


# The plain addresses most lists are made of (lower-case ASCII, a dot-atom of common
# characters, hostname labels without "--", a TLD of letters): the validator accepts each of
# them unless its domain is a special-use one, so `is_valid_email` answers them without it (a
# sixth of a send batch's time went to the validator). Anything else asks the validator.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@((?:[a-z0-9]+(?:-[a-z0-9]+)*\.)+[a-z]{2,63})",
    re.ASCII,
)


def _plainly_valid(value: str) -> bool:
    """True only for an address the validator certainly accepts (tests/test_normalize.py
    compares the two on a corpus and on random addresses); False means "ask the validator"."""
    match = _PLAIN_EMAIL.fullmatch(value)
    if match is None or len(value) > 254 or value.index("@") > 64:
        return False
    domain = match.group(1)
    if len(domain) > 253 or any(len(label) > 63 for label in domain.split(".")):
        return False
    return not any(
        domain == special or domain.endswith("." + special)
        for special in email_validator.SPECIAL_USE_DOMAIN_NAMES
    )


def is_valid_email(value: str | None) -> bool:
    """Syntax check only: no DNS lookup (sending must not depend on the resolver)."""
    if not value:
        return False
    if _plainly_valid(value):
        return True
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
