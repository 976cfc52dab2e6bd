from django.db import models
from django.db.models.functions import Lower, Trim
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
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",  # rows inserted by raw SQL (bulk loaders) get one too
        help_text="IANA name, e.g. Europe/Paris; derived from the phone or country when not given",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="mailing_contacts")
    lists = models.ManyToManyField(
        MailingList, through="Subscription", related_name="contacts", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Records are matched to their mailing contact by the address as typed, trimmed and
        # lower-cased (server actions "add to list" / "remove from list"): without this
        # index every record of a batch read the whole table (SQLite: 5,000 records took
        # 10 s against 10,000 mailing contacts, more with each batch).
        indexes = [models.Index(Lower(Trim("email")), name="mailing_contact_address")]

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
    # The message whose bounce or complaint blacklisted the address (automatic entries).
    message = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
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


class Template(models.Model):
    """An email or SMS template bound to one target (registry key, e.g. 'contacts.contact').
    Placeholders such as {{ record.name }} are rendered in a sandbox (mailing/rendering.py)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.EMAIL)
    target = models.CharField(max_length=64)
    subject = models.CharField(max_length=255, blank=True)
    preview_text = models.CharField(max_length=255, blank=True)
    email_from = models.CharField("from", max_length=254, blank=True)
    reply_to = models.CharField(max_length=254, blank=True)
    body_html = models.TextField(blank=True)
    body_text = models.TextField(blank=True, help_text="SMS text")
    # The email designer's design (drumbeat/mailing/design); null for an HTML template. Saving
    # a designed template compiles it into body_html (mailing.services).
    design = models.JSONField(null=True, blank=True, default=None)
    sms_optout_footer = models.BooleanField(
        "opt-out footer",
        default=False,
        help_text="SMS: add the opt-out line (DRUMBEAT_SMS_OPTOUT_FOOTER) under the text",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """One email or SMS handed (or about to be handed) to a transport. The row is committed
    before the transport is called: `outgoing` means a send may have started.

    outgoing -> sent -> (opened/clicked/replied/complained are timestamps) | bounced
    outgoing -> error | cancelled;  outgoing -> deferred (transient failure) -> outgoing ...

    A bounce is `hard` or `soft` (state bounced, `bounced_at` set); a `block` (the receiving
    server refused the sender) leaves the state sent and `bounced_at` empty: the message shows
    as blocked with `bounce_category` and the diagnostic in `failure_reason`. A complaint
    stamps `complained_at` (the message was delivered: it stays sent). Every inbound report is
    an `InboundEvent` of the message.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    class State(models.TextChoices):
        OUTGOING = "outgoing", "Outgoing"
        DEFERRED = "deferred", "Deferred"
        SENT = "sent", "Sent"
        BOUNCED = "bounced", "Bounced"
        ERROR = "error", "Error"
        CANCELLED = "cancelled", "Cancelled"

    channel = models.CharField(max_length=8, choices=Channel.choices)
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL)
    # Plain ids rather than foreign keys: automation sits above mailing
    # (docs/architecture.md#import-direction).
    trace_id = models.BigIntegerField(null=True, blank=True, unique=True)
    campaign_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Indexed by (activity_id, recipient) below.
    activity_id = models.BigIntegerField(null=True, blank=True)
    record_model = models.CharField(max_length=64, blank=True)
    record_id = models.BigIntegerField(null=True, blank=True)
    is_test = models.BooleanField(default=False)
    recipient = models.CharField(max_length=254)
    message_id = models.CharField(max_length=255, unique=True)
    token = models.CharField(max_length=64, unique=True)
    subject = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.OUTGOING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    bounce_kind = models.CharField(max_length=8, blank=True)  # hard | soft | block
    bounce_category = models.CharField(max_length=16, blank=True)  # see bounce_rules.CATEGORIES
    complained_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)  # deferred: next attempt

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["activity_id", "recipient"]),
            models.Index(fields=["recipient", "bounced_at"]),
            models.Index(fields=["record_model", "record_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient}"


class InboundEvent(models.Model):
    """One inbound report about a sent message: a delivery report (bounce, delay, delivered),
    a complaint, an automatic or human reply, an unsubscribe request, or mail we could not
    read (`unknown`). Nothing that reaches a valid token address goes unrecorded."""

    class Kind(models.TextChoices):
        BOUNCE = "bounce", "Bounce"
        DELAY = "delay", "Delay"
        DELIVERED = "delivered", "Delivered"
        COMPLAINT = "complaint", "Complaint"
        AUTO_REPLY = "auto_reply", "Automatic reply"
        REPLY = "reply", "Reply"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
        UNKNOWN = "unknown", "Unknown"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="inbound_events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)
    bounce_kind = models.CharField(max_length=8, blank=True)  # hard | soft | block
    category = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, blank=True)  # enhanced status code, e.g. 5.1.1
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    diagnostic = models.TextField(blank=True)
    sender = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=8, default="smtp")  # smtp | webhook

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["message", "at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of message {self.message_id}"


class Link(models.Model):
    """A tracked URL of a template (per campaign activity); messages point at it by code."""

    url = models.URLField(max_length=2000)
    title = models.CharField(max_length=255, blank=True)
    code = models.CharField(max_length=16, unique=True)
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL)
    campaign_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    activity_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["template", "activity_id", "url"], name="uniq_link_per_activity"
            )
        ]

    def __str__(self) -> str:
        return self.url


class ShortLink(models.Model):
    """A tracked link of one SMS: `/s/<code>` names the message and the link at once, so the
    tracked URL is never longer than the one written (mailing/shortlinks.py)."""

    code = models.CharField(max_length=16, unique=True)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="short_links")
    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="short_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "link"], name="uniq_short_link")]

    def __str__(self) -> str:
        return self.code


class Click(models.Model):
    link = models.ForeignKey(Link, on_delete=models.CASCADE, related_name="clicks")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="clicks"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    is_machine = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at"]


class OutboxEntry(models.Model):
    """A message kept by the `outbox://` transport instead of being delivered: the full bytes
    of an email (RFC 5322, CRLF line ends) or the text of an SMS. Viewable at /outbox."""

    channel = models.CharField(max_length=8, choices=Message.Channel.choices)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbox_entries"
    )
    sender = models.CharField(max_length=254, blank=True)  # envelope sender (Return-Path)
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=255, blank=True)
    raw = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "outbox entries"

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient}"


class WebhookEvent(models.Model):
    """A provider event already processed: webhooks are idempotent on (source, event_id)."""

    source = models.CharField(max_length=8)  # mail | sms
    event_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=16)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="uniq_webhook_event")
        ]


class InboundSms(models.Model):
    """An SMS a person sent to one of our numbers, as the gateway reported it
    (`POST /api/v1/webhooks/sms-inbound`): an opt-out keyword (STOP…), an opt-in (START,
    UNSTOP), HELP, or anything else: a reply to the latest SMS sent to that number."""

    class Kind(models.TextChoices):
        STOP = "stop", "Opt-out"
        START = "start", "Opt-in"
        HELP = "help", "Help"
        REPLY = "reply", "Reply"

    provider_id = models.CharField(max_length=200)
    sender = models.CharField(max_length=32, db_index=True)  # E.164 when it parses
    recipient = models.CharField(max_length=32, blank=True)  # our number
    text = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_sms"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "inbound SMS"
        verbose_name_plural = "inbound SMS"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.sender}"
