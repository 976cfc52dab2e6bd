"""Mailing lists, mailing contacts with their subscriptions, and the two blacklists.

Writes go through `drumbeat.mailing.audience`. Blacklists are administrators' business
(docs/product.md#users-and-access); deleting an entry lifts the blacklisting and keeps its history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from drumbeat.automation.privacy import forget_records
from drumbeat.mailing import audience
from drumbeat.mailing.models import (
    EmailBlacklist,
    MailingContact,
    MailingList,
    PhoneBlacklist,
    Subscription,
)

from .auth import require_admin
from .errors import with_errors
from .fields import Id, QueryText, Text, partial_schema
from .listing import list_params, page_schema, paginate
from .lookups import delete_record, get_or_404
from .records import TIME_ZONE_HELP

# --- mailing lists -----------------------------------------------------------------------------

lists_router = Router(tags=["Mailing lists"])

LIST_EXAMPLE = {
    "id": 1,
    "name": "Newsletter",
    "is_public": True,
    "description": "Monthly news",
    "active": True,
    "created_at": "2026-01-01T00:00:00Z",
}


class MailingListOut(Schema):
    id: int
    name: str
    is_public: bool
    description: str
    active: bool
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [LIST_EXAMPLE]})


class MailingListIn(Schema):
    name: Text(128, 1)  # type: ignore[valid-type]
    is_public: bool = True
    description: Text(5000) = ""  # type: ignore[valid-type]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Newsletter", "is_public": True, "description": "Monthly news"}]
        }
    )


class MailingListPatch(Schema):
    name: Text(128, 1) = None  # type: ignore[valid-type]
    is_public: bool = None  # type: ignore[assignment]
    description: Text(5000) = None  # type: ignore[valid-type]
    active: bool = None  # type: ignore[assignment]

    model_config = ConfigDict(json_schema_extra={"examples": [{"active": False}]})


MailingListList = list_params(
    "MailingListListParams", "mailing.mailinglist", ["id", "name", "created_at"]
)


@lists_router.get(
    "", response=with_errors({200: page_schema(MailingListOut)}), summary="List mailing lists"
)
def list_lists(request: HttpRequest, params: Query[MailingListList]):  # type: ignore[valid-type]
    return paginate(MailingList.objects.all(), params)


@lists_router.post("", response=with_errors({201: MailingListOut}), summary="Create a list")
def create_list(request: HttpRequest, payload: MailingListIn):
    return Status(201, audience.create_list(**payload.model_dump(exclude_unset=True)))


@lists_router.get("/{id}", response=with_errors({200: MailingListOut}), summary="Read a list")
def get_list(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(MailingList, id, "mailing list")


@lists_router.patch("/{id}", response=with_errors({200: MailingListOut}), summary="Update a list")
def update_list(request: HttpRequest, id: Id, payload: MailingListPatch):  # noqa: A002
    mailing_list = get_or_404(MailingList, id, "mailing list")
    return audience.update_list(mailing_list, **payload.model_dump(exclude_unset=True))


@lists_router.delete("/{id}", response=with_errors({204: None}), summary="Delete a list")
def delete_list(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, "delete mailing lists")
    delete_record(get_or_404(MailingList, id, "mailing list"))
    return Status(204, None)


# --- mailing contacts --------------------------------------------------------------------------

contacts_router = Router(tags=["Mailing contacts"])

SUBSCRIPTION_EXAMPLE = {
    "list": 1,
    "opt_out": False,
    "opt_out_at": None,
    "opt_out_reason": "",
    "confirmed": True,
    "created_at": "2026-01-10T12:00:00Z",
}
MAILING_CONTACT_EXAMPLE = {
    "id": 100,
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "phone": "",
    "company_name": "Navy",
    "country": "US",
    "time_zone": "America/New_York",
    "tags": ["Newsletter"],
    "subscriptions": [SUBSCRIPTION_EXAMPLE],
    "created_at": "2026-01-10T12:00:00Z",
}


class SubscriptionOut(Schema):
    list: int
    opt_out: bool
    opt_out_at: dt.datetime | None
    opt_out_reason: str
    confirmed: bool
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [SUBSCRIPTION_EXAMPLE]})

    @staticmethod
    def resolve_list(obj: Subscription) -> int:
        return obj.list_id


class SubscriptionIn(Schema):
    list: Id
    opt_out: bool = False
    opt_out_reason: Text(200) = ""  # type: ignore[valid-type]
    confirmed: bool = Field(False, description="A recorded double opt-in confirmation")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"list": 1, "opt_out": False, "confirmed": True}]}
    )


class MailingContactOut(Schema):
    id: int
    name: str
    email: str
    phone: str
    company_name: str
    country: str
    time_zone: str
    tags: list[str]
    subscriptions: list[SubscriptionOut]
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [MAILING_CONTACT_EXAMPLE]})

    @staticmethod
    def resolve_tags(obj: MailingContact) -> list[str]:
        return [t.name for t in obj.tags.all()]

    @staticmethod
    def resolve_subscriptions(obj: MailingContact) -> list[Subscription]:
        return list(obj.subscriptions.all())


class MailingContactIn(Schema):
    email: Text(254, 1)  # type: ignore[valid-type]
    name: Text(200) = ""  # type: ignore[valid-type]
    phone: Text(40) = ""  # type: ignore[valid-type]
    company_name: Text(200) = ""  # type: ignore[valid-type]
    country: Text(64) = ""  # type: ignore[valid-type]
    time_zone: Text(64) = Field("", description=TIME_ZONE_HELP)  # type: ignore[valid-type]
    tags: list[Text(64, 1)] = Field(default_factory=list, max_length=100)  # type: ignore[valid-type]
    subscriptions: list[SubscriptionIn] = Field(default_factory=list, max_length=200)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "grace@example.com",
                    "name": "Grace Hopper",
                    "country": "US",
                    "tags": ["Newsletter"],
                    "subscriptions": [{"list": 1, "confirmed": True}],
                }
            ]
        }
    )


MailingContactPatch = partial_schema(MailingContactIn, "MailingContactPatch")
MailingContactList = list_params(
    "MailingContactListParams",
    "mailing.mailingcontact",
    ["id", "name", "email", "company_name", "country", "created_at"],
)
MAILING_CONTACTS = MailingContact.objects.prefetch_related("tags", "subscriptions")


def _apply_subscriptions(contact: MailingContact, wanted: list[dict[str, Any]]) -> None:
    """Make the contact's subscriptions those of `wanted` (lists left out are removed)."""
    by_list: dict[int, dict[str, Any]] = {}
    # PATCH payloads are dumped without unset values, nested ones included: restore defaults
    wanted = [SubscriptionIn(**item).model_dump() for item in wanted]
    for item in wanted:
        if item["list"] in by_list:
            raise ValidationError({"subscriptions": f"list {item['list']} appears twice"})
        by_list[item["list"]] = item
    lists = MailingList.objects.in_bulk(list(by_list))
    missing = sorted(set(by_list) - set(lists))
    if missing:
        raise ValidationError({"subscriptions": f"no mailing list with id {missing[0]}"})
    current = {s.list_id: s for s in contact.subscriptions.all()}
    for list_id in set(current) - set(by_list):
        audience.remove_from_list(current[list_id].list, contact_ids=[contact.pk])
    for list_id, item in by_list.items():
        mailing_list = lists[list_id]
        existing = current.get(list_id)
        if item["opt_out"]:
            if existing is None:
                audience.subscribe(contact, mailing_list)
            audience.opt_out(contact, [mailing_list], item["opt_out_reason"])
            continue
        if existing is None or existing.opt_out or (item["confirmed"] and not existing.confirmed):
            subscription = audience.subscribe(contact, mailing_list, confirmed=item["confirmed"])
            if item["confirmed"] and not subscription.confirmed:
                audience.confirm_subscription(subscription)


