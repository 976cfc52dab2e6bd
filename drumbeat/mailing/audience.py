"""Who may receive what: mailing lists, mailing contacts, subscriptions and the blacklists.

The web UI, the API, server actions (add to / remove from list, blacklist / unblacklist), the
unsubscribe pages and the bounce handling all go through these functions. Contract, as in
`contacts.services`: validate (ValidationError with field -> message), write in one
transaction, report changed mailing contacts to the campaigns after commit.

Rules worth knowing:
- emails are stored normalised (lower-cased, trimmed), phones in E.164;
- `subscribe` is an explicit (re)subscription: it clears an opt-out. Bulk additions
  (`subscribe_many`, `add_people_to_list`) never override someone's opt-out;
- blacklisting and unblacklisting keep the latest reason on the row and post the history to the
  blacklist entry's timeline; unblacklisting requires a reason (docs/product.md#blacklists).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from drumbeat.accounts.models import User
from drumbeat.contacts.models import Tag
from drumbeat.contacts.services import (
    check_fields,
    check_lengths,
    clean_email,
    clean_person,
    clean_phone,
    get_or_create_tags,
    place_in_time,
    report_changed,
)
from drumbeat.lib.normalize import normalize_email
from drumbeat.timeline.models import Note

from .models import EmailBlacklist, MailingContact, MailingList, PhoneBlacklist, Subscription

MAILING_CONTACT_LABEL = "mailing.mailingcontact"
LIST_FIELDS = {"name", "is_public", "description", "active"}
MAILING_CONTACT_FIELDS = {"name", "email", "phone", "company_name", "country", "created_at"}
MAILING_CONTACT_FIELDS |= {"time_zone"}


# --- lists -------------------------------------------------------------------------------------


def _list_fields(fields: dict[str, Any]) -> dict[str, Any]:
    check_fields(MailingList, fields, LIST_FIELDS)
    cleaned = {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}
    if "name" in cleaned:
        if not cleaned["name"]:
            raise ValidationError({"name": "a list needs a name"})
        clash = MailingList.objects.filter(name__iexact=cleaned["name"])
        if clash.exists():
            raise ValidationError({"name": f"a list named {cleaned['name']!r} already exists"})
    check_lengths(MailingList, cleaned)
    return cleaned


@transaction.atomic
def create_list(*, name: str, is_public: bool = True, description: str = "") -> MailingList:
    """Create a mailing list (names are unique, case-insensitively)."""
    cleaned = _list_fields({"name": name, "is_public": is_public, "description": description})
    return MailingList.objects.create(**cleaned)


@transaction.atomic
def update_list(mailing_list: MailingList, **fields: Any) -> MailingList:
    """Change name, is_public, description or active of a list."""
    name = fields.get("name")
    if isinstance(name, str) and name.strip().lower() == mailing_list.name.lower():
        fields["name"] = name.strip()
        if fields["name"] == mailing_list.name:
            fields.pop("name")
        else:  # a change of case only: no clash with itself
            mailing_list.name = fields.pop("name")
            mailing_list.save(update_fields=["name"])
    cleaned = _list_fields(fields)
    for name, value in cleaned.items():
        setattr(mailing_list, name, value)
    if cleaned:
        mailing_list.save(update_fields=list(cleaned))
    return mailing_list


def get_or_create_lists(names: Iterable[str]) -> list[MailingList]:
    """Lists by name (case-insensitive), created when missing."""
    result = []
    for name in dict.fromkeys(n.strip() for n in names if n and n.strip()):
        found = MailingList.objects.filter(name__iexact=name).first()
        result.append(found or MailingList.objects.create(name=name[:128]))
    return result


@transaction.atomic
def archive_lists(ids: Iterable[int]) -> int:
    return MailingList.objects.filter(pk__in=list(ids), active=True).update(active=False)


# --- mailing contacts --------------------------------------------------------------------------


def _mailing_contact_fields(fields: dict[str, Any]) -> dict[str, Any]:
    check_fields(MailingContact, fields, MAILING_CONTACT_FIELDS)
    cleaned = clean_person(fields)
    if "email" in cleaned and not cleaned["email"]:
        raise ValidationError({"email": "a mailing contact needs an email address"})
    check_lengths(MailingContact, cleaned)
    return cleaned


@transaction.atomic
def create_mailing_contact(
    *,
    email: str,
    lists: Iterable[MailingList] = (),
    tags: Iterable[str | Tag] = (),
    **fields: Any,
) -> MailingContact:
    """Create a mailing contact (email required; name, phone, company_name, country,
    created_at optional) subscribed to `lists`."""
    cleaned = place_in_time(_mailing_contact_fields({"email": email, **fields}))
    contact = MailingContact.objects.create(**cleaned)
    tag_list = get_or_create_tags(tags)
    if tag_list:
        contact.tags.add(*tag_list)
    Subscription.objects.bulk_create([Subscription(contact=contact, list=ml) for ml in lists])
    report_changed(MAILING_CONTACT_LABEL, [contact.pk])
    return contact


@transaction.atomic
def update_mailing_contact(
    contact: MailingContact, *, tags: Iterable[str | Tag] | None = None, **fields: Any
) -> MailingContact:
    """Change the given fields; `tags`, when given, replaces the contact's tags."""
    if "phone" in fields and "country" not in fields:
        fields["country"] = contact.country
    cleaned = place_in_time(_mailing_contact_fields(fields), contact)
    for name, value in cleaned.items():
        setattr(contact, name, value)
    if cleaned:
        contact.save(update_fields=list(cleaned))
    if tags is not None:
        contact.tags.set(get_or_create_tags(tags))
    report_changed(MAILING_CONTACT_LABEL, [contact.pk])
    return contact


