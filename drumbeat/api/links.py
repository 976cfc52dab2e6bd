"""Tracked links (the link tracker) and the clicks recorded on them (docs/product.md#tracking)."""

from __future__ import annotations

import datetime as dt
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field, HttpUrl

from drumbeat.mailing.models import Click, Link, Template

from .errors import with_errors
from .fields import Id, Text, check_json_text
from .listing import list_params, page_schema, paginate
from .lookups import delete_record, get_or_404, resolve_ids

# --- links and clicks --------------------------------------------------------------------------

links_router = Router(tags=["Links and clicks"])
clicks_router = Router(tags=["Links and clicks"])

LINK_EXAMPLE = {
    "id": 7,
    "url": "https://example.com/catalog",
    "title": "Catalog",
    "code": "Xk2mP9",
    "template": 4,
    "campaign_id": 1,
    "activity_id": 3,
    "created_at": "2026-03-01T09:00:00Z",
    "clicks": 12,
}


class LinkOut(Schema):
    id: int
    url: str
    title: str
    code: str = Field(description="Short code: the tracked URL is <base>/r/<code>")
    template: int | None
    campaign_id: int | None
    activity_id: int | None
    created_at: dt.datetime
    clicks: int = Field(description="Clicks recorded (machine clicks included)")

    model_config = ConfigDict(json_schema_extra={"examples": [LINK_EXAMPLE]})

    @staticmethod
    def resolve_template(obj: Link) -> int | None:
        return obj.template_id

    @staticmethod
    def resolve_clicks(obj: Link) -> int:
        return getattr(obj, "click_count", 0)


class LinkIn(Schema):
    url: HttpUrl = Field(description="http(s) URL")
    title: Text(255) = ""  # type: ignore[valid-type]
    template: Id | None = None
    campaign_id: Id | None = None
    activity_id: Id | None = None

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"url": "https://example.com/catalog", "title": "Catalog"}]}
    )


class LinkPatch(Schema):
    url: HttpUrl = None  # type: ignore[assignment]
    title: Text(255) = None  # type: ignore[valid-type]

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Spring catalog"}]})


LinkListParams = list_params(
    "LinkListParams",
    "mailing.link",
    ["id", "url", "clicks"],
    example='[["url", "ilike", "catalog"], ["clicks.is_machine", "=", false]]',
    campaign_id=(Id | None, None),
    activity_id=(Id | None, None),
    template=(Id | None, None),
)


LINKS = Link.objects.annotate(click_count=Count("clicks"))


def _url(value: HttpUrl) -> str:
    url = str(value)
    if len(url) > 2000:
        raise ValidationError({"url": "at most 2000 characters"})
    check_json_text(url)
    return url


@links_router.get(
    "",
    response=with_errors({200: page_schema(LinkOut)}),
    summary="List tracked links (link tracker)",
)
def list_links(request: HttpRequest, params: Query[LinkListParams]):  # type: ignore[valid-type]
    queryset = LINKS
    for name in ("campaign_id", "activity_id", "template"):
        value = getattr(params, name)
        if value is not None:
            queryset = queryset.filter(**{name: value})
    if params.ordering in ("clicks", "-clicks"):
        params.ordering = params.ordering.replace("clicks", "click_count")
    return paginate(queryset, params)


@links_router.post("", response=with_errors({201: LinkOut}), summary="Create a tracked link")
def create_link(request: HttpRequest, payload: LinkIn):
    fields = payload.model_dump()
    fields["url"] = _url(payload.url)
    resolve_ids(fields, {"template": Template})
    with transaction.atomic():
        link = Link.objects.create(code=secrets.token_urlsafe(6), **fields)
    return Status(201, LINKS.get(pk=link.pk))


@links_router.get("/{id}", response=with_errors({200: LinkOut}), summary="Read a link")
def get_link(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(LINKS, id, "link")


@links_router.patch("/{id}", response=with_errors({200: LinkOut}), summary="Update a link")
def update_link(request: HttpRequest, id: Id, payload: LinkPatch):  # noqa: A002
    link = get_or_404(Link, id, "link")
    fields = payload.model_dump(exclude_unset=True)
    if "url" in fields:
        fields["url"] = _url(payload.url)
    with transaction.atomic():
        Link.objects.filter(pk=link.pk).update(**fields)
    return LINKS.get(pk=link.pk)


@links_router.delete(
    "/{id}",
    response=with_errors({204: None}),
    summary="Delete a link",
    description="Its clicks are deleted too; messages already sent then redirect nowhere.",
)
def delete_link(request: HttpRequest, id: Id):  # noqa: A002
    delete_record(get_or_404(Link, id, "link"))
    return Status(204, None)


class ClickOut(Schema):
    id: int
    link: int
    message: int | None
    at: dt.datetime
    ip: str | None
    user_agent: str
    is_machine: bool

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 70,
                    "link": 7,
                    "message": 880,
                    "at": "2026-03-01T12:00:00Z",
                    "ip": "203.0.113.9",
                    "user_agent": "Mozilla/5.0",
                    "is_machine": False,
                }
            ]
        }
    )

    @staticmethod
    def resolve_link(obj: Click) -> int:
        return obj.link_id

    @staticmethod
    def resolve_message(obj: Click) -> int | None:
        return obj.message_id


ClickListParams = list_params(
    "ClickListParams",
    "mailing.click",
    ["id", "at"],
    example='[["is_machine", "=", false], ["link.campaign_id", "=", 1]]',
    link=(Id | None, None),
    campaign_id=(Id | None, None),
    is_machine=(bool | None, None),
)


@clicks_router.get("", response=with_errors({200: page_schema(ClickOut)}), summary="List clicks")
def list_clicks(request: HttpRequest, params: Query[ClickListParams]):  # type: ignore[valid-type]
    queryset = Click.objects.all()
    if params.link is not None:
        queryset = queryset.filter(link_id=params.link)
    if params.campaign_id is not None:
        queryset = queryset.filter(link__campaign_id=params.campaign_id)
    if params.is_machine is not None:
        queryset = queryset.filter(is_machine=params.is_machine)
    return paginate(queryset, params)


@clicks_router.get("/{id}", response=with_errors({200: ClickOut}), summary="Read a click")
def get_click(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(Click, id, "click")
