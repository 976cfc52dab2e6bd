"""The record pages the UI offers (docs/product.md#records, #email-and-sms): one `RecordKind` per
kind of record says how to list, search, show, create, edit and archive it. Writes go through the
owning app's services; the views in views_records.py are the same for every kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms as django_forms
from django.db import models
from django.db.models import Count, Q

from drumbeat.contacts import services as contact_services
from drumbeat.contacts.models import Contact
from drumbeat.crm import services as lead_services
from drumbeat.crm.models import Lead
from drumbeat.events import services as event_services
from drumbeat.events.models import Event, Registration
from drumbeat.lib.timezones import derive_zone
from drumbeat.mailing import audience
from drumbeat.mailing.models import (
    EmailBlacklist,
    MailingContact,
    MailingList,
    PhoneBlacklist,
)

from . import forms


@dataclass(frozen=True)
class RecordKind:
    slug: str
    label: str
    label_plural: str
    model: type[models.Model]
    form_class: type[django_forms.Form]
    search_fields: tuple[str, ...]
    create: Callable[[dict, Any], models.Model]
    update: Callable[[models.Model, dict, Any], models.Model] | None = None
    archive: Callable[[list[int]], int] | None = None
    restore: Callable[[list[int]], int] | None = None
    delete: Callable[[list[int]], int] | None = None
    active_field: str | None = None
    target_key: str | None = None  # campaigns can run on it: ?domain= filters apply
    import_kind: str | None = None  # drumbeat.importer kind
    admin_only: bool = False
    has_timeline: bool = True
    icon: str = "user"
    description: str = ""
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()
    annotate: dict = field(default_factory=dict)
    sibling: str | None = None  # the other tab of a two-tab page (blacklists)
    partials: str | None = None  # the name of its _table_/_detail_ templates; default: slug

    # Templates call callables, so they test these flags instead of the functions.
    @property
    def can_edit(self) -> bool:
        return self.update is not None

    @property
    def can_archive(self) -> bool:
        return self.archive is not None

    @property
    def can_restore(self) -> bool:
        return self.restore is not None

    @property
    def can_delete(self) -> bool:
        return self.delete is not None

    @property
    def list_template(self) -> str:
        return f"web/records/_table_{self._partials}.html"

    @property
    def detail_template(self) -> str:
        return f"web/records/_detail_{self._partials}.html"

    @property
    def _partials(self) -> str:
        return self.partials or self.slug.replace("-", "_")

    def queryset(self) -> models.QuerySet:
        qs = self.model._default_manager.all()
        if self.select_related:
            qs = qs.select_related(*self.select_related)
        if self.prefetch_related:
            qs = qs.prefetch_related(*self.prefetch_related)
        if self.annotate:
            qs = qs.annotate(**self.annotate)
        ordering = list(self.model._meta.ordering or [])
        return qs.order_by(*ordering, "-pk" if "-" in "".join(ordering[:1]) else "pk")

    def search(self, qs: models.QuerySet, text: str) -> models.QuerySet:
        condition = Q()
        for name in self.search_fields:
            condition |= Q(**{f"{name}__icontains": text})
        return qs.filter(condition)

    def initial(self, record: models.Model) -> dict:
        """Form values for editing `record`."""
        result = {}
        for name in self.form_class.base_fields:
            value = getattr(record, name, None)
            if isinstance(value, models.Manager):
                value = list(value.all())
            result[name] = value
        if result.get("time_zone") and result["time_zone"] == derive_zone(
            getattr(record, "phone", "") or "", getattr(record, "country", "") or ""
        ):
            result["time_zone"] = ""  # derived: shown as automatic, so it keeps following
        return result


def _plain(data: dict, drop: tuple[str, ...] = ()) -> dict:
    return {k: v for k, v in data.items() if k not in drop}


def _create_contact(data: dict, user) -> Contact:
    return contact_services.create_contact(**data)


def _update_contact(record: Contact, data: dict, user) -> Contact:
    return contact_services.update_contact(record, **data)


def _lead_data(data: dict) -> dict:
    data = dict(data)
    if data.get("contact") is not None:
        # empty name/email/phone are taken from the linked contact by the service
        for name in ("contact_name", "email", "phone"):
            if not data.get(name):
                data.pop(name, None)
    if data.get("stage") is None:
        data.pop("stage", None)
    if data.get("expected_revenue") is None:
        data["expected_revenue"] = 0
    return data


def _create_lead(data: dict, user) -> Lead:
    return lead_services.create_lead(**_lead_data(data))


def _update_lead(record: Lead, data: dict, user) -> Lead:
    return lead_services.update_lead(record, **_lead_data(data))


def _create_event(data: dict, user) -> Event:
    return event_services.create_event(**data)


def _update_event(record: Event, data: dict, user) -> Event:
    return event_services.update_event(record, **data)


def _archive_events(ids: list[int]) -> int:
    return sum(
        1
        for event in Event.objects.filter(pk__in=ids, active=True)
        if event_services.update_event(event, active=False)
    )


def _restore_events(ids: list[int]) -> int:
    return sum(
        1
        for event in Event.objects.filter(pk__in=ids, active=False)
        if event_services.update_event(event, active=True)
    )


def _create_registration(data: dict, user) -> Registration:
    data = dict(data)
    if data.get("contact") is not None:
        for name in ("name", "email", "phone"):
            if not data.get(name):
                data.pop(name, None)
    return event_services.register_attendee(**data)


def _update_registration(record: Registration, data: dict, user) -> Registration:
    return event_services.update_registration(record, **data)


def _create_list(data: dict, user) -> MailingList:
    return audience.create_list(**data)


def _update_list(record: MailingList, data: dict, user) -> MailingList:
    return audience.update_list(record, **data)


def _restore_lists(ids: list[int]) -> int:
    return sum(
        1
        for ml in MailingList.objects.filter(pk__in=ids, active=False)
        if audience.update_list(ml, active=True)
    )


def _forget_mailing_contacts(ids) -> int:
    """Delete mailing contacts; their messages, clicks and traces are anonymised, the metrics
    stay (automation/privacy.py)."""
    from drumbeat.automation.privacy import forget_records

    return forget_records("mailing.mailingcontact", ids).records["mailing.mailingcontact"]


def _create_mailing_contact(data: dict, user) -> MailingContact:
    data = dict(data)
    lists = data.pop("lists", [])
    return audience.create_mailing_contact(lists=lists, **data)


def _subscribe_new_lists(record: MailingContact, data: dict, user) -> MailingContact:
    data = dict(data)
    lists = data.pop("lists", [])
    contact = audience.update_mailing_contact(record, **data)
    for mailing_list in lists:
        audience.subscribe_many([contact.pk], mailing_list)
    return contact


def _blacklist_email(data: dict, user) -> EmailBlacklist:
    return audience.blacklist_email(data["email"], data.get("reason", ""), by=user)


def _blacklist_phone(data: dict, user) -> PhoneBlacklist:
    return audience.blacklist_phone(data["number"], data.get("reason", ""), by=user)


KINDS: dict[str, RecordKind] = {}


def _register(kind: RecordKind) -> None:
    KINDS[kind.slug] = kind


_register(
    RecordKind(
        slug="contacts",
        label="Contact",
        label_plural="Contacts",
        model=Contact,
        form_class=forms.ContactForm,
        search_fields=("name", "email", "company_name", "city", "phone"),
        create=_create_contact,
        update=_update_contact,
        archive=contact_services.archive_contacts,
        restore=contact_services.restore_contacts,
        active_field="active",
        target_key="contacts.contact",
        import_kind="contacts",
        icon="user",
        description="People and companies in the address book.",
        select_related=("salesperson",),
        prefetch_related=("tags",),
    )
)
_register(
    RecordKind(
        slug="leads",
        label="Lead",
        label_plural="Leads",
        model=Lead,
        form_class=forms.LeadForm,
        search_fields=("title", "contact_name", "email"),
        create=_create_lead,
        update=_update_lead,
        archive=lead_services.archive_leads,
        restore=lead_services.restore_leads,
        active_field="active",
        target_key="crm.lead",
        import_kind="leads",
        icon="megaphone",
        description="Sales opportunities and their priority.",
        select_related=("salesperson", "stage", "contact"),
        prefetch_related=("tags",),
    )
)
_register(
    RecordKind(
        slug="events",
        label="Event",
        label_plural="Events",
        model=Event,
        form_class=forms.EventForm,
        search_fields=("name", "location"),
        create=_create_event,
        update=_update_event,
        archive=_archive_events,
        restore=_restore_events,
        active_field="active",
        icon="calendar",
        description="Events people register to.",
        annotate={"registration_count": Count("registrations")},
    )
)
_register(
    RecordKind(
        slug="registrations",
        label="Registration",
        label_plural="Registrations",
        model=Registration,
        form_class=forms.RegistrationForm,
        search_fields=("name", "email", "event__name"),
        create=_create_registration,
        update=_update_registration,
        target_key="events.registration",
        import_kind="registrations",
        icon="calendar",
        description="Attendees of events.",
        select_related=("event", "contact"),
    )
)
_register(
    RecordKind(
        slug="mailing-lists",
        label="Mailing list",
        label_plural="Mailing lists",
        model=MailingList,
        form_class=forms.MailingListForm,
        search_fields=("name", "description"),
        create=_create_list,
        update=_update_list,
        archive=audience.archive_lists,
        restore=_restore_lists,
        active_field="active",
        icon="list",
        description="Lists of mailing contacts, with their subscriptions.",
        has_timeline=False,
        annotate={
            "recipient_count": Count("subscriptions", filter=Q(subscriptions__opt_out=False)),
            "subscription_count": Count("subscriptions"),
        },
    )
)
_register(
    RecordKind(
        slug="mailing-contacts",
        label="Mailing contact",
        label_plural="Mailing contacts",
        model=MailingContact,
        form_class=forms.MailingContactForm,
        search_fields=("name", "email", "company_name"),
        create=_create_mailing_contact,
        update=_subscribe_new_lists,
        delete=_forget_mailing_contacts,
        target_key="mailing.mailingcontact",
        import_kind="mailing-contacts",
        icon="mail",
        description="Recipients of mailing lists.",
        prefetch_related=("tags", "subscriptions__list"),
    )
)


def _blacklist_kind(
    slug: str, label: str, model: type[models.Model], create, **fields
) -> RecordKind:
    """The two blacklists share their pages (web/records/_*_blacklist.html) and rules."""
    return RecordKind(
        slug=slug,
        label=f"Blacklisted {label}",
        label_plural=f"Blacklisted {label}s",
        model=model,
        create=create,
        admin_only=True,
        icon="shield",
        partials="blacklist",
        **fields,
    )


_register(
    _blacklist_kind(
        "email-blacklist",
        "email",
        EmailBlacklist,
        _blacklist_email,
        form_class=forms.EmailBlacklistForm,
        search_fields=("email", "reason"),
        import_kind="blacklist-emails",
        description="Addresses that receive no marketing email.",
        sibling="phone-blacklist",
    )
)
_register(
    _blacklist_kind(
        "phone-blacklist",
        "phone",
        PhoneBlacklist,
        _blacklist_phone,
        form_class=forms.PhoneBlacklistForm,
        search_fields=("number", "reason"),
        import_kind="blacklist-phones",
        description="Numbers that receive no marketing SMS.",
        sibling="email-blacklist",
    )
)


def get_kind(slug: str) -> RecordKind:
    return KINDS[slug]


def kind_for_target(target_key: str) -> RecordKind | None:
    return next((k for k in KINDS.values() if k.target_key == target_key), None)
