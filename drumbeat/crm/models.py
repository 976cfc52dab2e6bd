from django.conf import settings
from django.db import models
from django.utils import timezone

from drumbeat.contacts.models import Contact, Tag


class Stage(models.Model):
    name = models.CharField(max_length=64, unique=True)
    sequence = models.PositiveIntegerField(default=10)
    is_won = models.BooleanField(default=False)

    class Meta:
        ordering = ["sequence", "id"]

    def __str__(self) -> str:
        return self.name


class Lead(models.Model):
    class Priority(models.IntegerChoices):
        LOW = 0, "Low"
        MEDIUM = 1, "Medium"
        HIGH = 2, "High"
        VERY_HIGH = 3, "Very high"

    title = models.CharField(max_length=200)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    contact_name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=32, blank=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",  # rows inserted by raw SQL (bulk loaders) get one too
        help_text="IANA name, e.g. Europe/Paris; derived from the phone or country when not given",
    )
    salesperson = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.LOW)
    stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.SET_NULL)
    tags = models.ManyToManyField(Tag, blank=True, related_name="leads")
    expected_revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title
