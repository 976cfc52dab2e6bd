"""List endpoints: `domain` (the filter language), `limit`, `offset`, `ordering`, and the
`{"count", "items"}` envelope they return."""

from __future__ import annotations

from typing import Any, Literal

from django.apps import apps
from django.db import models
from ninja import Schema
from pydantic import Field, create_model

from drumbeat.automation.domains import DomainError, compile_domain, parse_domain
from drumbeat.automation.targets import FILTERABLE, Target, all_targets

from .fields import QueryText, check_json_text

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 10_000_000

DOMAIN_DESCRIPTION = (
    "A filter in the filter language, as JSON: a list of conditions `[field, operator, value]` "
    'in prefix notation, e.g. `[["email", "!=", false], ["country", "in", ["BE", "FR"]]]`. '
    "Relations are followed with dots (`tags.name`)."
)


def domain_target(label: str) -> Target:
    """The registered target for `label`, or an unregistered one so that the filter language
    also works on other filterable models (tags, events, mailing lists)."""
    for target in all_targets():
        if target.key == label:
            return target
    if label not in FILTERABLE:
        raise DomainError(f"Records of {label} cannot be filtered.")
    model = apps.get_model(label)
    return Target(
        key=label,
        label=str(model._meta.verbose_name),
        name_field="pk",
        email_field=None,
        phone_field=None,
        default_unique_field="id",
        active_field=None,
    )


def list_params(name: str, ordering_fields: list[str], filterable: bool = True) -> type[Schema]:
    """The query parameters of a list endpoint; `ordering` is limited to `ordering_fields`
    (prefix a name with `-` for descending order)."""
    choices = tuple(ordering_fields + [f"-{f}" for f in ordering_fields])
    fields: dict[str, Any] = {
        "limit": (
            int,
            Field(
                DEFAULT_LIMIT,
                ge=1,
                le=MAX_LIMIT,
                description="Page size (at most 500).",
                examples=[50],
            ),
        ),
        "offset": (
            int,
            Field(0, ge=0, le=MAX_OFFSET, description="Rows to skip.", examples=[0]),
        ),
        "ordering": (
            Literal[choices] | None,  # type: ignore[valid-type]
            Field(
                None,
                description="Sort field; prefix with `-` for descending.",
                examples=[choices[-1]],
            ),
        ),
    }
    if filterable:
        fields["domain"] = (
            QueryText(100_000) | None,
            Field(
                None,
                description=DOMAIN_DESCRIPTION,
                examples=['[["email", "!=", false]]'],
            ),
        )
    return create_model(name, __base__=Schema, **fields)


def page_schema(item: type[Schema]) -> type[Schema]:
    """`{"count", "items"}` for a list of `item`, with the item's example."""
    extra = item.model_config.get("json_schema_extra") or {}
    examples = extra.get("examples", []) if isinstance(extra, dict) else []
    name = item.__name__.removesuffix("Out") + "Page"
    return create_model(
        name,
        __base__=Schema,
        __doc__=f"A page of {name[:-4].lower()} rows and the number of all matching rows.",
        count=(int, Field(ge=0, examples=[len(examples[:1])])),
        items=(list[item], Field(examples=[examples[:1]])),  # type: ignore[valid-type]
    )


def parse_api_domain(raw: str | list) -> list:
    """A domain from a request: JSON text or a decoded list, with storable texts only."""
    domain = parse_domain(raw)
    try:
        check_json_text(domain)
    except ValueError as exc:
        raise DomainError(f"a text value {exc}.")
    return domain


def paginate(queryset: models.QuerySet, params: Any, label: str | None = None) -> dict[str, Any]:
    """Filter (`params.domain`, validated for `label`), order and slice `queryset`."""
    domain = getattr(params, "domain", None)
    if domain:
        if label is None:
            raise DomainError("This collection cannot be filtered with a domain.")
        target = domain_target(label)
        queryset = queryset.filter(compile_domain(target, parse_api_domain(domain)))
    ordering = getattr(params, "ordering", None)
    if ordering:
        queryset = queryset.order_by(ordering, "pk")
    count = queryset.count()
    items = list(queryset[params.offset : params.offset + params.limit])
    return {"count": count, "items": items}
