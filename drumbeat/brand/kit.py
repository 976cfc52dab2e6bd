"""The brand every email design starts from (`Brand`), and where it comes from
(`current_brand`): the brand kit of Configuration → Brand kit (the `BrandKit` row), whose empty
sender name and postal address fall back to the settings `DRUMBEAT_SENDER_NAME` and
`DRUMBEAT_SENDER_ADDRESS`; colours and fonts default to a neutral, web-safe look."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

# Web-safe font stacks a brand may choose from (key -> CSS font-family value).
FONT_STACKS: dict[str, str] = {
    "helvetica": "Helvetica, Arial, sans-serif",
    "arial": "Arial, Helvetica, sans-serif",
    "verdana": "Verdana, Geneva, sans-serif",
    "tahoma": "Tahoma, Verdana, sans-serif",
    "trebuchet": "'Trebuchet MS', Helvetica, sans-serif",
    "georgia": "Georgia, 'Times New Roman', serif",
    "times": "'Times New Roman', Times, serif",
    "courier": "'Courier New', Courier, monospace",
}

SOCIAL_NETWORKS = ("facebook", "x", "instagram", "linkedin", "youtube", "tiktok", "website")
# How each network is named in an email and in the editor.
NETWORK_LABELS = {
    "facebook": "Facebook",
    "x": "X",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "youtube": "YouTube",
    "tiktok": "TikTok",
    "website": "Website",
}

# The brand kit's editable fields (web form, API), in the order they are shown.
KIT_FIELDS = (
    "sender_name",
    "postal_address",
    "logo",
    "logo_url",
    "logo_width",
    "primary_color",
    "text_color",
    "background_color",
    "content_background_color",
    "link_color",
    "font",
    "heading_font",
    "social_links",
)


@dataclass(frozen=True)
class SocialLink:
    network: str
    url: str


@dataclass(frozen=True)
class Brand:
    """What a design's defaults and footer come from. Colours are `#rrggbb`."""

    sender_name: str = ""
    postal_address: str = ""
    logo_url: str = ""
    logo_width: int = 160
    primary_color: str = "#4338ca"
    text_color: str = "#1f2937"
    background_color: str = "#f3f4f6"
    content_background_color: str = "#ffffff"
    link_color: str = "#4338ca"
    font: str = "helvetica"
    heading_font: str = "helvetica"
    social_links: tuple[SocialLink, ...] = field(default_factory=tuple)

    @property
    def font_stack(self) -> str:
        return FONT_STACKS.get(self.font, FONT_STACKS["helvetica"])

    @property
    def heading_font_stack(self) -> str:
        return FONT_STACKS.get(self.heading_font, FONT_STACKS["helvetica"])


def brand_from_settings() -> Brand:
    """The brand the environment describes; what a fresh instance uses."""
    return Brand(
        sender_name=settings.SENDER_NAME,
        postal_address=settings.SENDER_ADDRESS,
    )


def get_kit():
    """The brand kit row (unsaved defaults when none was saved yet)."""
    from .models import BrandKit

    return BrandKit.objects.select_related("logo").filter(pk=1).first() or BrandKit(pk=1)


def brand_from_kit(kit) -> Brand:
    """The Brand a kit describes, the settings filling an empty sender name or address."""
    return Brand(
        sender_name=kit.sender_name.strip() or settings.SENDER_NAME,
        postal_address=kit.postal_address.strip() or settings.SENDER_ADDRESS,
        logo_url=kit.logo.url if kit.logo_id else kit.logo_url,
        logo_width=kit.logo_width,
        primary_color=kit.primary_color.lower(),
        text_color=kit.text_color.lower(),
        background_color=kit.background_color.lower(),
        content_background_color=kit.content_background_color.lower(),
        link_color=kit.link_color.lower(),
        font=kit.font,
        heading_font=kit.heading_font,
        social_links=tuple(SocialLink(link["network"], link["url"]) for link in kit.social_links),
    )


def current_brand() -> Brand:
    """The brand new designs and email footers use (one query)."""
    return brand_from_kit(get_kit())


def update_brand_kit(**changes: Any):
    """Change fields of the brand kit (those given; `logo` is a MediaFile or None) and save it.
    Invalid values raise ValidationError naming each field; nothing is saved then."""
    kit = get_kit()
    unknown = set(changes) - set(KIT_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a brand kit field." for name in sorted(unknown)})
    for name, value in changes.items():
        if isinstance(value, str) and name != "postal_address":
            value = value.strip()
        elif name == "postal_address" and isinstance(value, str):
            value = "\n".join(line.strip() for line in value.strip().splitlines())
        if name.endswith("_color") and isinstance(value, str):
            value = value.lower()
        setattr(kit, name, value)
    kit.full_clean()
    kit.save()
    return kit
