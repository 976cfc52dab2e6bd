from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .targets import target_choices


class FavoriteFilter(models.Model):
    """A named filter saved for a target, to be reloaded in any filter editor."""

    name = models.CharField(max_length=100)
    target = models.CharField(max_length=64, choices=target_choices)
    domain = models.JSONField(default=list)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    shared = models.BooleanField(default=True, help_text="Visible to every user")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["target", "name"]
        constraints = [
            models.UniqueConstraint(fields=["target", "name"], name="uniq_favorite_filter_name")
        ]

    def __str__(self) -> str:
        return self.name


class DelayUnit(models.TextChoices):
    HOURS = "hours", "Hours"
    DAYS = "days", "Days"
    WEEKS = "weeks", "Weeks"
    MONTHS = "months", "Months"


UNIT_HOURS = {"hours": 1, "days": 24, "weeks": 24 * 7, "months": 24 * 30}


def unit_delta(amount: int, unit: str) -> relativedelta:
    """A whole number of hours/days/weeks/months; months by calendar."""
    return relativedelta(**{unit: int(amount)})


class Campaign(models.Model):
    """A workflow run on the records of one target that match its filter.

    draft (New) -> running <-> stopped. Archiving is a flag, independent of the state.
    `require_sync` is the "workflow modified" banner: activities were added or re-timed while
    the campaign had participants (docs/product.md#changing-a-running-campaign);
    `services.apply_update` / `dismiss_update` clear it.
    """

    class Priority(models.TextChoices):
        HIGH = "high", "High"
        NORMAL = "normal", "Normal"
        LOW = "low", "Low"

    class State(models.TextChoices):
        DRAFT = "draft", "New"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaigns",
        verbose_name="responsible",
    )
    target = models.CharField(max_length=64, choices=target_choices)
    domain = models.JSONField("filter", default=list, blank=True)
    include_archived = models.BooleanField(default=False)
    unique_field = models.CharField(
        max_length=64, blank=True, help_text="Deduplicate participants on this field"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.DRAFT)
    event_window_days = models.PositiveIntegerField(
        default=30,
        help_text="Waiting open/click/reply children without expiry are cancelled after this",
    )
    ignore_machine_events = models.BooleanField(
        default=True, help_text="Opens and clicks by link scanners do not trigger children"
    )
    # Contact pressure (automation/engine/pressure.py): priority among campaigns competing
    # for a person's capped slots; exempt campaigns ignore caps and send windows; a window
    # here replaces the instance's for this campaign's messages.
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    pressure_exempt = models.BooleanField(
        "exempt from caps and quiet hours",
        default=False,
        help_text="Transactional flows (e.g. double opt-in confirmations) always send",
    )
    email_window = models.CharField(
        max_length=200, blank=True, help_text="e.g. Mon-Sat 08:00-20:00"
    )
    sms_window = models.CharField(max_length=200, blank=True, help_text="e.g. Mon-Fri 09:00-19:00")
    # The goal (automation/goals.py): a filter on the target meaning success; empty = no goal.
    goal_domain = models.JSONField("goal", default=list, blank=True)
    goal_window_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Only a goal reached this many days after enrolment counts"
    )
    exit_on_goal = models.BooleanField(
        default=False, help_text="A participant who reaches the goal leaves the workflow"
    )
    require_sync = models.BooleanField("workflow modified", default=False)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "archived"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_draft(self) -> bool:
        return self.state == self.State.DRAFT

    @property
    def has_goal(self) -> bool:
        return bool(self.goal_domain)

    @property
    def is_running(self) -> bool:
        return self.state == self.State.RUNNING

    @property
    def is_stopped(self) -> bool:
        return self.state == self.State.STOPPED