@transaction.atomic
def delete_mailing_contacts(ids: Iterable[int]) -> int:
    """Delete mailing contacts and their subscriptions; returns how many contacts."""
    ids = list(ids)
    deleted = MailingContact.objects.filter(pk__in=ids)
    count = deleted.count()
    deleted.delete()
    return count


# --- subscriptions -----------------------------------------------------------------------------


@transaction.atomic
def subscribe(
    contact: MailingContact, mailing_list: MailingList, confirmed: bool = False
) -> Subscription:
    """Subscribe `contact` to `mailing_list`; an explicit subscription clears an opt-out.
    `confirmed=True` records a double opt-in confirmation."""
    subscription, created = Subscription.objects.get_or_create(contact=contact, list=mailing_list)
    if not created or confirmed:
        subscription.opt_out, subscription.opt_out_at, subscription.opt_out_reason = False, None, ""
        subscription.confirmed = subscription.confirmed or confirmed
        subscription.save(update_fields=["opt_out", "opt_out_at", "opt_out_reason", "confirmed"])
    report_changed(MAILING_CONTACT_LABEL, [contact.pk])
    return subscription


@transaction.atomic
def subscribe_many(contact_ids: Iterable[int], mailing_list: MailingList) -> int:
    """Subscribe several contacts in one insert; existing subscriptions (opted out or not)
    are left as they are. Returns the number of new subscriptions."""
    ids = list(contact_ids)
    existing = set(
        Subscription.objects.filter(list=mailing_list, contact_id__in=ids).values_list(
            "contact_id", flat=True
        )
    )
    new = [Subscription(contact_id=i, list=mailing_list) for i in ids if i not in existing]
    Subscription.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    report_changed(MAILING_CONTACT_LABEL, [s.contact_id for s in new])
    return len(new)


@transaction.atomic
def add_people_to_list(mailing_list: MailingList, people: Iterable[dict[str, Any]]) -> list[int]:
    """Server action "add to list": each person (dict with email and optionally name, phone,
    company_name, country) is matched to a mailing contact by normalised email, or created,
    then subscribed (opt-outs are respected). People without a valid email are skipped.
    Returns the ids of the mailing contacts concerned. Constant number of queries."""
    wanted: dict[str, dict[str, Any]] = {}
    for person in people:
        try:
            email = clean_email(person.get("email"))
        except ValueError:
            continue
        if email:
            wanted.setdefault(email, person)
    existing = dict(
        MailingContact.objects.filter(email__in=list(wanted))
        .order_by("-id")
        .values_list("email", "id")
    )
    new = []
    for email, person in wanted.items():
        if email in existing:
            continue
        try:
            fields = clean_person(
                {k: person.get(k) or "" for k in ("name", "phone", "company_name", "country")}
            )
        except ValidationError:
            fields = {"name": (person.get("name") or "").strip()}
        new.append(MailingContact(email=email, **fields))
    MailingContact.objects.bulk_create(new, batch_size=1000)
    ids = list(existing.values()) + [c.pk for c in new]
    subscribe_many(ids, mailing_list)
    report_changed(MAILING_CONTACT_LABEL, ids)
    return ids


