from django.conf import settings
from django.db import models
from django.utils import timezone

from drumbeat.lib.countries import country_name


class Tag(models.Model):
    name = models.CharField(max_length=64, unique=True)
    color = models.CharField(max_length=16, default="slate")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person or company marketers reach. `active=False` means archived."""

    name = models.CharField(max_length=200)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=32, blank=True, help_text="E.164 when known")
    company_name = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    city = models.CharField(max_length=100, blank=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",  # rows inserted by raw SQL (bulk loaders) get one too
        help_text="IANA name, e.g. Europe/Paris; derived from the phone or country when not given",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="contacts")
    salesperson = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def country_name(self) -> str:
        return country_name(self.country)