@contacts_router.get(
    "",
    response=with_errors({200: page_schema(MailingContactOut)}),
    summary="List mailing contacts",
)
def list_mailing_contacts(request: HttpRequest, params: Query[MailingContactList]):  # type: ignore[valid-type]
    return paginate(MAILING_CONTACTS, params)


@contacts_router.post(
    "", response=with_errors({201: MailingContactOut}), summary="Create a mailing contact"
)
def create_mailing_contact(request: HttpRequest, payload: MailingContactIn):
    fields = payload.model_dump(exclude_unset=True)
    subscriptions = fields.pop("subscriptions", [])
    with transaction.atomic():
        contact = audience.create_mailing_contact(**fields)
        _apply_subscriptions(contact, subscriptions)
    return Status(201, MAILING_CONTACTS.get(pk=contact.pk))


@contacts_router.get(
    "/{id}", response=with_errors({200: MailingContactOut}), summary="Read a mailing contact"
)
def get_mailing_contact(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(MAILING_CONTACTS, id, "mailing contact")


@contacts_router.patch(
    "/{id}",
    response=with_errors({200: MailingContactOut}),
    summary="Update a mailing contact",
    description="`subscriptions`, when given, is the complete set: lists left out are removed.",
)
def update_mailing_contact(request: HttpRequest, id: Id, payload: MailingContactPatch):  # type: ignore[valid-type]  # noqa: A002
    contact = get_or_404(MailingContact, id, "mailing contact")
    fields = payload.model_dump(exclude_unset=True)
    subscriptions = fields.pop("subscriptions", None)
    with transaction.atomic():
        audience.update_mailing_contact(contact, **fields)
        if subscriptions is not None:
            _apply_subscriptions(contact, subscriptions)
    return MAILING_CONTACTS.get(pk=contact.pk)


@contacts_router.delete(
    "/{id}", response=with_errors({204: None}), summary="Delete a mailing contact"
)
def delete_mailing_contact(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, "delete mailing contacts")
    contact = get_or_404(MailingContact, id, "mailing contact")
    forget_records("mailing.mailingcontact", [contact.pk])  # anonymises their messages
    return Status(204, None)


# --- blacklists --------------------------------------------------------------------------------

blacklist_router = Router(tags=["Blacklists"])


class EmailBlacklistOut(Schema):
    id: int
    email: str
    reason: str
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 5,
                    "email": "bounced@example.com",
                    "reason": "Hard bounce",
                    "active": True,
                    "created_at": "2026-02-02T10:00:00Z",
                    "updated_at": "2026-02-02T10:00:00Z",
                }
            ]
        }
    )


