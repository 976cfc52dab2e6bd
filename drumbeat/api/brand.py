"""The brand kit and the media library over the API: `GET/PUT /brand-kit` (the sender's name,
postal address, logo, colours, fonts, social links that designs and email footers use),
`GET/POST /media` (list; upload an image as multipart `file`) and `GET/DELETE /media/{id}`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import File, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import ConfigDict, Field

from drumbeat.brand import media as media_service
from drumbeat.brand.kit import FONT_STACKS, SOCIAL_NETWORKS, brand_from_kit, get_kit
from drumbeat.brand.kit import update_brand_kit as update_kit
from drumbeat.brand.models import MediaFile

from .errors import state_change, with_errors
from .fields import Id, Text
from .listing import list_params, page_schema, paginate
from .lookups import get_or_404, resolve_ids

brand_router = Router(tags=["Brand kit and media"])
media_router = Router(tags=["Brand kit and media"])

Font = Literal[tuple(FONT_STACKS)]  # type: ignore[valid-type]
Network = Literal[SOCIAL_NETWORKS]  # type: ignore[valid-type]
Color = Text(7, 7)

MEDIA_EXAMPLE = {
    "id": 4,
    "name": "3f79bb7b435b05321651daefd374cdc681dc06fa.png",
    "original_name": "logo.png",
    "content_type": "image/png",
    "size": 18231,
    "width": 320,
    "height": 96,
    "url": "https://news.example.com/media/3f79bb7b435b05321651daefd374cdc681dc06fa.png",
    "created_at": "2026-03-01T09:00:00Z",
}

KIT_EXAMPLE = {
    "sender_name": "Acme Bakery",
    "postal_address": "3 Mill Lane\nLeeds LS1 4AP",
    "logo": 4,
    "logo_url": "",
    "logo_width": 160,
    "primary_color": "#b45309",
    "text_color": "#1f2937",
    "background_color": "#f3f4f6",
    "content_background_color": "#ffffff",
    "link_color": "#b45309",
    "font": "georgia",
    "heading_font": "georgia",
    "social_links": [{"network": "instagram", "url": "https://instagram.com/acmebakery"}],
}


class MediaOut(Schema):
    id: int
    name: str = Field(description="Content-addressed file name (hash of the bytes)")
    original_name: str
    content_type: str
    size: int = Field(description="Bytes")
    width: int
    height: int
    url: str = Field(description="Public URL to use in emails (never changes)")
    created_at: dt.datetime

    model_config = ConfigDict(json_schema_extra={"examples": [MEDIA_EXAMPLE]})


class SocialLinkSchema(Schema):
    network: Network  # type: ignore[valid-type]
    url: Text(500, 1) = Field(description="http:// or https:// URL")  # type: ignore[valid-type]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"network": "instagram", "url": "https://instagram.com/acmebakery"}]
        }
    )


class BrandKitOut(Schema):
    sender_name: str
    postal_address: str
    logo: int | None = Field(description="Media file id of the logo")
    logo_url: str = Field(description="Logo URL outside the library (when `logo` is null)")
    logo_width: int
    primary_color: str
    text_color: str
    background_color: str
    content_background_color: str
    link_color: str
    font: str
    heading_font: str
    social_links: list[SocialLinkSchema]
    effective: dict[str, str] = Field(
        description="What emails use: sender name and postal address (the environment's "
        "DRUMBEAT_SENDER_NAME / DRUMBEAT_SENDER_ADDRESS when the kit's are empty) and the "
        "logo's URL",
        examples=[
            {
                "sender_name": "Acme Bakery",
                "postal_address": "3 Mill Lane\nLeeds LS1 4AP",
                "logo_url": MEDIA_EXAMPLE["url"],
            }
        ],
    )

    model_config = ConfigDict(json_schema_extra={"examples": [KIT_EXAMPLE]})


class BrandKitIn(Schema):
    """Fields left out keep their values."""

    sender_name: Text(200) | None = None  # type: ignore[valid-type]
    postal_address: Text(500) | None = None  # type: ignore[valid-type]
    logo: Id | None = Field(None, description="Media file id; null for none")
    logo_url: Text(500) | None = Field(None, description="http(s) URL; empty for none")  # type: ignore[valid-type]
    logo_width: int | None = Field(None, ge=16, le=600)
    primary_color: Color | None = Field(None, description="#rrggbb")  # type: ignore[valid-type]
    text_color: Color | None = None  # type: ignore[valid-type]
    background_color: Color | None = None  # type: ignore[valid-type]
    content_background_color: Color | None = None  # type: ignore[valid-type]
    link_color: Color | None = None  # type: ignore[valid-type]
    font: Font | None = None  # type: ignore[valid-type]
    heading_font: Font | None = None  # type: ignore[valid-type]
    social_links: list[SocialLinkSchema] | None = Field(None, max_length=20)

    model_config = ConfigDict(json_schema_extra={"examples": [KIT_EXAMPLE]})


def kit_out(kit) -> dict:
    brand = brand_from_kit(kit)
    return {
        "sender_name": kit.sender_name,
        "postal_address": kit.postal_address,
        "logo": kit.logo_id,
        "logo_url": kit.logo_url,
        "logo_width": kit.logo_width,
        "primary_color": kit.primary_color,
        "text_color": kit.text_color,
        "background_color": kit.background_color,
        "content_background_color": kit.content_background_color,
        "link_color": kit.link_color,
        "font": kit.font,
        "heading_font": kit.heading_font,
        "social_links": kit.social_links,
        "effective": {
            "sender_name": brand.sender_name,
            "postal_address": brand.postal_address,
            "logo_url": brand.logo_url,
        },
    }


@brand_router.get("", response=with_errors({200: BrandKitOut}), summary="Read the brand kit")
def get_brand_kit(request: HttpRequest):
    return kit_out(get_kit())


@brand_router.put(
    "",
    response=with_errors({200: BrandKitOut}),
    summary="Change the brand kit",
    description="Fields left out keep their values; `logo: null` removes the library logo. "
    "An invalid value is a 422 naming the field.",
)
def put_brand_kit(request: HttpRequest, payload: BrandKitIn):
    changes = payload.model_dump(exclude_unset=True)
    for name in list(changes):
        if changes[name] is None and name != "logo":
            del changes[name]  # null: unchanged (only the logo relation can be cleared)
    resolve_ids(changes, {"logo": MediaFile})
    return kit_out(update_kit(**changes))


MediaListParams = list_params(
    "MediaListParams",
    "brand.mediafile",
    ["id", "created_at", "size", "original_name"],
    example='[["content_type", "=", "image/png"], ["width", ">=", 600]]',
)


@media_router.get(
    "",
    response=with_errors({200: page_schema(MediaOut)}),
    summary="List the media library",
    description="Newest first unless `ordering` says otherwise.",
)
def list_media(request: HttpRequest, params: Query[MediaListParams]):  # type: ignore[valid-type]
    return paginate(MediaFile.objects.order_by("-created_at", "-id"), params)


@media_router.post(
    "",
    response=with_errors({200: MediaOut, 201: MediaOut}),
    summary="Upload an image",
    description="Multipart form data with the image in `file`: PNG, JPEG, GIF or WebP (told by "
    "the content, not the name), at most DRUMBEAT_MEDIA_MAX_BYTES. 201 with the new file; 200 "
    "with the existing one when the same bytes were uploaded before. A refused file is a 422 "
    "on `file` saying why.",
)
def upload_media(request: HttpRequest, file: File[UploadedFile]):
    media, created = media_service.upload_media(file, request.auth)
    return Status(201 if created else 200, media)


@media_router.get("/{id}", response=with_errors({200: MediaOut}), summary="Read a media file")
def get_media(request: HttpRequest, id: Id):  # noqa: A002
    return get_or_404(MediaFile, id, "media file")


@media_router.delete(
    "/{id}",
    response=with_errors({204: None}),
    summary="Delete a media file",
    description="Emails already sent with its URL lose the image. The brand kit's logo is "
    "refused with 409.",
)
def delete_media(request: HttpRequest, id: Id):  # noqa: A002
    media = get_or_404(MediaFile, id, "media file")
    state_change(media_service.delete_media, media)
    return Status(204, None)
