"""The brand every email design starts from (`Brand`), and where it comes from
(`current_brand`): the settings `DRUMBEAT_SENDER_NAME` and `DRUMBEAT_SENDER_ADDRESS` give the
sender's name and postal address; colours and fonts default to a neutral, web-safe look."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

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


def current_brand() -> Brand:
    """The brand new designs and email footers use."""
    return brand_from_settings()
