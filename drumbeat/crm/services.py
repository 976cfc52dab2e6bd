"""Writes to leads and stages (web UI, API, server actions, importer).

Same contract as `contacts.services`: validate (ValidationError with field -> message), write in
one transaction, report changed lead ids to the campaigns after commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from drumbeat.accounts.models import User
from drumbeat.contacts.models import Contact, Tag
from drumbeat.contacts.services import (
    check_fields,
    check_lengths,
    collect_person,
    find_contacts_by_email,
    get_or_create_tags,
    place_in_time,
    report_changed,
)

from .models import Lead, Stage

LEAD_LABEL = "crm.lead"
LEAD_FIELDS = {"title", "contact", "contact_name", "email", "phone", "salesperson", "priority"}
LEAD_FIELDS |= {"stage", "expected_revenue", "active", "created_at", "time_zone"}
DEFAULT_STAGES = [("New", 10, False), ("Qualified", 20, False), ("Proposition", 30, False)]
DEFAULT_STAGES += [("Won", 40, True)]


def ensure_default_stages() -> list[Stage]:
    """The pipeline stages, creating New/Qualified/Proposition/Won when there are none."""
    if not Stage.objects.exists():
        Stage.objects.bulk_create(
            [Stage(name=n, sequence=s, is_won=w) for n, s, w in DEFAULT_STAGES],
            ignore_conflicts=True,
        )
    return list(Stage.objects.all())


def clean_priority(value: Any) -> int:
    """0-3, or a label (Low, Medium, High, Very high); ValueError otherwise."""
    if isinstance(value, str):
        text = value.strip()
        by_label = {label.lower(): int(v) for v, label in Lead.Priority.choices}
        if text.lower() in by_label:
            return by_label[text.lower()]
        if text.isdigit():
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3:
        return value
    raise ValueError(f"priority must be 0-3 or Low/Medium/High/Very high, got {value!r}")


def clean_revenue(value: Any) -> Decimal:
    """A non-negative amount with at most 2 decimals ('' means 0)."""
    if value in (None, ""):
        return Decimal(0)
    try:
        amount = Decimal(str(value).strip().replace(" ", ""))
    except InvalidOperation:
        raise ValueError(f"expected revenue must be a number, got {value!r}")
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 12:
        raise ValueError(f"expected revenue must be a positive amount, got {value!r}")
    return amount.quantize(Decimal("0.01"))


def _lead_fields(fields: dict[str, Any]) -> dict[str, Any]:
    check_fields(Lead, {k: v for k, v in fields.items() if k != "tags"}, LEAD_FIELDS)
    cleaned, errors = collect_person(fields)
    if "title" in cleaned and not cleaned["title"]:
        errors["title"] = "a lead needs a title"
    if "priority" in cleaned:
        try:
            cleaned["priority"] = clean_priority(cleaned["priority"])
        except ValueError as exc:
            errors["priority"] = str(exc)
    if "expected_revenue" in cleaned:
        try:
            cleaned["expected_revenue"] = clean_revenue(cleaned["expected_revenue"])
        except ValueError as exc:
            errors["expected_revenue"] = str(exc)
    for name, model in (("salesperson", User), ("stage", Stage), ("contact", Contact)):
        value = cleaned.get(name)
        if value is not None and not isinstance(value, model):
            errors[name] = f"must be a {model._meta.verbose_name}"
    if errors:
        raise ValidationError(errors)
    check_lengths(Lead, cleaned)
    return cleaned


@transaction.atomic
def create_lead(*, title: str, tags: Iterable[str | Tag] = (), **fields: Any) -> Lead:
    """Create a lead. Fields: title (required), contact (Contact), contact_name, email, phone,
    salesperson (User), priority (0-3 or label), stage (Stage; default: the first one),
    expected_revenue, active, created_at; `tags` are names or Tags.

    With a contact and no name/email/phone given, those are copied from the contact."""
    cleaned = _lead_fields({"title": title, **fields})
    contact = cleaned.get("contact")
    if contact is not None:
        cleaned.setdefault("contact_name", contact.name)
        cleaned.setdefault("email", contact.email)
        cleaned.setdefault("phone", contact.phone)
        cleaned.setdefault("salesperson", contact.salesperson)
        if cleaned.get("phone") == contact.phone:
            cleaned.setdefault("time_zone", contact.time_zone)
    place_in_time(cleaned)
    if "stage" not in cleaned:
        cleaned["stage"] = ensure_default_stages()[0]
    lead = Lead.objects.create(**cleaned)
    tag_list = get_or_create_tags(tags)
    if tag_list:
        lead.tags.add(*tag_list)
    report_changed(LEAD_LABEL, [lead.pk])
    return lead


@transaction.atomic
def update_lead(lead: Lead, *, tags: Iterable[str | Tag] | None = None, **fields: Any) -> Lead:
    """Change the given fields of `lead`; `tags`, when given, replaces its tags."""
    cleaned = place_in_time(_lead_fields(fields), lead)
    for name, value in cleaned.items():
        setattr(lead, name, value)
    if cleaned:
        lead.save(update_fields=list(cleaned))
    if tags is not None:
        lead.tags.set(get_or_create_tags(tags))
    report_changed(LEAD_LABEL, [lead.pk])
    return lead


@transaction.atomic
def set_leads_priority(ids: Iterable[int], priority: int | str) -> int:
    """Set the priority of several leads in one UPDATE; returns the number of rows."""
    ids = list(ids)
    try:
        value = clean_priority(priority)
    except ValueError as exc:
        raise ValidationError({"priority": str(exc)})
    count = Lead.objects.filter(pk__in=ids).update(priority=value)
    report_changed(LEAD_LABEL, ids)
    return count


@transaction.atomic
def move_leads_to_stage(ids: Iterable[int], stage: Stage) -> int:
    """Move several leads to `stage` in one UPDATE."""
    ids = list(ids)
    count = Lead.objects.filter(pk__in=ids).update(stage=stage)
    report_changed(LEAD_LABEL, ids)
    return count


@transaction.atomic
def archive_leads(ids: Iterable[int]) -> int:
    ids = list(ids)
    count = Lead.objects.filter(pk__in=ids, active=True).update(active=False)
    report_changed(LEAD_LABEL, ids)
    return count


@transaction.atomic
def restore_leads(ids: Iterable[int]) -> int:
    ids = list(ids)
    count = Lead.objects.filter(pk__in=ids, active=False).update(active=True)
    report_changed(LEAD_LABEL, ids)
    return count


@transaction.atomic
def link_leads_to_contacts(ids: Iterable[int]) -> int:
    """Link leads without a contact to the contact with the same email; returns links made."""
    leads = list(
        Lead.objects.filter(pk__in=list(ids), contact__isnull=True)
        .exclude(email="")
        .only("id", "email")
    )
    by_email = find_contacts_by_email(lead.email for lead in leads)
    linked = [lead for lead in leads if lead.email in by_email]
    for lead in linked:
        lead.contact_id = by_email[lead.email]
    Lead.objects.bulk_update(linked, ["contact"], batch_size=500)
    report_changed(LEAD_LABEL, [lead.pk for lead in linked])
    return len(linked)