class ServerAction(models.Model):
    """A typed action run on records of one target (docs/product.md#server-actions); never free
    code.

    `params` is validated per `kind` on save (see `action_config.py` for each kind's keys).
    A `multi` action runs its `children` in `sequence` order.
    """

    class Kind(models.TextChoices):
        UPDATE_RECORD = "update_record", "Update record"
        CREATE_ACTIVITY = "create_activity", "Create activity"
        POST_NOTE = "post_note", "Post note"
        ADD_TO_LIST = "add_to_list", "Add to list"
        REMOVE_FROM_LIST = "remove_from_list", "Remove from list"
        BLACKLIST_EMAIL = "blacklist_email", "Blacklist email"
        UNBLACKLIST_EMAIL = "unblacklist_email", "Unblacklist email"
        BLACKLIST_PHONE = "blacklist_phone", "Blacklist phone"
        UNBLACKLIST_PHONE = "unblacklist_phone", "Unblacklist phone"
        CREATE_RECORD = "create_record", "Create record"
        SEND_WEBHOOK = "send_webhook", "Send webhook"
        MULTI = "multi", "Run several actions"

    name = models.CharField(max_length=200)
    target = models.CharField(max_length=64, choices=target_choices)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    sequence = models.PositiveIntegerField(default=10)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sequence", "id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Validated on every save, whoever saves: a bad configuration never reaches the engine.
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from .action_config import ActionConfigError, validate_params

        try:
            self.params = validate_params(self)
        except ActionConfigError as e:
            raise ValidationError({"params": str(e)}) from e
        if self.parent_id is not None:
            parent = self.parent
            if parent.kind != self.Kind.MULTI or parent.target != self.target:
                raise ValidationError(
                    {"parent": "A child action belongs to a 'run several' action of its target"}
                )
            if self.kind == self.Kind.MULTI:
                raise ValidationError({"kind": "A 'run several' action cannot be nested"})

    @property
    def is_effectful(self) -> bool:
        """Actions with effects outside our database: record their start before running."""
        return self.kind == self.Kind.SEND_WEBHOOK


class Activity(models.Model):
    """One step of a campaign's workflow. `begin` activities have no parent; all others do.

    `pending_change` marks activities added or re-timed on a campaign that already has
    participants, until the user chooses Update or Don't update
    (docs/product.md#changing-a-running-campaign).

    A `split` sends each participant down one of its `branches` ([{"name", "weight"}], 2-5),
    once (automation/splits.py); its children name their branch in `branch`. `winner`, once
    declared, takes every new participant.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        ACTION = "action", "Server action"
        SPLIT = "split", "Split"

    class Trigger(models.TextChoices):
        BEGIN = "begin", "Beginning of workflow"
        ACTIVITY = "activity", "Another activity"
        MAIL_OPEN = "mail_open", "Opened"
        MAIL_NOT_OPEN = "mail_not_open", "Not opened"
        MAIL_REPLY = "mail_reply", "Replied"
        MAIL_NOT_REPLY = "mail_not_reply", "Not replied"
        MAIL_CLICK = "mail_click", "Clicked"
        MAIL_NOT_CLICK = "mail_not_click", "Not clicked"
        MAIL_BOUNCE = "mail_bounce", "Bounced"
        SMS_CLICK = "sms_click", "SMS clicked"
        SMS_NOT_CLICK = "sms_not_click", "SMS not clicked"
        SMS_BOUNCE = "sms_bounce", "SMS bounced"

    class OnCap(models.TextChoices):
        DEFER = "defer", "Defer to the first moment it fits"
        SKIP = "skip", "Skip (reject the trace)"

    class PendingChange(models.TextChoices):
        NONE = "", "None"
        ADDED = "added", "Added"
        REDATED = "redated", "Delay changed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="activities")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.EMAIL)
    template = models.ForeignKey(
        "mailing.Template",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="activities",
    )
    server_action = models.ForeignKey(
        ServerAction, null=True, blank=True, on_delete=models.SET_NULL, related_name="activities"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.BEGIN)
    delay_amount = models.PositiveIntegerField(default=0)
    delay_unit = models.CharField(max_length=8, choices=DelayUnit.choices, default=DelayUnit.HOURS)
    expiry_amount = models.PositiveIntegerField(null=True, blank=True)
    expiry_unit = models.CharField(max_length=8, choices=DelayUnit.choices, blank=True)
    domain = models.JSONField("activity filter", default=list, blank=True)
    # Delays in days/weeks/months may land at this time of the recipient's day.
    send_at_local = models.TimeField("at (recipient's time)", null=True, blank=True)
    on_cap = models.CharField(
        "when a frequency cap is reached", max_length=8, choices=OnCap.choices, default=OnCap.DEFER
    )
    pending_change = models.CharField(
        max_length=8, choices=PendingChange.choices, default=PendingChange.NONE, blank=True
    )
    branches = models.JSONField(default=list, blank=True, help_text="A split's branches")
    branch = models.CharField(
        max_length=40, blank=True, help_text="Under a split: the branch this activity is on"
    )
    winner = models.CharField(max_length=40, blank=True, help_text="A split's declared winner")
    winner_at = models.DateTimeField(null=True, blank=True)
    # The delay in hours (a month counts 30 days), kept for ordering activities by delay.
    delay_hours = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "delay_hours", "id"]
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.delay_hours = self.delay_amount * UNIT_HOURS.get(self.delay_unit, 1)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "delay_amount" in update_fields:
            kwargs["update_fields"] = {*update_fields, "delay_hours"}
        super().save(*args, **kwargs)

    @property
    def delay(self) -> relativedelta:
        return unit_delta(self.delay_amount, self.delay_unit)

    @property
    def expiry(self) -> relativedelta | None:
        if self.expiry_amount is None or not self.expiry_unit:
            return None
        return unit_delta(self.expiry_amount, self.expiry_unit)

    @property
    def is_event_triggered(self) -> bool:
        """Children created undated, waiting for their parent's message event."""
        return self.trigger in EVENT_TRIGGERS

    @property
    def is_split(self) -> bool:
        return self.kind == self.Kind.SPLIT

    @property
    def sends_message(self) -> bool:
        return self.kind in (self.Kind.EMAIL, self.Kind.SMS)

    @property
    def branch_names(self) -> list[str]:
        return [str(b.get("name", "")) for b in self.branches or []]


