"""The target registry: which models a campaign can run on, and what filters may touch.

A target declares its model, display/email/phone fields and default unique field. Filterable
fields are declared per model (`FILTERABLE`), so relations can be followed to related models
(up to `MAX_RELATION_DEPTH` hops) without exposing anything else. Making a new model targetable
is one `register()` call plus its entry in `FILTERABLE`; the engine does not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property

from django.apps import apps
from django.db import models

MAX_RELATION_DEPTH = 3

# model label -> field names a filter may use on that model
FILTERABLE: dict[str, list[str]] = {
    "contacts.contact": [
        "id",
        "name",
        "email",
        "phone",
        "company_name",
        "country",
        "city",
        "time_zone",
        "tags",
        "salesperson",
        "active",
        "created_at",
        "leads",
        "registrations",
    ],
    "contacts.tag": ["id", "name"],
    "brand.mediafile": [
        "id",
        "name",
        "original_name",
        "content_type",
        "size",
        "width",
        "height",
        "created_at",
    ],
    "accounts.user": ["id", "username", "first_name", "last_name", "email"],
    "crm.lead": [
        "id",
        "title",
        "contact",
        "contact_name",
        "email",
        "phone",
        "time_zone",
        "salesperson",
        "priority",
        "stage",
        "tags",
        "expected_revenue",
        "active",
        "created_at",
    ],
    "crm.stage": ["id", "name", "sequence", "is_won"],
    "events.event": ["id", "name", "date_begin", "date_end", "location"],
    "events.registration": [
        "id",
        "event",
        "name",
        "email",
        "phone",
        "time_zone",
        "contact",
        "state",
        "created_at",
    ],
    "mailing.mailingcontact": [
        "id",
        "name",
        "email",
        "phone",
        "company_name",
        "country",
        "time_zone",
        "tags",
        "subscriptions",
        "lists",
        "created_at",
    ],
    "mailing.subscription": ["id", "list", "contact", "opt_out", "opt_out_at", "confirmed"],
    "mailing.mailinglist": ["id", "name", "is_public"],
    "mailing.message": [
        "id",
        "channel",
        "recipient",
        "subject",
        "state",
        "campaign_id",
        "activity_id",
        "is_test",
        "created_at",
        "sent_at",
        "opened_at",
        "clicked_at",
        "replied_at",
        "bounced_at",
        "bounce_kind",
        "bounce_category",
        "complained_at",
    ],
    # The REST API's other collections (`?domain=` on each list, drumbeat/api/listing.py).
    # Secrets (token hashes, webhook secrets) and JSON columns are left out on purpose.
    "automation.campaign": [
        "id",
        "name",
        "owner",
        "target",
        "state",
        "include_archived",
        "unique_field",
        "event_window_days",
        "ignore_machine_events",
        "priority",
        "pressure_exempt",
        "goal_window_days",
        "exit_on_goal",
        "require_sync",
        "last_sync_at",
        "archived",
        "created_at",
        "updated_at",
        "activities",
    ],
    "automation.activity": [
        "id",
        "campaign",
        "parent",
        "name",
        "kind",
        "template",
        "server_action",
        "trigger",
        "delay_amount",
        "delay_unit",
        "delay_hours",
        "expiry_amount",
        "expiry_unit",
        "on_cap",
        "pending_change",
        "branch",
        "winner",
        "winner_at",
        "created_at",
        "updated_at",
    ],
    "automation.participant": [
        "id",
        "campaign",
        "record_id",
        "unique_key",
        "state",
        "is_test",
        "enrolled_at",
        "completed_at",
        "converted_at",
    ],
    "automation.trace": [
        "id",
        "participant",
        "activity",
        "parent",
        "state",
        "scheduled_at",
        "window_ends_at",
        "executed_at",
        "reason",
        "is_test",
        "message",
        "created_at",
    ],
    "automation.serveraction": [
        "id",
        "name",
        "target",
        "kind",
        "parent",
        "sequence",
        "created_at",
        "updated_at",
    ],
    "automation.webhookendpoint": [
        "id",
        "url",
        "active",
        "description",
        "created_by",
        "created_at",
    ],
    "automation.webhookdelivery": [
        "id",
        "endpoint",
        "event",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status",
        "last_error",
        "delivered_at",
        "created_at",
    ],
    "mailing.template": [
        "id",
        "name",
        "kind",
        "target",
        "subject",
        "email_from",
        "reply_to",
        "created_at",
        "updated_at",
    ],
    "mailing.link": [
        "id",
        "url",
        "title",
        "code",
        "template",
        "campaign_id",
        "activity_id",
        "created_at",
        "clicks",
    ],
    "mailing.click": ["id", "link", "message", "at", "ip", "user_agent", "is_machine"],
    "mailing.emailblacklist": ["id", "email", "reason", "active", "created_at", "updated_at"],
    "mailing.phoneblacklist": ["id", "number", "reason", "active", "created_at", "updated_at"],
    "accounts.apitoken": [
        "id",
        "user",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ],
}

RELATION_KINDS = {"many2one", "one2many", "many2many"}


@dataclass(frozen=True)
class FieldInfo:
    """One filterable field. `kind` is one of char, int, float, bool, date, datetime,
    selection, many2one, one2many, many2many, virtual."""

    name: str
    label: str
    kind: str
    related: str | None = None  # model label of the related model, for relations
    choices: tuple[tuple[object, str], ...] = ()
    nullable: bool = False

    @property
    def is_relation(self) -> bool:
        return self.kind in RELATION_KINDS

    @property
    def is_to_many(self) -> bool:
        return self.kind in {"one2many", "many2many"}

    @property
    def value_type(self) -> str:
        """char/int/float/bool/date/datetime: the type of a comparable value."""
        if self.kind == "selection":
            return "int" if self.choices and isinstance(self.choices[0][0], int) else "char"
        if self.kind == "virtual":
            return "bool"
        if self.is_relation:
            return "int"
        return self.kind


def _kind_of(f: models.Field | models.ForeignObjectRel) -> str:
    if isinstance(f, models.ForeignObjectRel):
        return "many2many" if f.many_to_many else "one2many"
    if f.many_to_many:
        return "many2many"
    if f.many_to_one:
        return "many2one"
    if getattr(f, "choices", None):
        return "selection"
    if isinstance(f, models.BooleanField):
        return "bool"
    if isinstance(f, models.DateTimeField):
        return "datetime"
    if isinstance(f, models.DateField):
        return "date"
    if isinstance(f, models.IntegerField | models.AutoField):
        return "int"
    if isinstance(f, models.DecimalField | models.FloatField):
        return "float"
    return "char"


def _label_of(f: models.Field | models.ForeignObjectRel) -> str:
    if isinstance(f, models.ForeignObjectRel):
        return f.related_model._meta.verbose_name_plural.capitalize()
    if f.name == "id":
        return "ID"
    return str(f.verbose_name).capitalize()


@cache
def model_fields(label: str) -> dict[str, FieldInfo]:
    """Filterable fields of the model `label` (e.g. 'contacts.contact')."""
    model = apps.get_model(label)
    result = {}
    for name in FILTERABLE.get(label, []):
        f = model._meta.get_field(name)
        kind = _kind_of(f)
        result[name] = FieldInfo(
            name=name,
            label=_label_of(f),
            kind=kind,
            related=f.related_model._meta.label_lower if kind in RELATION_KINDS else None,
            choices=tuple((k, str(v)) for k, v in (getattr(f, "choices", None) or ())),
            nullable=bool(getattr(f, "null", False)),
        )
    return result


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    name_field: str
    email_field: str | None
    phone_field: str | None
    default_unique_field: str
    active_field: str | None = "active"
    description: str = ""
    extra_unique_fields: tuple[str, ...] = field(default=())

    @cached_property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.key)

    @property
    def fields(self) -> dict[str, FieldInfo]:
        """Top-level filterable fields, virtual blacklist facts included."""
        result = dict(model_fields(self.key))
        if self.email_field:
            result["is_blacklisted"] = FieldInfo(
                "is_blacklisted", "Email is blacklisted", "virtual"
            )
        if self.phone_field:
            result["phone_is_blacklisted"] = FieldInfo(
                "phone_is_blacklisted", "Phone is blacklisted", "virtual"
            )
        return result

    @property
    def unique_field_choices(self) -> list[tuple[str, str]]:
        names = [self.default_unique_field, *self.extra_unique_fields]
        own = model_fields(self.key)
        return [(n, own[n].label if n in own else n) for n in dict.fromkeys(names)]

    def display_name(self, record: models.Model) -> str:
        return str(getattr(record, self.name_field, "") or record.pk)

    def base_queryset(self, include_archived: bool = False) -> models.QuerySet:
        qs = self.model._default_manager.all()
        if self.active_field and not include_archived:
            qs = qs.filter(**{self.active_field: True})
        return qs


_REGISTRY: dict[str, Target] = {}


def register(target: Target) -> Target:
    _REGISTRY[target.key] = target
    return target


def get_target(key: str) -> Target:
    """The registered target `key`; KeyError for an unknown one."""
    return _REGISTRY[key]


def all_targets() -> list[Target]:
    return list(_REGISTRY.values())


def target_choices() -> list[tuple[str, str]]:
    return [(t.key, t.label) for t in _REGISTRY.values()]


register(
    Target(
        key="contacts.contact",
        label="Contact",
        name_field="name",
        email_field="email",
        phone_field="phone",
        default_unique_field="email",
        extra_unique_fields=("id", "phone"),
        description="People and companies in the address book",
    )
)
register(
    Target(
        key="crm.lead",
        label="Lead",
        name_field="title",
        email_field="email",
        phone_field="phone",
        default_unique_field="email",
        extra_unique_fields=("id", "phone", "contact"),
        description="Sales opportunities",
    )
)
register(
    Target(
        key="events.registration",
        label="Event registration",
        name_field="name",
        email_field="email",
        phone_field="phone",
        default_unique_field="email",
        active_field=None,
        extra_unique_fields=("id", "phone", "contact"),
        description="Attendees of events",
    )
)
register(
    Target(
        key="mailing.mailingcontact",
        label="Mailing contact",
        name_field="name",
        email_field="email",
        phone_field="phone",
        default_unique_field="email",
        active_field=None,
        extra_unique_fields=("id", "phone"),
        description="Recipients of mailing lists",
    )
)


def placeholders(label: str) -> list[tuple[str, str]]:
    """(label, placeholder) for the template editors' picker: the target's own fields and one
    hop through many-to-one relations (what the sandboxed renderer lets templates read)."""
    result = []
    for name, info in model_fields(label).items():
        if info.kind in {"one2many", "many2many"}:
            continue
        if info.kind == "many2one" and info.related:
            for sub, sub_info in model_fields(info.related).items():
                if sub_info.kind not in {"one2many", "many2many", "many2one"} and sub != "id":
                    result.append(
                        (f"{info.label} › {sub_info.label}", f"{{{{ record.{name}.{sub} }}}}")
                    )
            continue
        result.append((info.label, f"{{{{ record.{name} }}}}"))
    return result
