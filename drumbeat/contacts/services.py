"""Writes to contacts and tags: what the web UI, the API and server actions call.

Every function validates, writes in one transaction and, for contacts, reports the changed ids
to the campaigns after commit (`hooks.records_changed`). Bad values raise Django's
`ValidationError` with a dict of field -> message, which forms and the API turn into 400/422.

The `clean_*` helpers are shared by every app that stores people (leads, registrations,
mailing contacts) and by the CSV importer, so an address or number is normalised the same way
everywhere: emails lower-cased and trimmed, phones in E.164, countries as ISO alpha-2 codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from drumbeat.accounts.models import User
from drumbeat.lib import hooks
from drumbeat.lib.countries import normalize_country
from drumbeat.lib.normalize import email_error, normalize_email, normalize_phone
from drumbeat.lib.timezones import clean_time_zone, settle_zone

from .models import Contact, Tag

CONTACT_LABEL = "contacts.contact"
CONTACT_FIELDS = {"name", "email", "phone", "company_name", "country", "city", "salesperson"}
CONTACT_FIELDS |= {"active", "created_at", "time_zone"}


# --- shared cleaning ---------------------------------------------------------------------------


def clean_email(value: str | None) -> str:
    """Normalised address ('' for nothing); ValueError with the validator's reason when bad."""
    email = normalize_email(value)
    if email:
        reason = email_error(email)
        if reason:
            raise ValueError(f"invalid email {email!r}: {reason}")
    return email


def clean_country(value: str | None) -> str:
    """ISO alpha-2 code from a code or an English name ('' for nothing); ValueError if unknown."""
    code = normalize_country(value)
    if code is None:
        raise ValueError(f"unknown country {value.strip()!r} (use an ISO code or English name)")
    return code


def clean_phone(value: str | None, country: str = "") -> str:
    """E.164 number ('' for nothing), read in `country`'s format when it has no +prefix."""
    if not value or not value.strip():
        return ""
    phone = normalize_phone(value, country or None)
    if not phone:
        raise ValueError(f"invalid phone number {value.strip()!r}")
    return phone


def clean_person(fields: dict[str, Any], email_field: str = "email") -> dict[str, Any]:
    """Normalise the email/phone/country keys present in `fields` (a copy is returned).

    Raises ValidationError({field: message}) naming every bad field."""
    cleaned, errors = collect_person(fields, email_field)
    if errors:
        raise ValidationError(errors)
    return cleaned


def collect_person(
    fields: dict[str, Any], email_field: str = "email"
) -> tuple[dict[str, Any], dict[str, str]]:
    """Like `clean_person`, but returns (cleaned, errors) so callers can add their own."""
    cleaned = dict(fields)
    errors: dict[str, str] = {}
    if "country" in cleaned:
        try:
            cleaned["country"] = clean_country(cleaned["country"])
        except ValueError as exc:
            errors["country"] = str(exc)
    if email_field in cleaned:
        try:
            cleaned[email_field] = clean_email(cleaned[email_field])
        except ValueError as exc:
            errors[email_field] = str(exc)
    if "phone" in cleaned:
        try:
            cleaned["phone"] = clean_phone(cleaned["phone"], cleaned.get("country") or "")
        except ValueError as exc:
            errors["phone"] = str(exc)
    if "time_zone" in cleaned:
        try:
            cleaned["time_zone"] = clean_time_zone(cleaned["time_zone"])
        except ValueError as exc:
            errors["time_zone"] = str(exc)
    for name in ("name", "title", "company_name", "city", "contact_name"):
        if isinstance(cleaned.get(name), str):
            cleaned[name] = cleaned[name].strip()
    return cleaned, errors


def place_in_time(cleaned: dict[str, Any], record: Any = None) -> dict[str, Any]:
    """Add to `cleaned` the time zone to store on a person being created (`record` None) or
    updated: the one given, else derived from the phone and country (lib/timezones.py
    `settle_zone`: a derived zone follows a new phone or country, a typed one stays)."""
    given = cleaned.get("time_zone")
    if record is not None and given is None and not {"phone", "country"} & set(cleaned):
        return cleaned
    phone = cleaned.get("phone", getattr(record, "phone", "") or "")
    country = cleaned.get("country", getattr(record, "country", "") or "")
    before = None
    if record is not None:
        before = (record.phone or "", getattr(record, "country", "") or "", record.time_zone)
    zone = settle_zone(given, phone or "", country or "", before)
    if record is None or zone != record.time_zone:
        cleaned["time_zone"] = zone
    return cleaned


def check_fields(model: type, fields: dict[str, Any], allowed: set[str]) -> None:
    """Refuse unknown field names."""
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({name: "unknown field" for name in sorted(unknown)})


def check_lengths(model: type, fields: dict[str, Any]) -> None:
    """Refuse (cleaned) texts longer than their column allows."""
    errors = {}
    for name, value in fields.items():
        max_length = getattr(model._meta.get_field(name), "max_length", None)
        if max_length and isinstance(value, str) and len(value) > max_length:
            errors[name] = f"at most {max_length} characters"
    if errors:
        raise ValidationError(errors)


def report_changed(label: str, ids: Iterable[int]) -> None:
    """Tell running campaigns about created/updated records once the transaction commits."""
    ids = list(ids)
    if ids:
        transaction.on_commit(lambda: hooks.records_changed(label, ids))


# --- tags --------------------------------------------------------------------------------------