# Triggers whose traces wait (undated) for an event on the parent's message.
EVENT_TRIGGERS = {
    Activity.Trigger.MAIL_OPEN,
    Activity.Trigger.MAIL_REPLY,
    Activity.Trigger.MAIL_CLICK,
    Activity.Trigger.MAIL_BOUNCE,
    Activity.Trigger.SMS_CLICK,
    Activity.Trigger.SMS_BOUNCE,
}


class Participant(models.Model):
    """A record enrolled in a campaign (at most once per campaign, tests included).

    running -> completed (no scheduled trace left, stopped manually, or reached the goal of a
    campaign with exit_on_goal); running -> removed (record deleted or no longer matching);
    completed -> running (Update). `converted_at` is independent of the state.
    """

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        REMOVED = "removed", "Removed"

    # Indexed by uniq_participant_record (campaign first): no separate index to maintain.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="participants", db_index=False
    )
    record_id = models.BigIntegerField()
    unique_key = models.CharField(max_length=254, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.RUNNING)
    is_test = models.BooleanField(default=False)
    enrolled_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # When the campaign's goal was first found reached (automation/goals.py); set once.
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "record_id"], name="uniq_participant_record"
            )
        ]
        # No index holds `state` or `completed_at`: completing a participant then changes no
        # indexed column, which PostgreSQL writes as a heap-only (HOT) update into the free
        # space the table keeps (fillfactor, migration 0004) — several times cheaper.
        indexes = [
            models.Index(fields=["campaign", "unique_key"]),
            # The participants report pages a campaign newest first (web/paging.py); with
            # the test flag in it (PostgreSQL: INCLUDE) the list without tests is read from
            # the index alone, which the planner then prefers to walking the whole table's id
            # index down past other campaigns' newer participants.
            models.Index(
                fields=["campaign", "id"], name="participant_campaign_list", include=["is_test"]
            ),
            # Partial, so few entries among millions: the converted participants (whether a
            # campaign has any: the conversion roll-up's triggers, rollup_sql.py; and its
            # backfill), and the test participants the results list.
            models.Index(
                fields=["campaign"],
                name="participant_converted",
                condition=models.Q(converted_at__isnull=False),
            ),
            models.Index(
                fields=["campaign", "enrolled_at"],
                name="participant_tests",
                condition=models.Q(is_test=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.record_id}"

    @property
    def is_running(self) -> bool:
        return self.state == self.State.RUNNING

    @property
    def record(self) -> models.Model | None:
        from .targets import get_target

        model = get_target(self.campaign.target).model
        return model._default_manager.filter(pk=self.record_id).first()


class Trace(models.Model):
    """One execution of one activity for one participant.

    scheduled (scheduled_at NULL = waiting for an event on the parent's message)
      -> processing (claimed by a runner: claim_id, renewed until claim_expires_at)
      -> processed | rejected | cancelled | error   (final; `reason` says why)
    A processing trace whose lease ran out is recovered: finished if its message was sent,
    error "interrupted" if its send may have started, otherwise scheduled again.
    """

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        PROCESSING = "processing", "Processing"
        PROCESSED = "processed", "Processed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        ERROR = "error", "Error"

    # The foreign keys are indexed by the named indexes below (one index each).
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="traces", db_index=False
    )
    activity = models.ForeignKey(
        Activity, on_delete=models.CASCADE, related_name="traces", db_index=False
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
        db_index=False,
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.SCHEDULED)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # For undated children: cancelled when their event has not come by then
    # (docs/product.md#executing-a-step).
    window_ends_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    is_test = models.BooleanField(default=False)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    # The claim holding a processing trace (random, one per claimed batch): its worker's
    # renewals and result writes touch only rows still carrying it (engine/leases.py).
    claim_id = models.BigIntegerField(null=True, blank=True)
    # Set when an effectful action (send, webhook) may have begun: never run twice.
    started_at = models.DateTimeField(null=True, blank=True)
    # The first open (or click, or reply) and the first click of its message by a person, not
    # a link scanner (automation/engagement.py): the rates that results compare.
    human_opened_at = models.DateTimeField(null=True, blank=True)
    human_clicked_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        "mailing.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="traces",
        db_index=False,  # trace_message below, partial
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [
            models.Index(
                # id too: a batch takes the due rows in (scheduled_at, id) order straight
                # from the index, without sorting all due rows each time.
                fields=["activity", "scheduled_at", "id"],
                name="trace_activity_due",
                condition=models.Q(state="scheduled", scheduled_at__isnull=False),
            ),
            models.Index(
                fields=["window_ends_at"],
                name="trace_waiting_window",
                condition=models.Q(state="scheduled", scheduled_at__isnull=True),
            ),
            models.Index(
                fields=["claim_expires_at"],
                name="trace_leases",
                condition=models.Q(state="processing"),
            ),
            # None holds `state`: a batch changes the state of thousands of traces, and every
            # index holding it would be rewritten for each of them.
            # Partial on NOT NULL: most traces have no parent (begin) or no message (server
            # actions), and those need no entry; lookups by a given id can use the index.
            models.Index(
                fields=["parent"], name="trace_parent", condition=models.Q(parent__isnull=False)
            ),
            models.Index(
                fields=["message"], name="trace_message", condition=models.Q(message__isnull=False)
            ),
            # With the id: an activity's traces newest first straight from the index (the
            # traces report of a campaign, web/views_reporting.py).
            models.Index(fields=["activity", "id"], name="trace_activity_newest"),
            models.Index(fields=["participant"], name="trace_participant"),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id}/{self.participant_id}: {self.state}"

    @property
    def is_scheduled(self) -> bool:
        return self.state == self.State.SCHEDULED

    @property
    def is_waiting(self) -> bool:
        return self.state == self.State.SCHEDULED and self.scheduled_at is None

    @property
    def is_final(self) -> bool:
        return self.state not in (self.State.SCHEDULED, self.State.PROCESSING)


class SplitAssignment(models.Model):
    """The branch a participant was sent down at a split: one row per (participant, split),
    written once (automation/splits.py). A participant crossing several splits has one row for
    each. `randomized` is False for those sent to a declared winner (left out of comparisons).
    """

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    split = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="assignments")
    branch = models.CharField(max_length=40)
    randomized = models.BooleanField(default=True)
    assigned_at = models.DateTimeField(default=timezone.now)
    # The participant's figures under the split, kept by database triggers on the traces and
    # messages of the activities under it (rollup_sql.py, `split_counters`): messages sent
    # (or bounced), messages opened (by anyone), traces a person opened, traces a person
    # clicked. The Results tab compares the branches from their roll-up.
    sends = models.BigIntegerField(default=0, db_default=0)
    opened = models.BigIntegerField(default=0, db_default=0)
    opens = models.BigIntegerField(default=0, db_default=0)
    clicks = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "split"], name="uniq_assignment_per_split"
            )
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} → {self.branch}"


