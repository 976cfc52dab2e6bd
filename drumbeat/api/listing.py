"""List endpoints: `domain` (the filter language over the collection's FILTERABLE fields),
`limit`, `offset`, `ordering`, each collection's own parameters, and the `{"count", "items"}`
envelope they return. Every collection's list takes `domain`."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from ninja import Schema
from pydantic import Field, create_model

from drumbeat.automation.domains import MAX_JSON_BYTES, DomainError, compile_domain, parse_domain
from drumbeat.automation.targets import (
    FILTERABLE,
    MAX_RELATION_DEPTH,
    FieldInfo,
    Target,
    all_targets,
)

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


class ListParams(Schema):
    """Query parameters of a list endpoint; `filter_label` is the model its `domain` filters."""

    filter_label: ClassVar[str] = ""


def _describe_field(info: FieldInfo) -> str:
    if info.is_relation:
        return f"`{info.name}` (→ {info.related})"
    if info.kind == "selection":
        return f"`{info.name}` ({' | '.join(str(key) for key, _ in info.choices)})"
    return f"`{info.name}`"


def domain_description(label: str) -> str:
    """The `domain` parameter's documentation for the collection of `label`: the language
    and the fields it may name."""
    fields = domain_target(label).fields.values()
    return (
        f"{DOMAIN_DESCRIPTION} Fields: {', '.join(_describe_field(f) for f in fields)}. A related "
        f"model's fields are those of its own collection, up to {MAX_RELATION_DEPTH} levels deep "
        "(`GET targets/{key}/fields` lists the campaign targets' in full). An unknown field or "
        "a malformed filter is a 400 naming the element at fault."
    )


def list_params(
    name: str,
    label: str,
    ordering: list[str],
    example: str = '[["id", ">", 0]]',
    **extra: Any,
) -> type[ListParams]:
    """The query parameters of the list endpoint of `label`'s collection: `limit`, `offset`,
    `ordering` (one of `ordering`, prefixed with `-` for descending order), `domain` (over the
    model's FILTERABLE fields) and the collection's own `extra` parameters, given as
    `name=(annotation, Field(...))`."""
    if label not in FILTERABLE:
        raise ImproperlyConfigured(f"{name}: no FILTERABLE entry for {label}")
    choices = tuple(ordering + [f"-{f}" for f in ordering])
    fields: dict[str, Any] = {
        "limit": (
            int,
            Field(
                DEFAULT_LIMIT,
                ge=1,
                le=MAX_LIMIT,
                description=f"Page size (at most {MAX_LIMIT}).",
                examples=[DEFAULT_LIMIT],
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
        "domain": (
            QueryText(MAX_JSON_BYTES) | None,
            Field(None, description=domain_description(label), examples=[example]),
        ),
        **extra,
    }
    model = create_model(name, __base__=ListParams, **fields)
    model.filter_label = label
    return model


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


def clean_domain_fields(fields: dict[str, Any]) -> None:
    """Parse the `domain` and `goal_domain` of a request body in place; a bad one is a
    validation error on that field."""
    for name in ("domain", "goal_domain"):
        if fields.get(name) is not None:
            try:
                fields[name] = parse_api_domain(fields[name])
            except ValueError as exc:
                raise ValidationError({name: str(exc)})


def paginate(queryset: models.QuerySet, params: ListParams) -> dict[str, Any]:
    """Filter (`params.domain`, over the model of the params), order and slice `queryset`."""
    if params.domain:
        target = domain_target(params.filter_label)
        queryset = queryset.filter(compile_domain(target, parse_api_domain(params.domain)))
    if params.ordering:
        queryset = queryset.order_by(params.ordering, "pk")
    count = queryset.count()
    items = list(queryset[params.offset : params.offset + params.limit])
    return {"count": count, "items": items}
