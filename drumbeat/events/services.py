"""Writes to events and registrations (web UI, API, server actions, importer).

Same contract as `contacts.services`: validate (ValidationError with field -> message), write in
one transaction, report changed registration ids to the campaigns after commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from drumbeat.contacts.models import Contact
from drumbeat.contacts.services import (
    check_fields,
    check_lengths,
    collect_person,
    place_in_time,
    report_changed,
)

from .models import Event, Registration

REGISTRATION_LABEL = "events.registration"
EVENT_FIELDS = {"name", "date_begin", "date_end", "location", "description", "active"}
REGISTRATION_FIELDS = {"event", "name", "email", "phone", "contact", "state", "created_at"}
REGISTRATION_FIELDS |= {"time_zone"}


def clean_state(value: Any) -> str:
    """A registration state from its value or label (e.g. 'confirmed' or 'Registered')."""
    text = str(value or "").strip().lower()
    for state, label in Registration.State.choices:
        if text in {state, label.lower()}:
            return state
    options = ", ".join(Registration.State.values)
    raise ValueError(f"state must be one of {options}, got {value!r}")


def _event_fields(fields: dict[str, Any]) -> dict[str, Any]:
    check_fields(Event, fields, EVENT_FIELDS)
    cleaned = {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}
    errors = {}
    if "name" in cleaned and not cleaned["name"]:
        errors["name"] = "an event needs a name"
    for name in ("date_begin", "date_end"):
        if name in cleaned and not isinstance(cleaned[name], dt.datetime):
            errors[name] = "must be a date and time"
    begin, end = cleaned.get("date_begin"), cleaned.get("date_end")
    if not errors and begin and end and end < begin:
        errors["date_end"] = "the event cannot end before it begins"
    if errors:
        raise ValidationError(errors)
    check_lengths(Event, cleaned)
    return cleaned


@transaction.atomic
def create_event(*, name: str, date_begin: dt.datetime, date_end: dt.datetime, **fields) -> Event:
    """Create an event. Fields: name, date_begin, date_end (aware datetimes), location,
    description, active."""
    cleaned = _event_fields(
        {"name": name, "date_begin": date_begin, "date_end": date_end, **fields}
    )
    return Event.objects.create(**cleaned)


@transaction.atomic
def update_event(event: Event, **fields: Any) -> Event:
    cleaned = _event_fields(fields)
    merged_begin = cleaned.get("date_begin", event.date_begin)
    if cleaned.get("date_end", event.date_end) < merged_begin:
        raise ValidationError({"date_end": "the event cannot end before it begins"})
    for name, value in cleaned.items():
        setattr(event, name, value)
    if cleaned:
        event.save(update_fields=list(cleaned))
    return event


def _registration_fields(fields: dict[str, Any]) -> dict[str, Any]:
    check_fields(Registration, fields, REGISTRATION_FIELDS)
    cleaned, errors = collect_person(fields)
    if "name" in cleaned and not cleaned["name"]:
        errors["name"] = "a registration needs the attendee's name"
    if "state" in cleaned:
        try:
            cleaned["state"] = clean_state(cleaned["state"])
        except ValueError as exc:
            errors["state"] = str(exc)
    if "event" in cleaned and not isinstance(cleaned["event"], Event):
        errors["event"] = "must be an event"
    contact = cleaned.get("contact")
    if contact is not None and not isinstance(contact, Contact):
        errors["contact"] = "must be a contact"
    if errors:
        raise ValidationError(errors)
    check_lengths(Registration, cleaned)
    return cleaned


@transaction.atomic
def register_attendee(*, event: Event, name: str = "", **fields: Any) -> Registration:
    """Register someone to `event`. Fields: name, email, phone, contact (Contact), state
    (draft/confirmed/attended/cancelled, default confirmed), created_at.

    With a contact, missing name/email/phone are taken from it."""
    contact = fields.get("contact")
    if isinstance(contact, Contact):
        name = name or contact.name
        fields.setdefault("email", contact.email)
        fields.setdefault("phone", contact.phone)
        if fields.get("phone") == contact.phone:
            fields.setdefault("time_zone", contact.time_zone)
    cleaned = place_in_time(_registration_fields({"event": event, "name": name, **fields}))
    registration = Registration.objects.create(**cleaned)
    report_changed(REGISTRATION_LABEL, [registration.pk])
    return registration


@transaction.atomic
def update_registration(registration: Registration, **fields: Any) -> Registration:
    cleaned = place_in_time(_registration_fields(fields), registration)
    for name, value in cleaned.items():
        setattr(registration, name, value)
    if cleaned:
        registration.save(update_fields=list(cleaned))
    report_changed(REGISTRATION_LABEL, [registration.pk])
    return registration


@transaction.atomic
def set_registrations_state(ids: Iterable[int], state: str) -> int:
    """Confirm, mark attended or cancel several registrations in one UPDATE."""
    ids = list(ids)
    try:
        value = clean_state(state)
    except ValueError as exc:
        raise ValidationError({"state": str(exc)})
    count = Registration.objects.filter(pk__in=ids).update(state=value)
    report_changed(REGISTRATION_LABEL, ids)
    return count


def cancel_registrations(ids: Iterable[int]) -> int:
    return set_registrations_state(ids, Registration.State.CANCELLED)


def mark_attended(ids: Iterable[int]) -> int:
    return set_registrations_state(ids, Registration.State.ATTENDED)