class SplitMember(models.Model):
    """An activity under a split, at any depth: one row per (split, activity), kept by
    `splits.refresh_members` whenever a campaign's activities change (plain ids, so that the
    traces of a deleted activity are counted off before its rows go). The triggers of the
    assignment counters read it."""

    campaign_id = models.BigIntegerField()
    split_id = models.BigIntegerField()
    activity_id = models.BigIntegerField()

    class Meta:
        db_table = "automation_split_member"
        constraints = [
            models.UniqueConstraint(fields=["activity_id", "split_id"], name="uniq_split_member")
        ]
        indexes = [models.Index(fields=["campaign_id"], name="split_member_campaign")]


class CampaignLog(models.Model):
    """Who changed a campaign's state or acted on a trace by hand, and when
    (docs/product.md#users-and-access)."""

    class Action(models.TextChoices):
        START = "start", "Started"
        STOP = "stop", "Stopped"
        ARCHIVE = "archive", "Archived"
        UNARCHIVE = "unarchive", "Unarchived"
        DUPLICATE = "duplicate", "Duplicated"
        UPDATE = "update", "Workflow update applied"
        DISMISS_UPDATE = "dismiss_update", "Workflow update dismissed"
        LAUNCH_TEST = "launch_test", "Test launched"
        RUN_TRACE = "run_trace", "Trace run now"
        CANCEL_TRACE = "cancel_trace", "Trace cancelled"
        RETRY_TRACE = "retry_trace", "Trace retried"
        STOP_PARTICIPANT = "stop_participant", "Participant stopped"
        SIMULATE_EVENT = "simulate_event", "Event simulated"
        DECLARE_WINNER = "declare_winner", "Winner declared"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="logs")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    trace = models.ForeignKey(
        Trace, null=True, blank=True, on_delete=models.SET_NULL, related_name="logs"
    )
    participant = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.SET_NULL, related_name="logs"
    )
    detail = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.user or 'system'}"


