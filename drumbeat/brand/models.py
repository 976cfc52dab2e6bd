"""The brand kit (one row: the sender's name, postal address, logo, colours, fonts and social
links) and the media library's files (images uploaded once, used by URL in emails)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models

from .kit import FONT_STACKS, SOCIAL_NETWORKS

COLOR_VALIDATOR = RegexValidator(
    r"^#[0-9a-fA-F]{6}\Z", "Enter a colour as #rrggbb (six hexadecimal digits), e.g. #4338ca."
)
FONT_CHOICES = [(key, key.title()) for key in FONT_STACKS]


def _is_web_url(value: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname) and " " not in value


def validate_web_url(value: str) -> None:
    if value and not _is_web_url(value):
        raise ValidationError("Enter an http:// or https:// URL.")


def validate_social_links(value) -> None:
    """A list of {"network": one of SOCIAL_NETWORKS, "url": an http(s) URL}."""
    if not isinstance(value, list):
        raise ValidationError("Social links must be a list of {network, url}.")
    if len(value) > 20:
        raise ValidationError("At most 20 social links.")
    for i, link in enumerate(value, 1):
        if not isinstance(link, dict) or set(link) != {"network", "url"}:
            raise ValidationError(f"Link {i}: give exactly a network and a url.")
        if link["network"] not in SOCIAL_NETWORKS:
            raise ValidationError(
                f"Link {i}: unknown network {str(link['network'])[:40]!r}; one of "
                + ", ".join(SOCIAL_NETWORKS)
                + "."
            )
        url = link["url"]
        if not isinstance(url, str) or len(url) > 500 or not _is_web_url(url):
            raise ValidationError(f"Link {i} ({link['network']}): enter an http(s) URL.")


class MediaFile(models.Model):
    """An uploaded image. `name` is content-addressed (hash + extension): the same bytes always
    get the same name, and a name's bytes never change, so its public URL is cached forever."""

    name = models.CharField(max_length=80, unique=True)
    original_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField(help_text="Bytes")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "media file"

    def __str__(self) -> str:
        return self.original_name or self.name

    @property
    def url(self) -> str:
        from .storage import public_url

        return public_url(self.name)


class BrandKit(models.Model):
    """The instance's brand (a single row, pk 1): what new designs and email footers use.
    Empty sender name / postal address fall back to DRUMBEAT_SENDER_NAME / _ADDRESS."""

    sender_name = models.CharField(max_length=200, blank=True)
    postal_address = models.TextField(
        max_length=500, blank=True, validators=[MaxLengthValidator(500)]
    )
    logo = models.ForeignKey(
        MediaFile,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A file of the media library (takes precedence over the logo URL).",
    )
    logo_url = models.CharField(
        max_length=500, blank=True, validators=[validate_web_url], verbose_name="logo URL"
    )
    logo_width = models.PositiveIntegerField(
        default=160, validators=[MinValueValidator(16), MaxValueValidator(600)]
    )
    primary_color = models.CharField(max_length=7, default="#4338ca", validators=[COLOR_VALIDATOR])
    text_color = models.CharField(max_length=7, default="#1f2937", validators=[COLOR_VALIDATOR])
    background_color = models.CharField(
        max_length=7, default="#f3f4f6", validators=[COLOR_VALIDATOR]
    )
    content_background_color = models.CharField(
        max_length=7, default="#ffffff", validators=[COLOR_VALIDATOR]
    )
    link_color = models.CharField(max_length=7, default="#4338ca", validators=[COLOR_VALIDATOR])
    font = models.CharField(max_length=20, choices=FONT_CHOICES, default="helvetica")
    heading_font = models.CharField(max_length=20, choices=FONT_CHOICES, default="helvetica")
    social_links = models.JSONField(default=list, blank=True, validators=[validate_social_links])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "brand kit"

    def __str__(self) -> str:
        return self.sender_name or "Brand kit"