def get_or_create_tags(names: Iterable[str | Tag]) -> list[Tag]:
    """Tags by name (created when missing, in one insert); Tag instances pass through."""
    wanted: dict[str, Tag | None] = {}
    for item in names:
        if isinstance(item, Tag):
            wanted[item.name] = item
        elif item and str(item).strip():
            wanted.setdefault(str(item).strip()[:64], None)
    missing = [name for name, tag in wanted.items() if tag is None]
    if missing:
        Tag.objects.bulk_create([Tag(name=n) for n in missing], ignore_conflicts=True)
        for tag in Tag.objects.filter(name__in=missing):
            wanted[tag.name] = tag
    return [tag for tag in wanted.values() if tag is not None]


def split_tag_names(value: str) -> list[str]:
    """'VIP, Customer; Partner' -> ['VIP', 'Customer', 'Partner']."""
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


@transaction.atomic
def add_tags(model: type, ids: Iterable[int], names: Iterable[str | Tag]) -> int:
    """Add tags to records of `model` (Contact, Lead, MailingContact) in one insert.

    Returns the number of new links. Reports the records as changed."""
    ids = list(ids)
    tags = get_or_create_tags(names)
    through = model.tags.through
    source = f"{model._meta.model_name}_id"
    rows = [through(**{source: i, "tag_id": t.pk}) for i in ids for t in tags]
    before = through.objects.filter(**{f"{source}__in": ids}).count()
    through.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    added = through.objects.filter(**{f"{source}__in": ids}).count() - before
    report_changed(model._meta.label_lower, ids)
    return added


@transaction.atomic
def remove_tags(model: type, ids: Iterable[int], names: Iterable[str | Tag]) -> int:
    """Remove tags (by name or instance) from records of `model`; returns links removed."""
    ids = list(ids)
    tag_names = [t.name if isinstance(t, Tag) else str(t).strip() for t in names]
    through = model.tags.through
    source = f"{model._meta.model_name}_id"
    removed, _ = through.objects.filter(**{f"{source}__in": ids}, tag__name__in=tag_names).delete()
    report_changed(model._meta.label_lower, ids)
    return removed


# --- contacts ----------------------------------------------------------------------------------


def _contact_fields(fields: dict[str, Any]) -> dict[str, Any]:
    check_fields(Contact, {k: v for k, v in fields.items() if k != "tags"}, CONTACT_FIELDS)
    cleaned, errors = collect_person(fields)
    salesperson = cleaned.get("salesperson")
    if salesperson is not None and not isinstance(salesperson, User):
        errors["salesperson"] = "must be a user"
    if "name" in cleaned and not cleaned["name"]:
        errors["name"] = "a contact needs a name"
    if errors:
        raise ValidationError(errors)
    check_lengths(Contact, cleaned)
    return cleaned


@transaction.atomic
def create_contact(*, name: str, tags: Iterable[str | Tag] = (), **fields: Any) -> Contact:
    """Create a contact. Fields: name (required), email, phone, company_name, country (code or
    English name), city, time_zone (IANA name; derived from the phone or country when not
    given), salesperson (User), active, created_at; `tags` are names or Tags."""
    cleaned = place_in_time(_contact_fields({"name": name, **fields}))
    contact = Contact.objects.create(**cleaned)
    tag_list = get_or_create_tags(tags)
    if tag_list:
        contact.tags.add(*tag_list)
    report_changed(CONTACT_LABEL, [contact.pk])
    return contact


@transaction.atomic
def update_contact(
    contact: Contact, *, tags: Iterable[str | Tag] | None = None, **fields: Any
) -> Contact:
    """Change the given fields of `contact` (same fields as create_contact); `tags`, when
    given, replaces the contact's tags."""
    if "phone" in fields and "country" not in fields:
        fields["country"] = contact.country  # read the number in the contact's country
    cleaned = place_in_time(_contact_fields(fields), contact)
    for name, value in cleaned.items():
        setattr(contact, name, value)
    if cleaned:
        contact.save(update_fields=list(cleaned))
    if tags is not None:
        contact.tags.set(get_or_create_tags(tags))
    report_changed(CONTACT_LABEL, [contact.pk])
    return contact


@transaction.atomic
def archive_contacts(ids: Iterable[int]) -> int:
    """Archive contacts (active=False); returns how many changed."""
    ids = list(ids)
    count = Contact.objects.filter(pk__in=ids, active=True).update(active=False)
    report_changed(CONTACT_LABEL, ids)
    return count


@transaction.atomic
def restore_contacts(ids: Iterable[int]) -> int:
    """Unarchive contacts; returns how many changed."""
    ids = list(ids)
    count = Contact.objects.filter(pk__in=ids, active=False).update(active=True)
    report_changed(CONTACT_LABEL, ids)
    return count


@transaction.atomic
def set_contacts_salesperson(ids: Iterable[int], user: User | None) -> int:
    """Assign (or clear) the salesperson of several contacts in one UPDATE."""
    ids = list(ids)
    count = Contact.objects.filter(pk__in=ids).update(salesperson=user)
    report_changed(CONTACT_LABEL, ids)
    return count


def find_contacts_by_email(emails: Iterable[str]) -> dict[str, int]:
    """Normalised email -> id of the oldest contact with that address (one query)."""
    wanted = {normalize_email(e) for e in emails if e}
    found: dict[str, int] = {}
    rows = Contact.objects.filter(email__in=wanted).order_by("-id").values_list("email", "id")
    for email, pk in rows:
        found[email] = pk
    return found
