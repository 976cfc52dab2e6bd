"""What a CSV file may hold for each kind of import: the kinds, the columns and their aliases,
the required ones, the model each kind writes, and the words the report uses."""

from __future__ import annotations

from django.db import models

from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.events.models import Registration
from drumbeat.mailing.models import EmailBlacklist, MailingContact, PhoneBlacklist

BLACKLIST_KINDS = ("blacklist-emails", "blacklist-phones")
KINDS = ("contacts", "leads", "registrations", "mailing-contacts", *BLACKLIST_KINDS)

# field -> accepted header names (compared after lower-casing and dropping non-alphanumerics)
_PERSON = {
    "email": ["email", "e-mail", "email address", "e-mail address", "mail"],
    "phone": ["phone", "mobile", "mobile phone", "phone number", "telephone", "tel", "gsm"],
    "country": ["country", "country code"],
    "time_zone": ["time zone", "timezone", "tz"],
}
COLUMNS: dict[str, dict[str, list[str]]] = {
    "contacts": {
        "name": ["name", "full name", "contact name", "contact"],
        **_PERSON,
        "company_name": ["company", "company name", "organization", "organisation"],
        "city": ["city", "town"],
        "tags": ["tags", "tag", "labels"],
        "salesperson": ["salesperson", "sales person", "user", "owner", "assigned to"],
    },
    "leads": {
        "title": ["title", "lead", "opportunity", "subject", "name"],
        "contact_name": ["contact name", "contact", "customer"],
        **_PERSON,
        "salesperson": ["salesperson", "sales person", "user", "owner", "assigned to"],
        "priority": ["priority"],
        "stage": ["stage"],
        "tags": ["tags", "tag", "labels"],
        "expected_revenue": ["expected revenue", "revenue", "amount"],
    },
    "registrations": {
        "event": ["event", "event name"],
        "name": ["name", "attendee", "attendee name", "full name"],
        **_PERSON,
        "state": ["state", "status"],
    },
    "mailing-contacts": {
        "name": ["name", "full name", "contact name"],
        **_PERSON,
        "company_name": ["company", "company name", "organization", "organisation"],
        "tags": ["tags", "tag", "labels"],
        "lists": ["list", "lists", "mailing list", "mailing lists"],
    },
    "blacklist-emails": {
        "email": _PERSON["email"],
        "reason": ["reason", "comment", "note", "why"],
    },
    "blacklist-phones": {
        "number": ["number", *_PERSON["phone"]],
        "country": _PERSON["country"],
        "reason": ["reason", "comment", "note", "why"],
    },
}
REQUIRED = {
    "contacts": ["name"],
    "leads": ["title"],
    "registrations": ["event", "name"],
    "mailing-contacts": ["email"],
    "blacklist-emails": ["email"],
    "blacklist-phones": ["number"],
}
MODELS: dict[str, type[models.Model]] = {
    "contacts": Contact,
    "leads": Lead,
    "registrations": Registration,
    "mailing-contacts": MailingContact,
    "blacklist-emails": EmailBlacklist,
    "blacklist-phones": PhoneBlacklist,
}
NOUNS = {"blacklist-emails": "blacklisted emails", "blacklist-phones": "blacklisted numbers"}
# the header's field name -> the model field written
STORED_AS = {"salesperson": "salesperson_id", "stage": "stage_id", "event": "event_id"}
FIELD_TITLES = {"company_name": "Company", "expected_revenue": "Expected revenue"}


def title(name: str) -> str:
    """A field's name as the report and the messages write it ("Company", "Phone")."""
    return FIELD_TITLES.get(name, name.replace("_", " ").capitalize())
