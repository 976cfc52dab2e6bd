"""Business records: contacts, tags, leads (and their stages), events, registrations.

Writes go through each app's services, so created and updated records are reported to the
running campaigns (`hooks.records_changed`) and enrolled at once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from drumbeat.accounts.models import User
from drumbeat.automation.privacy import forget_records  # deletes and anonymises history
from drumbeat.contacts import services as contact_services
from drumbeat.contacts.models import Contact, Tag
from drumbeat.crm import services as crm_services
from drumbeat.crm.models import Lead, Stage
from drumbeat.events import services as event_services
from drumbeat.events.models import Event, Registration

from .auth import require_admin
from .errors import Conflict, with_errors
from .fields import Id, Text, partial_schema
from .listing import list_params, page_schema, paginate
from .lookups import delete_record, get_or_404, resolve_ids

TagName = Text(64, 1)


def _tag_names(obj: Any) -> list[str]:
    return [t.name for t in obj.tags.all()]


# --- tags --------------------------------------------------------------------------------------

tags_router = Router(tags=["Tags"])


class TagOut(Schema):
    id: int
    name: str
    color: str

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": 1, "name": "VIP", "color": "amber"}]}
    )


class TagIn(Schema):
    name: TagName  # type: ignore[valid-type]
    color: Text(16, 1) = "slate"  # type: ignore[valid-type]

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "VIP", "color": "amber"}]})


TagPatch = partial_schema(TagIn, "TagPatch")
TagList = list_params(
    "TagListParams", "contacts.tag", ["id", "name"], example='[["name", "ilike", "vip"]]'
)


@tags_router.get("", response=with_errors({200: page_schema(TagOut)}), summary="List tags")
def list_tags(request: HttpRequest, params: Query[TagList]):  # type: ignore[valid-type]
    return paginate(Tag.objects.all(), params)


@tags_router.post("", response=with_errors({201: TagOut}), summary="Create a tag")
def create_tag(request: HttpRequest, payload: TagIn):
    name = payload.name.strip()
    if not name:
        raise ValidationError({"name": "a tag needs a name"})
    if Tag.objects.filter(name=name).exists():
        raise Conflict(f"A tag named {name!r} already exists.")
    (tag,) = contact_services.get_or_create_tags([name])
    if payload.color != tag.color:
        Tag.objects.filter(pk=tag.pk).update(color=payload.color)
        tag.color = payload.color
    return Status(201, tag)


@tags_router.get("/{id}", response=with_errors({200: TagOut}), summary="Read a tag")
def get_tag(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Tag, id, "tag")


@tags_router.patch("/{id}", response=with_errors({200: TagOut}), summary="Rename a tag")
def update_tag(request: HttpRequest, id: Id, payload: TagPatch):  # type: ignore[valid-type]  # noqa: A002
    tag = get_or_404(Tag, id, "tag")
    changes = payload.model_dump(exclude_unset=True)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if Tag.objects.filter(name=changes["name"]).exclude(pk=tag.pk).exists():
            raise Conflict(f"A tag named {changes['name']!r} already exists.")
    for name, value in changes.items():
        setattr(tag, name, value)
    if changes:
        with transaction.atomic():
            tag.save(update_fields=list(changes))  # a tag is a label, not a campaign target
    return tag


@tags_router.delete("/{id}", response=with_errors({204: None}), summary="Delete a tag")
def delete_tag(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, "delete tags")
    delete_record(get_or_404(Tag, id, "tag"))
    return Status(204, None)


# --- contacts ----------------------------------------------------------------------------------

contacts_router = Router(tags=["Contacts"])

TIME_ZONE_HELP = (
    "IANA name, e.g. Europe/Paris; empty or absent: derived from the phone number, then the"
    " country (single-zone countries), else the instance's DRUMBEAT_TIME_ZONE at send time"
)
CONTACT_EXAMPLE = {
    "id": 12,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+32470123456",
    "company_name": "Analytical Engines",
    "country": "BE",
    "city": "Brussels",
    "time_zone": "Europe/Brussels",
    "tags": ["VIP"],
    "salesperson": 2,
    "active": True,
    "created_at": "2026-01-15T09:30:00Z",
}


class ContactOut(Schema):
    id: int
    name: str
    email: str
    phone: str
    company_name: str
    country: str
    city: str
    time_zone: str
    tags: list[str]
    salesperson: int | None
    active: bool
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [CONTACT_EXAMPLE]})

    @staticmethod
    def resolve_tags(obj: Contact) -> list[str]:
        return _tag_names(obj)

    @staticmethod
    def resolve_salesperson(obj: Contact) -> int | None:
        return obj.salesperson_id


class ContactIn(Schema):
    name: Text(200, 1)  # type: ignore[valid-type]
    email: Text(254) = ""  # type: ignore[valid-type]
    phone: Text(40) = ""  # type: ignore[valid-type]
    company_name: Text(200) = ""  # type: ignore[valid-type]
    country: Text(64) = Field("", description="ISO code or English name")  # type: ignore[valid-type]
    city: Text(100) = ""  # type: ignore[valid-type]
    time_zone: Text(64) = Field("", description=TIME_ZONE_HELP)  # type: ignore[valid-type]
    tags: list[TagName] = Field(default_factory=list, max_length=100)  # type: ignore[valid-type]
    salesperson: Id | None = None
    active: bool = True

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {k: v for k, v in CONTACT_EXAMPLE.items() if k not in {"id", "created_at"}}
            ]
        }
    )


ContactPatch = partial_schema(ContactIn, "ContactPatch")
ContactList = list_params(
    "ContactListParams",
    "contacts.contact",
    ["id", "name", "email", "company_name", "country", "city", "created_at"],
)
CONTACTS = Contact.objects.prefetch_related("tags")


@contacts_router.get(
    "", response=with_errors({200: page_schema(ContactOut)}), summary="List contacts"
)
def list_contacts(request: HttpRequest, params: Query[ContactList]):  # type: ignore[valid-type]
    return paginate(CONTACTS, params)


@contacts_router.post("", response=with_errors({201: ContactOut}), summary="Create a contact")
def create_contact(request: HttpRequest, payload: ContactIn):
    fields = payload.model_dump(exclude_unset=True)
    resolve_ids(fields, {"salesperson": User})
    contact = contact_services.create_contact(**fields)
    return Status(201, CONTACTS.get(pk=contact.pk))


@contacts_router.get("/{id}", response=with_errors({200: ContactOut}), summary="Read a contact")
def get_contact(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(CONTACTS, id, "contact")


@contacts_router.patch("/{id}", response=with_errors({200: ContactOut}), summary="Update a contact")
def update_contact(request: HttpRequest, id: Id, payload: ContactPatch):  # type: ignore[valid-type]  # noqa: A002
    contact = get_or_404(Contact, id, "contact")
    fields = payload.model_dump(exclude_unset=True)
    resolve_ids(fields, {"salesperson": User})
    contact_services.update_contact(contact, **fields)
    return CONTACTS.get(pk=contact.pk)


@contacts_router.delete("/{id}", response=with_errors({204: None}), summary="Delete a contact")
def delete_contact(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, "delete contacts")
    forget_records("contacts.contact", [get_or_404(Contact, id, "contact").pk])
    return Status(204, None)


# --- leads and stages --------------------------------------------------------------------------

leads_router = Router(tags=["Leads"])
stages_router = Router(tags=["Leads"])

LEAD_EXAMPLE = {
    "id": 7,
    "title": "50 seats for Analytical Engines",
    "contact": 12,
    "contact_name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+32470123456",
    "time_zone": "Europe/Brussels",
    "salesperson": 2,
    "priority": 2,
    "stage": 1,
    "tags": ["VIP"],
    "expected_revenue": 12000.0,
    "active": True,
    "created_at": "2026-02-01T10:00:00Z",
}


class StageOut(Schema):
    id: int
    name: str
    sequence: int
    is_won: bool

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": 1, "name": "New", "sequence": 10, "is_won": False}]}
    )


class LeadOut(Schema):
    id: int
    title: str
    contact: int | None
    contact_name: str
    email: str
    phone: str
    time_zone: str
    salesperson: int | None
    priority: int = Field(ge=0, le=3, description="0 Low, 1 Medium, 2 High, 3 Very high")
    stage: int | None
    tags: list[str]
    expected_revenue: float
    active: bool
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [LEAD_EXAMPLE]})

    @staticmethod
    def resolve_contact(obj: Lead) -> int | None:
        return obj.contact_id

    @staticmethod
    def resolve_salesperson(obj: Lead) -> int | None:
        return obj.salesperson_id

    @staticmethod
    def resolve_stage(obj: Lead) -> int | None:
        return obj.stage_id

    @staticmethod
    def resolve_tags(obj: Lead) -> list[str]:
        return _tag_names(obj)

    @staticmethod
    def resolve_expected_revenue(obj: Lead) -> float:
        return float(obj.expected_revenue)


class LeadIn(Schema):
    title: Text(200, 1)  # type: ignore[valid-type]
    contact: Id | None = None
    contact_name: Text(200) = ""  # type: ignore[valid-type]
    email: Text(254) = ""  # type: ignore[valid-type]
    phone: Text(40) = ""  # type: ignore[valid-type]
    time_zone: Text(64) = Field("", description=TIME_ZONE_HELP)  # type: ignore[valid-type]
    salesperson: Id | None = None
    priority: Literal[0, 1, 2, 3] = Field(0, description="0 Low, 1 Medium, 2 High, 3 Very high")
    stage: Id | None = Field(None, description="Default: the first stage of the pipeline")
    tags: list[TagName] = Field(default_factory=list, max_length=100)  # type: ignore[valid-type]
    expected_revenue: Annotated[Decimal, Field(ge=0, lt=10**12, decimal_places=2)] = Decimal(0)
    active: bool = True

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{k: v for k, v in LEAD_EXAMPLE.items() if k not in {"id", "created_at"}}]
        }
    )


LeadPatch = partial_schema(LeadIn, "LeadPatch")
LeadList = list_params(
    "LeadListParams",
    "crm.lead",
    ["id", "title", "email", "priority", "expected_revenue", "created_at"],
)
StageList = list_params("StageListParams", "crm.stage", ["id", "name", "sequence"])
LEADS = Lead.objects.prefetch_related("tags")
LEAD_RELATIONS = {"contact": Contact, "salesperson": User, "stage": Stage}


def _lead_fields(fields: dict[str, Any]) -> dict[str, Any]:
    resolve_ids(fields, LEAD_RELATIONS)
    if fields.get("stage", 0) is None:
        fields.pop("stage")  # no stage given: the service picks the first one
    return fields


@stages_router.get("", response=with_errors({200: page_schema(StageOut)}), summary="List stages")
def list_stages(request: HttpRequest, params: Query[StageList]):  # type: ignore[valid-type]
    return paginate(Stage.objects.all(), params)


@leads_router.get("", response=with_errors({200: page_schema(LeadOut)}), summary="List leads")
def list_leads(request: HttpRequest, params: Query[LeadList]):  # type: ignore[valid-type]
    return paginate(LEADS, params)


@leads_router.post("", response=with_errors({201: LeadOut}), summary="Create a lead")
def create_lead(request: HttpRequest, payload: LeadIn):
    lead = crm_services.create_lead(**_lead_fields(payload.model_dump(exclude_unset=True)))
    return Status(201, LEADS.get(pk=lead.pk))


@leads_router.get("/{id}", response=with_errors({200: LeadOut}), summary="Read a lead")
def get_lead(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(LEADS, id, "lead")


@leads_router.patch("/{id}", response=with_errors({200: LeadOut}), summary="Update a lead")
def update_lead(request: HttpRequest, id: Id, payload: LeadPatch):  # type: ignore[valid-type]  # noqa: A002
    lead = get_or_404(Lead, id, "lead")
    fields = payload.model_dump(exclude_unset=True)
    resolve_ids(fields, LEAD_RELATIONS)
    crm_services.update_lead(lead, **fields)
    return LEADS.get(pk=lead.pk)


@leads_router.delete("/{id}", response=with_errors({204: None}), summary="Delete a lead")
def delete_lead(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, "delete leads")
    forget_records("crm.lead", [get_or_404(Lead, id, "lead").pk])
    return Status(204, None)


# --- events and registrations ------------------------------------------------------------------

events_router = Router(tags=["Events"])
registrations_router = Router(tags=["Events"])

EVENT_EXAMPLE = {
    "id": 3,
    "name": "Spring open house",
    "date_begin": "2026-04-10T14:00:00Z",
    "date_end": "2026-04-10T18:00:00Z",
    "location": "Brussels",
    "description": "Demos and drinks",
    "active": True,
}
REGISTRATION_EXAMPLE = {
    "id": 40,
    "event": 3,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "",
    "time_zone": "Europe/Brussels",
    "contact": 12,
    "state": "confirmed",
    "created_at": "2026-03-01T08:00:00Z",
}
RegistrationState = Literal["draft", "confirmed", "attended", "cancelled"]


class EventOut(Schema):
    id: int
    name: str
    date_begin: dt.datetime
    date_end: dt.datetime
    location: str
    description: str
    active: bool

    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_EXAMPLE]})


class EventIn(Schema):
    name: Text(200, 1)  # type: ignore[valid-type]
    date_begin: dt.datetime = Field(description="With a time zone; UTC when none is given")
    date_end: dt.datetime
    location: Text(200) = ""  # type: ignore[valid-type]
    description: Text(20_000) = ""  # type: ignore[valid-type]
    active: bool = True

    model_config = ConfigDict(
        json_schema_extra={"examples": [{k: v for k, v in EVENT_EXAMPLE.items() if k != "id"}]}
    )


class RegistrationOut(Schema):
    id: int
    event: int
    name: str
    email: str
    phone: str
    time_zone: str
    contact: int | None
    state: RegistrationState
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [REGISTRATION_EXAMPLE]})

    @staticmethod
    def resolve_event(obj: Registration) -> int:
        return obj.event_id

    @staticmethod
    def resolve_contact(obj: Registration) -> int | None:
        return obj.contact_id


class RegistrationIn(Schema):
    event: Id
    name: Text(200) = Field("", description="Taken from the contact when empty")  # type: ignore[valid-type]
    email: Text(254) = ""  # type: ignore[valid-type]
    phone: Text(40) = ""  # type: ignore[valid-type]
    time_zone: Text(64) = Field("", description=TIME_ZONE_HELP)  # type: ignore[valid-type]
    contact: Id | None = None
    state: RegistrationState = "confirmed"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {k: v for k, v in REGISTRATION_EXAMPLE.items() if k not in {"id", "created_at"}}
            ]
        }
    )


EventPatch = partial_schema(EventIn, "EventPatch")
RegistrationPatch = partial_schema(RegistrationIn, "RegistrationPatch")
EventList = list_params("EventListParams", "events.event", ["id", "name", "date_begin", "date_end"])
RegistrationList = list_params(
    "RegistrationListParams", "events.registration", ["id", "name", "email", "state", "created_at"]
)
REGISTRATION_RELATIONS = {"event": Event, "contact": Contact}


def _aware(fields: dict[str, Any]) -> dict[str, Any]:
    for name in ("date_begin", "date_end"):
        value = fields.get(name)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            fields[name] = value.replace(tzinfo=dt.UTC)
    return fields


@events_router.get("", response=with_errors({200: page_schema(EventOut)}), summary="List events")
def list_events(request: HttpRequest, params: Query[EventList]):  # type: ignore[valid-type]
    return paginate(Event.objects.all(), params)


@events_router.post("", response=with_errors({201: EventOut}), summary="Create an event")
def create_event(request: HttpRequest, payload: EventIn):
    return Status(
        201, event_services.create_event(**_aware(payload.model_dump(exclude_unset=True)))
    )


@events_router.get("/{id}", response=with_errors({200: EventOut}), summary="Read an event")
def get_event(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Event, id, "event")


@events_router.patch("/{id}", response=with_errors({200: EventOut}), summary="Update an event")
def update_event(request: HttpRequest, id: Id, payload: EventPatch):  # type: ignore[valid-type]  # noqa: A002
    event = get_or_404(Event, id, "event")
    return event_services.update_event(event, **_aware(payload.model_dump(exclude_unset=True)))


@events_router.delete("/{id}", response=with_errors({204: None}), summary="Delete an event")
def delete_event(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, "delete events")
    delete_record(get_or_404(Event, id, "event"))
    return Status(204, None)


@registrations_router.get(
    "", response=with_errors({200: page_schema(RegistrationOut)}), summary="List registrations"
)
def list_registrations(request: HttpRequest, params: Query[RegistrationList]):  # type: ignore[valid-type]
    return paginate(Registration.objects.all(), params)


@registrations_router.post(
    "", response=with_errors({201: RegistrationOut}), summary="Register an attendee"
)
def create_registration(request: HttpRequest, payload: RegistrationIn):
    fields = payload.model_dump(exclude_unset=True)
    resolve_ids(fields, REGISTRATION_RELATIONS)
    return Status(201, event_services.register_attendee(**fields))


@registrations_router.get(
    "/{id}", response=with_errors({200: RegistrationOut}), summary="Read a registration"
)
def get_registration(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Registration, id, "registration")


@registrations_router.patch(
    "/{id}", response=with_errors({200: RegistrationOut}), summary="Update a registration"
)
def update_registration(request: HttpRequest, id: Id, payload: RegistrationPatch):  # type: ignore[valid-type]  # noqa: A002
    registration = get_or_404(Registration, id, "registration")
    fields = payload.model_dump(exclude_unset=True)
    resolve_ids(fields, REGISTRATION_RELATIONS)
    return event_services.update_registration(registration, **fields)


@registrations_router.delete(
    "/{id}", response=with_errors({204: None}), summary="Delete a registration"
)
def delete_registration(request: HttpRequest, id: Id):  # noqa: A002
    require_admin(request, "delete registrations")
    forget_records("events.registration", [get_or_404(Registration, id, "registration").pk])
    return Status(204, None)
