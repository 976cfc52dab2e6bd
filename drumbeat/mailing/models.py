from django.db import models
from django.utils import timezone

from drumbeat.contacts.models import Tag
from drumbeat.lib.normalize import normalize_email, normalize_phone


class MailingList(models.Model):
    name = models.CharField(max_length=128, unique=True)
    is_public = models.BooleanField(
        "public in preferences",
        default=True,
        help_text="Offered on the unsubscribe page for re-subscription",
    )
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MailingContact(models.Model):
    name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=32, blank=True)
    company_name = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="mailing_contacts")
    lists = models.ManyToManyField(
        MailingList, through="Subscription", related_name="contacts", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or self.email


class Subscription(models.Model):
    """A mailing contact's membership of a list, with its opt-out and double opt-in state."""

    contact = models.ForeignKey(
        MailingContact, on_delete=models.CASCADE, related_name="subscriptions"
    )
    list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="subscriptions")
    opt_out = models.BooleanField(default=False)
    opt_out_at = models.DateTimeField(null=True, blank=True)
    opt_out_reason = models.CharField(max_length=200, blank=True)
    confirmed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "list"], name="uniq_subscription")
        ]
        ordering = ["list__name"]

    def __str__(self) -> str:
        return f"{self.contact} in {self.list}"

    def opt_out_now(self, reason: str = "") -> None:
        self.opt_out, self.opt_out_at, self.opt_out_reason = True, timezone.now(), reason
        self.save(update_fields=["opt_out", "opt_out_at", "opt_out_reason"])


class EmailBlacklist(models.Model):
    """An address that receives no marketing email. Stored normalised (lower-cased, trimmed)."""

    email = models.CharField(max_length=254, unique=True)
    reason = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email"]
        verbose_name = "blacklisted email"

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)


class PhoneBlacklist(models.Model):
    """A phone number (E.164) that receives no marketing SMS."""

    number = models.CharField(max_length=32, unique=True)
    reason = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["number"]
        verbose_name = "blacklisted phone"

    def __str__(self) -> str:
        return self.number

    def save(self, *args, **kwargs) -> None:
        self.number = normalize_phone(self.number) or self.number.strip()
        super().save(*args, **kwargs)