class EmailBlacklistIn(Schema):
    email: Text(254, 1)  # type: ignore[valid-type]
    reason: Text(200) = ""  # type: ignore[valid-type]

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "bounced@example.com", "reason": "Hard bounce"}]}
    )


class PhoneBlacklistOut(Schema):
    id: int
    number: str
    reason: str
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 2,
                    "number": "+32470123456",
                    "reason": "Asked by phone",
                    "active": True,
                    "created_at": "2026-02-02T10:00:00Z",
                    "updated_at": "2026-02-02T10:00:00Z",
                }
            ]
        }
    )


class PhoneBlacklistIn(Schema):
    number: Text(40, 1) = Field(description="E.164 (+32…); without a prefix read as US")  # type: ignore[valid-type]
    reason: Text(200) = ""  # type: ignore[valid-type]

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"number": "+32470123456", "reason": "Asked by phone"}]}
    )


class BlacklistPatch(Schema):
    active: bool = Field(description="false lifts the blacklisting, true (re)activates it")
    reason: Text(200) = ""  # type: ignore[valid-type]

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"active": False, "reason": "Customer asked again"}]}
    )


def _blacklist_params(name: str, label: str, key: str, example: str) -> Any:
    return list_params(
        name,
        label,
        ["id", key, "created_at", "updated_at"],
        example=example,
        active=(
            bool | None,
            Field(None, description="Only active (true) or lifted (false) entries"),
        ),
        search=(
            QueryText(254) | None,
            Field(None, description="Part of the address or number", examples=["example.com"]),
        ),
    )


EmailBlacklistList = _blacklist_params(
    "EmailBlacklistListParams",
    "mailing.emailblacklist",
    "email",
    '[["email", "ilike", "@example.com"], ["active", "=", true]]',
)
PhoneBlacklistList = _blacklist_params(
    "PhoneBlacklistListParams",
    "mailing.phoneblacklist",
    "number",
    '[["number", "=like", "+32%"], ["active", "=", true]]',
)


def _blacklist_page(model: type, key: str, params: Any) -> dict[str, Any]:
    queryset = model.objects.all()
    if params.active is not None:
        queryset = queryset.filter(active=params.active)
    if params.search:
        queryset = queryset.filter(**{f"{key}__icontains": params.search.strip()})
    return paginate(queryset, params)


