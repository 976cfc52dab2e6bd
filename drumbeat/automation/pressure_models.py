"""The records of contact pressure (frequency caps and send windows, engine/pressure.py).

- `SendSlot`: one row per capped email or SMS the engine let go, by recipient address: the
  ledger the caps count (index on recipient, sent_at). Exempt campaigns and tests take none;
  a send that did not happen (cancelled, error, retried later) gives its slot back.
- `PressureEvent`: one row per deferral or skip decided by the windows or the caps, so the
  activity cards and reports count them with aggregates.
- `PressureSettings`: the caps and windows set in Configuration (one row); a value there wins
  over the environment's `DRUMBEAT_EMAIL_CAP`, `DRUMBEAT_SMS_CAP`, `DRUMBEAT_EMAIL_WINDOW`,
  `DRUMBEAT_SMS_WINDOW`.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SendSlot(models.Model):
    channel = models.CharField(max_length=8)  # email | sms
    recipient = models.CharField(max_length=254)  # normalised address or E.164 number
    sent_at = models.DateTimeField()
    trace_id = models.BigIntegerField(unique=True)
    campaign_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["recipient", "sent_at"], name="send_slot_recipient")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} at {self.sent_at:%Y-%m-%d %H:%M}"


class PressureEvent(models.Model):
    class Kind(models.TextChoices):
        DEFERRED = "deferred", "Deferred"
        SKIPPED = "skipped", "Skipped"

    class Cause(models.TextChoices):
        QUIET_HOURS = "quiet_hours", "Quiet hours"
        FREQUENCY_CAP = "frequency_cap", "Frequency cap"

    trace_id = models.BigIntegerField()
    activity_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    cause = models.CharField(max_length=16, choices=Cause.choices)
    at = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True)  # deferred: the new due date

    class Meta:
        indexes = [
            models.Index(fields=["activity_id", "kind"], name="pressure_event_activity"),
            models.Index(fields=["campaign_id", "at"], name="pressure_event_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.cause}) trace {self.trace_id}"


class PressureSettings(models.Model):
    """Configuration → Contact pressure. Empty: the environment's value applies."""

    email_cap = models.CharField(max_length=200, blank=True, help_text="e.g. 1/day,3/7days")
    sms_cap = models.CharField(max_length=200, blank=True, help_text="e.g. 2/7days")
    email_window = models.CharField(
        max_length=200, blank=True, help_text="e.g. Mon-Sat 08:00-20:00"
    )
    sms_window = models.CharField(max_length=200, blank=True, help_text="e.g. Mon-Fri 09:00-19:00")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "pressure settings"

    def __str__(self) -> str:
        return "Contact pressure settings"