# --- outbound event webhooks (automation/outbound.py) -------------------------------------------


class WebhookEvent(models.TextChoices):
    PARTICIPANT_ENROLLED = "participant.enrolled", "Participant enrolled"
    PARTICIPANT_COMPLETED = "participant.completed", "Participant completed"
    PARTICIPANT_CONVERTED = "participant.converted", "Participant converted"
    TRACE_PROCESSED = "trace.processed", "Trace processed"
    TRACE_ERROR = "trace.error", "Trace error"
    MESSAGE_OPENED = "message.opened", "Message opened"
    MESSAGE_CLICKED = "message.clicked", "Message clicked"
    MESSAGE_REPLIED = "message.replied", "Message replied"
    MESSAGE_BOUNCED = "message.bounced", "Message bounced"
    MESSAGE_COMPLAINED = "message.complained", "Message complained"
    CONTACT_UNSUBSCRIBED = "contact.unsubscribed", "Contact unsubscribed"


def new_webhook_secret() -> str:
    import secrets

    return secrets.token_hex(32)


class WebhookEndpoint(models.Model):
    """A URL an administrator registered to receive signed event notifications."""

    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event names (WebhookEvent values)")
    secret = models.CharField(max_length=128, default=new_webhook_secret)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    def subscribes_to(self, event: str) -> bool:
        return self.active and event in (self.events or [])


class WebhookDelivery(models.Model):
    """One event notification for one endpoint: sent, retried with backoff, replayable."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(state="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.state})"

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING

    @property
    def is_delivered(self) -> bool:
        return self.state == self.State.DELIVERED

    @property
    def is_failed(self) -> bool:
        return self.state == self.State.FAILED


from .pressure_models import PressureEvent, PressureSettings, SendSlot  # noqa: E402, F401
from .rollup_models import (  # noqa: E402, F401
    AssignmentRollup,
    ClickRollup,
    ConversionRollup,
    MessageRollup,
    ParticipantRollup,
    PressureRollup,
    RollupPause,
    TraceRollup,
)