@transaction.atomic
def remove_from_list(
    mailing_list: MailingList,
    *,
    contact_ids: Iterable[int] = (),
    emails: Iterable[str] = (),
) -> int:
    """Server action "remove from list": delete the subscriptions of the given mailing
    contacts and/or addresses. Returns subscriptions removed."""
    ids = set(contact_ids)
    addresses = {normalize_email(e) for e in emails if e}
    if addresses:
        ids |= set(MailingContact.objects.filter(email__in=addresses).values_list("id", flat=True))
    removed, _ = Subscription.objects.filter(list=mailing_list, contact_id__in=ids).delete()
    report_changed(MAILING_CONTACT_LABEL, ids)
    return removed


@transaction.atomic
def opt_out(contact: MailingContact, lists: Iterable[MailingList], reason: str = "") -> int:
    """Opt `contact` out of `lists` (kept subscribed, flagged opted out with date and
    reason). Returns the number of subscriptions changed."""
    count = Subscription.objects.filter(
        contact=contact, list__in=list(lists), opt_out=False
    ).update(opt_out=True, opt_out_at=timezone.now(), opt_out_reason=reason.strip()[:200])
    report_changed(MAILING_CONTACT_LABEL, [contact.pk])
    return count


@transaction.atomic
def opt_out_email(email: str, lists: Iterable[MailingList], reason: str = "") -> int:
    """Opt every mailing contact with this address out of `lists` (unsubscribe page)."""
    ids = list(
        MailingContact.objects.filter(email=normalize_email(email)).values_list("id", flat=True)
    )
    count = Subscription.objects.filter(
        contact_id__in=ids, list__in=list(lists), opt_out=False
    ).update(opt_out=True, opt_out_at=timezone.now(), opt_out_reason=reason.strip()[:200])
    report_changed(MAILING_CONTACT_LABEL, ids)
    return count


@transaction.atomic
def set_opt_out_reason(email: str, lists: Iterable[MailingList], reason: str) -> int:
    """Record why an address opted out (the reason form after unsubscribing)."""
    return Subscription.objects.filter(
        contact__email=normalize_email(email), list__in=list(lists), opt_out=True
    ).update(opt_out_reason=reason.strip()[:200])


def resubscribe(contact: MailingContact, lists: Iterable[MailingList]) -> None:
    """Undo opt-outs (or subscribe) for each of `lists`."""
    for mailing_list in lists:
        subscribe(contact, mailing_list)


@transaction.atomic
def confirm_subscription(subscription: Subscription) -> Subscription:
    """Double opt-in: the recipient confirmed; clears a previous opt-out too."""
    subscription.confirmed, subscription.opt_out = True, False
    subscription.opt_out_at, subscription.opt_out_reason = None, ""
    subscription.save(update_fields=["confirmed", "opt_out", "opt_out_at", "opt_out_reason"])
    report_changed(MAILING_CONTACT_LABEL, [subscription.contact_id])
    return subscription


# --- blacklists --------------------------------------------------------------------------------


def _post_notes(model: type, ids_and_texts: list[tuple[int, str]], by: User | None) -> None:
    content_type = ContentType.objects.get_for_model(model)
    Note.objects.bulk_create(
        [Note(content_type=content_type, object_id=i, body=t, author=by) for i, t in ids_and_texts]
    )


