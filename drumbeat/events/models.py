from django.db import models
from django.utils import timezone

from drumbeat.contacts.models import Contact


class Event(models.Model):
    name = models.CharField(max_length=200)
    date_begin = models.DateTimeField()
    date_end = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-date_begin", "id"]

    def __str__(self) -> str:
        return self.name


class Registration(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Unconfirmed"
        CONFIRMED = "confirmed", "Registered"
        ATTENDED = "attended", "Attended"
        CANCELLED = "cancelled", "Cancelled"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="registrations")
    name = models.CharField("attendee name", max_length=200)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=32, blank=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",  # rows inserted by raw SQL (bulk loaders) get one too
        help_text="IANA name, e.g. Europe/Paris; derived from the phone or country when not given",
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="registrations"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.CONFIRMED)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.event})"