@blacklist_router.get(
    "/emails",
    response=with_errors({200: page_schema(EmailBlacklistOut)}),
    summary="List blacklisted emails",
)
def list_email_blacklist(request: HttpRequest, params: Query[EmailBlacklistList]):  # type: ignore[valid-type]
    return _blacklist_page(EmailBlacklist, "email", params)


@blacklist_router.post(
    "/emails", response=with_errors({201: EmailBlacklistOut}), summary="Blacklist an email"
)
def create_email_blacklist(request: HttpRequest, payload: EmailBlacklistIn):
    user = require_admin(request, "blacklist addresses")
    return Status(201, audience.blacklist_email(payload.email, payload.reason, by=user))


@blacklist_router.get(
    "/emails/{id}", response=with_errors({200: EmailBlacklistOut}), summary="Read an entry"
)
def get_email_blacklist(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(EmailBlacklist, id, "blacklisted email")


@blacklist_router.patch(
    "/emails/{id}",
    response=with_errors({200: EmailBlacklistOut}),
    summary="Lift or reactivate an email's blacklisting",
    description="Lifting (`active: false`) needs a reason.",
)
def update_email_blacklist(request: HttpRequest, id: Id, payload: BlacklistPatch):  # noqa: A002
    user = require_admin(request, "change the blacklist")
    entry = get_or_404(EmailBlacklist, id, "blacklisted email")
    if payload.active:
        audience.blacklist_emails([entry.email], payload.reason, by=user)
    else:
        audience.unblacklist_emails([entry.email], payload.reason, by=user)
    entry.refresh_from_db()
    return entry


@blacklist_router.delete(
    "/emails/{id}",
    response=with_errors({204: None}),
    summary="Lift an email's blacklisting",
    description="The entry is kept, inactive, with its history.",
)
def delete_email_blacklist(request: HttpRequest, id: Id):  # noqa: A002
    user = require_admin(request, "change the blacklist")
    entry = get_or_404(EmailBlacklist, id, "blacklisted email")
    audience.unblacklist_emails([entry.email], f"Lifted through the API by {user}", by=user)
    return Status(204, None)


@blacklist_router.get(
    "/phones",
    response=with_errors({200: page_schema(PhoneBlacklistOut)}),
    summary="List blacklisted phone numbers",
)
def list_phone_blacklist(request: HttpRequest, params: Query[PhoneBlacklistList]):  # type: ignore[valid-type]
    return _blacklist_page(PhoneBlacklist, "number", params)


@blacklist_router.post(
    "/phones", response=with_errors({201: PhoneBlacklistOut}), summary="Blacklist a number"
)
def create_phone_blacklist(request: HttpRequest, payload: PhoneBlacklistIn):
    user = require_admin(request, "blacklist phone numbers")
    return Status(201, audience.blacklist_phone(payload.number, payload.reason, by=user))


@blacklist_router.get(
    "/phones/{id}", response=with_errors({200: PhoneBlacklistOut}), summary="Read an entry"
)
def get_phone_blacklist(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(PhoneBlacklist, id, "blacklisted phone")


@blacklist_router.patch(
    "/phones/{id}",
    response=with_errors({200: PhoneBlacklistOut}),
    summary="Lift or reactivate a number's blacklisting",
    description="Lifting (`active: false`) needs a reason.",
)
def update_phone_blacklist(request: HttpRequest, id: Id, payload: BlacklistPatch):  # noqa: A002
    user = require_admin(request, "change the blacklist")
    entry = get_or_404(PhoneBlacklist, id, "blacklisted phone")
    if payload.active:
        audience.blacklist_phones([entry.number], payload.reason, by=user)
    else:
        audience.unblacklist_phones([entry.number], payload.reason, by=user)
    entry.refresh_from_db()
    return entry


@blacklist_router.delete(
    "/phones/{id}",
    response=with_errors({204: None}),
    summary="Lift a number's blacklisting",
    description="The entry is kept, inactive, with its history.",
)
def delete_phone_blacklist(request: HttpRequest, id: Id):  # noqa: A002
    user = require_admin(request, "change the blacklist")
    entry = get_or_404(PhoneBlacklist, id, "blacklisted phone")
    audience.unblacklist_phones([entry.number], f"Lifted through the API by {user}", by=user)
    return Status(204, None)