def _clean_reason(reason: str, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ValidationError({"reason": "please give a reason"})
    return reason[:200]


def _valid_emails(emails: Iterable[str]) -> list[str]:
    result, errors = [], []
    for raw in emails:
        try:
            email = clean_email(raw)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if email:
            result.append(email)
    if errors:
        raise ValidationError({"email": errors[0]})
    return list(dict.fromkeys(result))


def _valid_numbers(numbers: Iterable[str]) -> list[str]:
    result = []
    for raw in numbers:
        try:
            number = clean_phone(raw)
        except ValueError as exc:
            raise ValidationError({"number": str(exc)})
        if number:
            result.append(number)
    return list(dict.fromkeys(result))


def _blacklist(
    model: type, key: str, values: list[str], reason: str, by: User | None, note: str
) -> int:
    """Insert or reactivate blacklist rows for `values`; returns how many became active."""
    now = timezone.now()
    existing = {getattr(row, key): row for row in model.objects.filter(**{f"{key}__in": values})}
    new = [model(**{key: v}, reason=reason) for v in values if v not in existing]
    model.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    revived = [row for row in existing.values() if not row.active]
    model.objects.filter(pk__in=[r.pk for r in revived]).update(
        active=True, reason=reason, updated_at=now
    )
    keys = [getattr(r, key) for r in revived] + [getattr(n, key) for n in new]
    changed_ids = list(model.objects.filter(**{f"{key}__in": keys}).values_list("id", flat=True))
    _post_notes(model, [(i, note) for i in changed_ids], by)
    return len(changed_ids)


def _unblacklist(
    model: type, key: str, values: list[str], reason: str, by: User | None, note: str
) -> int:
    rows = list(model.objects.filter(**{f"{key}__in": values}, active=True).only("id"))
    model.objects.filter(pk__in=[r.pk for r in rows]).update(
        active=False, reason=reason, updated_at=timezone.now()
    )
    _post_notes(model, [(r.pk, note) for r in rows], by)
    return len(rows)


@transaction.atomic
def blacklist_emails(emails: Iterable[str], reason: str = "", by: User | None = None) -> int:
    """Blacklist addresses (normalised; an inactive entry is reactivated). Returns how many
    addresses became blacklisted. ValidationError if one is not a valid address."""
    reason = _clean_reason(reason, required=False)
    return _blacklist(
        EmailBlacklist,
        "email",
        _valid_emails(emails),
        reason,
        by,
        f"Blacklisted: {reason}" if reason else "Blacklisted",
    )


def blacklist_email(email: str, reason: str = "", by: User | None = None) -> EmailBlacklist:
    """Blacklist one address; returns its (active) blacklist entry."""
    blacklist_emails([email], reason, by)
    return EmailBlacklist.objects.get(email=clean_email(email))


@transaction.atomic
def unblacklist_emails(emails: Iterable[str], reason: str, by: User | None = None) -> int:
    """Lift the blacklisting of addresses; a reason is required. Returns entries lifted."""
    reason = _clean_reason(reason, required=True)
    values = [normalize_email(e) for e in emails if e]
    return _unblacklist(EmailBlacklist, "email", values, reason, by, f"Unblacklisted: {reason}")


def unblacklist_email(email: str, reason: str, by: User | None = None) -> bool:
    """Lift one address's blacklisting; True when it was blacklisted."""
    return unblacklist_emails([email], reason, by) == 1


@transaction.atomic
def blacklist_phones(numbers: Iterable[str], reason: str = "", by: User | None = None) -> int:
    """Blacklist phone numbers (stored E.164; numbers without +prefix read as US)."""
    reason = _clean_reason(reason, required=False)
    return _blacklist(
        PhoneBlacklist,
        "number",
        _valid_numbers(numbers),
        reason,
        by,
        f"Blacklisted: {reason}" if reason else "Blacklisted",
    )


def blacklist_phone(number: str, reason: str = "", by: User | None = None) -> PhoneBlacklist:
    blacklist_phones([number], reason, by)
    return PhoneBlacklist.objects.get(number=clean_phone(number))


@transaction.atomic
def unblacklist_phones(numbers: Iterable[str], reason: str, by: User | None = None) -> int:
    reason = _clean_reason(reason, required=True)
    values = _valid_numbers(numbers)
    return _unblacklist(PhoneBlacklist, "number", values, reason, by, f"Unblacklisted: {reason}")


def unblacklist_phone(number: str, reason: str, by: User | None = None) -> bool:
    return unblacklist_phones([number], reason, by) == 1


def is_email_blacklisted(email: str) -> bool:
    return EmailBlacklist.objects.filter(email=normalize_email(email), active=True).exists()


def is_phone_blacklisted(number: str) -> bool:
    try:
        phone = clean_phone(number)
    except ValueError:
        return False
    return bool(phone) and PhoneBlacklist.objects.filter(number=phone, active=True).exists()
