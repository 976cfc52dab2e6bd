"""Campaign, workflow and trace operations (docs/product.md: campaigns to test mode). Views, API and
commands call these.

Refusals raise `django.core.exceptions.ValidationError` with a message for the user (a dict
keyed by field where one field is at fault). Every campaign state change and manual trace
action is logged in `CampaignLog` with the user and the time (docs/product.md#users-and-access).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from datetime import time as dt_time
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models, transaction
from django.db.models import Q

from drumbeat.lib import clock
from drumbeat.lib.send_rules import parse_window
from drumbeat.mailing.design import checks as design_checks
from drumbeat.mailing.design.schema import DesignError
from drumbeat.mailing.models import Template

from . import deletion, workflow_update
from .domains import DomainError, count_matching, filter_records, validate_domain
from .engine import wakeup
from .engine.enroll import enroll_campaign, unique_key_expression
from .engine.execute import (
    applied_domain,
    complete_participants,
    execute_traces,
)
from .engine.pressure import align_local_times
from .models import (
    Activity,
    Campaign,
    CampaignLog,
    DelayUnit,
    Participant,
    ServerAction,
    SplitAssignment,
    Trace,
)
from .splits import check_branch_changes, choose_test_branch, clean_branches
from .targets import FILTERABLE, get_target

T = Activity.Trigger
EMAIL_TRIGGERS = {
    T.MAIL_OPEN,
    T.MAIL_NOT_OPEN,
    T.MAIL_REPLY,
    T.MAIL_NOT_REPLY,
    T.MAIL_CLICK,
    T.MAIL_NOT_CLICK,
    T.MAIL_BOUNCE,
}
SMS_TRIGGERS = {T.SMS_CLICK, T.SMS_NOT_CLICK, T.SMS_BOUNCE}
SIMULATED_EVENTS = ("open", "click", "reply", "bounce")


def log_action(
    campaign: Campaign,
    user: Any,
    action: str,
    *,
    trace: Trace | None = None,
    participant: Participant | None = None,
    detail: str = "",
) -> CampaignLog:
    return CampaignLog.objects.create(
        campaign=campaign,
        user=user if getattr(user, "pk", None) else None,
        action=action,
        trace=trace,
        participant=participant or (trace.participant if trace else None),
        detail=detail[:500],
        at=clock.now(),
    )


def _wake_runner() -> None:
    transaction.on_commit(wakeup.wake)


# --- campaigns -------------------------------------------------------------------------------


def validate_campaign_fields(target: str, domain: Any, unique_field: str) -> list:
    try:
        t = get_target(target)
    except KeyError:
        raise ValidationError({"target": f"Unknown target {target!r}."}) from None
    try:
        validate_domain(t, domain)
    except DomainError as exc:
        raise ValidationError({"domain": str(exc)}) from None
    if unique_field and unique_field not in dict(t.unique_field_choices):
        raise ValidationError({"unique_field": f"{unique_field!r} cannot be a unique field."})
    return domain or []


def create_campaign(
    name: str,
    target: str,
    *,
    owner: Any = None,
    domain: list | None = None,
    unique_field: str | None = None,
    include_archived: bool = False,
    event_window_days: int = 30,
    goal_domain: list | None = None,
    goal_window_days: int | None = None,
    exit_on_goal: bool = False,
    **pressure: Any,
) -> Campaign:
    """Create a New campaign; `pressure` may give priority, pressure_exempt, email_window and
    sms_window (see `check_pressure_fields`)."""
    if not (name or "").strip():
        raise ValidationError({"name": "A campaign needs a name."})
    if unique_field is None:
        unique_field = get_target(target).default_unique_field if _known(target) else ""
    domain = validate_campaign_fields(target, domain or [], unique_field)
    unknown = set(pressure) - PRESSURE_FIELDS
    if unknown:
        raise ValidationError(f"Unknown campaign fields: {', '.join(sorted(unknown))}.")
    goal_domain, goal_window_days = clean_goal(target, goal_domain, goal_window_days)
    campaign = Campaign(
        name=name.strip(),
        target=target,
        owner=owner if getattr(owner, "pk", None) else None,
        domain=domain,
        unique_field=unique_field,
        include_archived=include_archived,
        event_window_days=event_window_days,
        goal_domain=goal_domain,
        goal_window_days=goal_window_days,
        exit_on_goal=bool(exit_on_goal),
        **pressure,
    )
    check_pressure_fields(campaign)
    campaign.save()
    return campaign


PRESSURE_FIELDS = {"priority", "pressure_exempt", "email_window", "sms_window"}


def check_pressure_fields(campaign: Campaign) -> None:
    """Priority among the choices, windows in the form of DRUMBEAT_EMAIL_WINDOW (or empty)."""
    if campaign.priority not in Campaign.Priority.values:
        raise ValidationError({"priority": "Choose high, normal or low."})
    for name in ("email_window", "sms_window"):
        text = (getattr(campaign, name) or "").strip()
        try:
            parse_window(text)
        except ValueError as exc:
            raise ValidationError({name: str(exc)}) from None
        setattr(campaign, name, text)


def _known(target: str) -> bool:
    try:
        get_target(target)
    except KeyError:
        return False
    return True


def update_campaign(campaign: Campaign, **changes: Any) -> Campaign:
    """Change campaign fields. The target is editable only while New; changing it resets the
    filter and the unique field."""
    allowed = {
        "name",
        "owner",
        "target",
        "domain",
        "include_archived",
        "unique_field",
        "event_window_days",
        "ignore_machine_events",
        "goal_domain",
        "goal_window_days",
        "exit_on_goal",
        *PRESSURE_FIELDS,
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Unknown campaign fields: {', '.join(sorted(unknown))}.")
    if "target" in changes and changes["target"] != campaign.target:
        if not campaign.is_draft:
            raise ValidationError(
                {"target": "The target can only change while the campaign is New."}
            )
        if campaign.activities.exists():
            raise ValidationError({"target": "Remove the activities before changing the target."})
        campaign.target = changes.pop("target")
        if _known(campaign.target):
            campaign.domain = []
            campaign.goal_domain = []
            campaign.unique_field = get_target(campaign.target).default_unique_field
    changes.pop("target", None)
    for name, value in changes.items():
        setattr(campaign, name, value)
    if not (campaign.name or "").strip():
        raise ValidationError({"name": "A campaign needs a name."})
    campaign.domain = validate_campaign_fields(
        campaign.target, campaign.domain, campaign.unique_field
    )
    check_pressure_fields(campaign)
    campaign.goal_domain, campaign.goal_window_days = clean_goal(
        campaign.target, campaign.goal_domain, campaign.goal_window_days
    )
    campaign.exit_on_goal = bool(campaign.exit_on_goal)
    campaign.save()
    return campaign


def clean_goal(target: str, goal_domain: Any, goal_window_days: Any) -> tuple[list, int | None]:
    """The goal filter (validated on the target; empty: no goal) and window (whole days >= 1,
    or None for no window)."""
    try:
        validate_domain(target, goal_domain or [])
    except DomainError as exc:
        raise ValidationError({"goal_domain": str(exc)}) from None
    window = _whole(goal_window_days, "goal_window_days", allow_none=True, minimum=1)
    return goal_domain or [], window


def start_campaign(campaign: Campaign, user: Any = None) -> Campaign:
    """New/Stopped → Running; refused on an empty workflow; enrols at once."""
    if not campaign.activities.exists():
        raise ValidationError("Add at least one activity to the workflow before starting.")
    if campaign.archived:
        raise ValidationError("Unarchive the campaign before starting it.")
    if campaign.is_running:
        return campaign
    refused = template_problems(campaign)
    if refused:
        raise ValidationError(
            "Fix the email templates before starting: " + "; ".join(refused) + "."
        )
    with transaction.atomic():
        campaign.state = Campaign.State.RUNNING
        campaign.save(update_fields=["state", "updated_at"])
        log_action(campaign, user, CampaignLog.Action.START)
        enroll_campaign(campaign)
        _wake_runner()
    return campaign


def template_problems(campaign: Campaign) -> list[str]:
    """The pre-send check errors (mailing/design/checks.py) of the campaign's email templates,
    each naming its template: what refuses the Start."""
    found = []
    templates = Template.objects.filter(
        activities__campaign=campaign, kind=Template.Kind.EMAIL
    ).distinct()
    for template in templates.order_by("name", "id"):
        try:
            errors = design_checks.errors(design_checks.check_template(template, FILTERABLE))
        except DesignError as exc:
            found.append(f"template “{template.name}”: the design is invalid ({exc})")
            continue
        for check in errors:
            where = f" ({check.path})" if check.path else ""
            found.append(f"template “{template.name}”: {check.message}{where}")
    return found


def stop_campaign(campaign: Campaign, user: Any = None) -> Campaign:
    """Running → Stopped: nothing is cancelled, due traces wait, events are ignored."""
    if not campaign.is_running:
        raise ValidationError("Only a running campaign can be stopped.")
    with transaction.atomic():
        campaign.state = Campaign.State.STOPPED
        campaign.save(update_fields=["state", "updated_at"])
        log_action(campaign, user, CampaignLog.Action.STOP)
    return campaign


def archive_campaign(campaign: Campaign, user: Any = None, archived: bool = True) -> Campaign:
    """Archive (stopping a running campaign first) or unarchive."""
    with transaction.atomic():
        if archived and campaign.is_running:
            stop_campaign(campaign, user)
        campaign.archived = archived
        campaign.save(update_fields=["archived", "updated_at"])
        log_action(
            campaign,
            user,
            CampaignLog.Action.ARCHIVE if archived else CampaignLog.Action.UNARCHIVE,
        )
    return campaign


def _copy_server_action(action: ServerAction | None) -> ServerAction | None:
    if action is None:
        return None
    children = list(action.children.all())
    action.pk = None
    action.id = None
    action._state.adding = True
    action.save()
    for child in children:
        child.pk = None
        child.id = None
        child._state.adding = True
        child.parent = action
        child.save()
    return action


def duplicate_campaign(campaign: Campaign, user: Any = None) -> Campaign:
    """A New copy with its activities, their templates and server actions (no participants)."""
    with transaction.atomic():
        copy = Campaign.objects.create(
            name=f"{campaign.name} (copy)",
            owner=user if getattr(user, "pk", None) else campaign.owner,
            target=campaign.target,
            domain=campaign.domain,
            include_archived=campaign.include_archived,
            unique_field=campaign.unique_field,
            event_window_days=campaign.event_window_days,
            ignore_machine_events=campaign.ignore_machine_events,
            goal_domain=campaign.goal_domain,
            goal_window_days=campaign.goal_window_days,
            exit_on_goal=campaign.exit_on_goal,
            **{name: getattr(campaign, name) for name in PRESSURE_FIELDS},
        )
        mapping: dict[int, Activity] = {}
        pending = list(campaign.activities.order_by("id"))
        while pending:
            progressed = False
            for activity in list(pending):
                if activity.parent_id is not None and activity.parent_id not in mapping:
                    continue
                old_id = activity.pk
                template = activity.template
                if template is not None:
                    template.pk = None
                    template.id = None
                    template._state.adding = True
                    template.save()
                activity.pk = None
                activity.id = None
                activity._state.adding = True
                activity.campaign = copy
                activity.parent = mapping.get(activity.parent_id) if activity.parent_id else None
                activity.template = template
                activity.server_action = _copy_server_action(activity.server_action)
                activity.pending_change = Activity.PendingChange.NONE
                activity.winner, activity.winner_at = "", None
                activity.save()
                mapping[old_id] = activity
                pending.remove(activity)
                progressed = True
            if not progressed:
                break
        log_action(campaign, user, CampaignLog.Action.DUPLICATE, detail=f"copy #{copy.pk}")
    return copy


# --- activities ------------------------------------------------------------------------------


ACTIVITY_FIELDS = {
    "name",
    "kind",
    "template",
    "template_id",
    "server_action",
    "server_action_id",
    "trigger",
    "parent",
    "parent_id",
    "delay_amount",
    "delay_unit",
    "expiry_amount",
    "expiry_unit",
    "domain",
    "send_at_local",
    "on_cap",
    "branches",
    "branch",
}


def _whole(value: Any, field: str, allow_none: bool = False, minimum: int = 0) -> int | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise ValidationError({field: "A whole number is required."})
    if isinstance(value, bool):
        raise ValidationError({field: "A whole number is required."})
    if isinstance(value, float) and not value.is_integer():
        raise ValidationError({field: "Whole numbers only (no fractions)."})
    try:
        number = int(str(value).strip()) if not isinstance(value, float) else int(value)
    except ValueError:
        raise ValidationError({field: "Whole numbers only (no fractions)."}) from None
    if number < minimum:
        raise ValidationError({field: f"Must be at least {minimum}."})
    return number


def _fits(parent: Activity, trigger: str) -> bool:
    if parent.is_split:
        return trigger == T.ACTIVITY
    if trigger in EMAIL_TRIGGERS:
        return parent.kind == Activity.Kind.EMAIL
    if trigger in SMS_TRIGGERS:
        return parent.kind == Activity.Kind.SMS
    return True


def _trigger_label(trigger: str) -> str:
    return dict(Activity.Trigger.choices).get(trigger, trigger)


def validate_activity(activity: Activity) -> None:
    """docs/product.md#workflows-and-activities rules; raises ValidationError naming the field (and
    both activities on a parent/trigger mismatch)."""
    campaign = activity.campaign
    for name in ("template", "server_action", "parent"):
        try:
            getattr(activity, name)
        except ObjectDoesNotExist:
            raise ValidationError({name: f"No such {name.replace('_', ' ')}."}) from None
    if not (activity.name or "").strip():
        raise ValidationError({"name": "An activity needs a name."})
    if activity.kind not in Activity.Kind.values:
        raise ValidationError({"kind": "Choose email, SMS, server action or split."})
    if activity.trigger not in Activity.Trigger.values:
        raise ValidationError({"trigger": f"Unknown trigger {activity.trigger!r}."})
    activity.delay_amount = _whole(activity.delay_amount, "delay_amount")
    if activity.delay_unit not in DelayUnit.values:
        raise ValidationError({"delay_unit": "Choose hours, days, weeks or months."})
    activity.expiry_amount = _whole(activity.expiry_amount, "expiry_amount", True, minimum=1)
    if activity.expiry_amount is None:
        activity.expiry_unit = ""
    elif activity.expiry_unit not in DelayUnit.values:
        raise ValidationError({"expiry_unit": "Choose hours, days, weeks or months."})
    if activity.kind in (Activity.Kind.EMAIL, Activity.Kind.SMS):
        template = activity.template
        if template is None:
            raise ValidationError({"template": "Choose a template."})
        if template.kind != activity.kind:
            raise ValidationError(
                {"template": f"{template.name!r} is not an {activity.kind} template."}
            )
        if template.target != campaign.target:
            raise ValidationError(
                {"template": f"{template.name!r} is for another target ({template.target})."}
            )
        activity.server_action = None
    elif activity.is_split:
        activity.branches = clean_branches(activity.branches)
        activity.template = activity.server_action = None
    else:
        action = activity.server_action
        if action is None:
            raise ValidationError({"server_action": "Choose a server action."})
        if action.target != campaign.target:
            raise ValidationError(
                {"server_action": f"{action.name!r} is for another target ({action.target})."}
            )
        activity.template = None
    _check_timing(activity)
    if not activity.is_split:
        activity.branches, activity.winner, activity.winner_at = [], "", None
    try:
        validate_domain(campaign.target, activity.domain or [])
    except DomainError as exc:
        raise ValidationError({"domain": str(exc)}) from None
    activity.domain = activity.domain or []
    parent = activity.parent
    _check_branch(activity, parent)
    if activity.trigger == T.BEGIN:
        if parent is not None:
            raise ValidationError({"parent": "A 'beginning of workflow' activity has no parent."})
        return
    if parent is None:
        raise ValidationError(
            {"parent": f"The trigger '{_trigger_label(activity.trigger)}' needs a parent activity."}
        )
    if parent.campaign_id != campaign.pk:
        raise ValidationError({"parent": "The parent belongs to another campaign."})
    if activity.pk is not None:
        ancestor: Activity | None = parent
        seen = set()
        while ancestor is not None and ancestor.pk not in seen:
            if ancestor.pk == activity.pk:
                raise ValidationError({"parent": "An activity cannot descend from itself (cycle)."})
            seen.add(ancestor.pk)
            ancestor = ancestor.parent
    if not _fits(parent, activity.trigger):
        raise ValidationError(
            {
                "trigger": f"'{parent.name}' ({parent.get_kind_display()}) cannot trigger "
                f"'{activity.name}' on '{_trigger_label(activity.trigger)}'."
            }
        )


def _check_timing(activity: Activity) -> None:
    """send_at_local: a time (or "HH:MM") with a delay in days, weeks or months; on_cap."""
    at = activity.send_at_local
    if isinstance(at, str):
        text = at.strip()
        try:
            at = dt_time.fromisoformat(text) if text else None
        except ValueError:
            raise ValidationError({"send_at_local": f"{text!r} is not a time (HH:MM)."}) from None
    if at is not None and not isinstance(at, dt_time):
        raise ValidationError({"send_at_local": "A time (HH:MM) or nothing."})
    if at is not None:
        at = at.replace(second=0, microsecond=0, tzinfo=None)
        if not activity.sends_message:
            raise ValidationError({"send_at_local": "Only emails and SMS have a local send time."})
        if activity.delay_unit == DelayUnit.HOURS:
            raise ValidationError(
                {"send_at_local": "A local send time needs a delay in days, weeks or months."}
            )
    activity.send_at_local = at
    if activity.on_cap not in Activity.OnCap.values:
        raise ValidationError({"on_cap": "Choose defer or skip."})


def _check_branch(activity: Activity, parent: Activity | None) -> None:
    """Under a split an activity names one of its branches; elsewhere none."""
    activity.branch = str(activity.branch or "").strip()
    if parent is None or not parent.is_split:
        if activity.branch:
            raise ValidationError({"branch": "Only an activity under a split has a branch."})
        return
    if activity.trigger != T.ACTIVITY:
        raise ValidationError(
            {"trigger": f"An activity under the split '{parent.name}' uses the trigger 'activity'."}
        )
    if activity.branch not in parent.branch_names:
        raise ValidationError(
            {"branch": f"Choose a branch of '{parent.name}': {', '.join(parent.branch_names)}."}
        )


def _check_children_still_fit(activity: Activity) -> None:
    if activity.is_split:
        check_branch_changes(activity, activity.branch_names)
    elif activity.children.exclude(branch="").exists():
        raise ValidationError(
            {"kind": f"'{activity.name}' has activities on branches: it must stay a split."}
        )
    for child in activity.children.all():
        if not _fits(activity, child.trigger):
            raise ValidationError(
                {
                    "kind": f"'{activity.name}' ({activity.get_kind_display()}) no longer fits its "
                    f"child '{child.name}' triggered on '{_trigger_label(child.trigger)}'."
                }
            )


def _mark_modified(campaign: Campaign, activity: Activity, change: str) -> None:
    if campaign.is_draft:
        return
    if activity.pending_change != Activity.PendingChange.ADDED:
        activity.pending_change = change
    if not campaign.require_sync:
        campaign.require_sync = True
        campaign.save(update_fields=["require_sync", "updated_at"])


def create_activity(campaign: Campaign, **fields: Any) -> Activity:
    unknown = set(fields) - ACTIVITY_FIELDS
    if unknown:
        raise ValidationError(f"Unknown activity fields: {', '.join(sorted(unknown))}.")
    activity = Activity(campaign=campaign, **fields)
    if activity.parent_id is not None and activity.trigger == T.BEGIN and "trigger" not in fields:
        activity.trigger = T.ACTIVITY
    validate_activity(activity)
    with transaction.atomic():
        _mark_modified(campaign, activity, Activity.PendingChange.ADDED)
        activity.save()
    return activity


def update_activity(activity: Activity, **fields: Any) -> Activity:
    unknown = set(fields) - ACTIVITY_FIELDS
    if unknown:
        raise ValidationError(f"Unknown activity fields: {', '.join(sorted(unknown))}.")

    def timing() -> tuple:
        return (activity.delay_amount, activity.delay_unit, activity.send_at_local)

    before = timing()
    for name, value in fields.items():
        setattr(activity, name, value)
    validate_activity(activity)
    _check_children_still_fit(activity)
    with transaction.atomic():
        if timing() != before:
            _mark_modified(activity.campaign, activity, Activity.PendingChange.REDATED)
        activity.save()
    return activity


def descendants(activity: Activity) -> list[int]:
    """Ids of every activity below `activity`."""
    rows = list(
        Activity.objects.filter(campaign_id=activity.campaign_id).values_list("id", "parent_id")
    )
    children: dict[int, list[int]] = defaultdict(list)
    for pk, parent in rows:
        if parent is not None:
            children[parent].append(pk)
    found, stack = [], list(children[activity.pk])
    while stack:
        pk = stack.pop()
        found.append(pk)
        stack.extend(children[pk])
    return found


def delete_counts(activity: Activity) -> dict[str, int]:
    """What deleting `activity` removes (for the confirmation)."""
    ids = [activity.pk, *descendants(activity)]
    return {
        "descendants": len(ids) - 1,
        "traces": Trace.objects.filter(activity_id__in=ids).count(),
    }


def delete_activity(activity: Activity) -> int:
    """Delete `activity`, its descendants and their traces; returns the descendant count."""
    ids = descendants(activity)
    campaign = activity.campaign
    with transaction.atomic():
        affected = list(
            Trace.objects.filter(activity_id__in=[activity.pk, *ids])
            .values_list("participant_id", flat=True)
            .distinct()
        )
        deletion.delete_activities([activity.pk, *ids])
        complete_participants(affected, clock.now())
    if not campaign.activities.filter(~Q(pending_change="")).exists() and campaign.require_sync:
        Campaign.objects.filter(pk=campaign.pk).update(require_sync=False)
    return len(ids)


def applied_filter(activity: Activity) -> list:
    return applied_domain(activity)


def applied_count(activity: Activity) -> int:
    campaign = activity.campaign
    return count_matching(campaign.target, applied_domain(activity), campaign.include_archived)


# --- workflow modified (docs/product.md#changing-a-running-campaign) ------------------------------


def pending_update_counts(campaign: Campaign) -> dict[str, int]:
    """How many traces Update would create and re-date: {"create": n, "redate": m}."""
    return workflow_update.counts(campaign, clock.now()).as_dict()


def apply_update(campaign: Campaign, user: Any = None) -> dict[str, int]:
    """Update: apply the modified workflow to existing participants
    (docs/product.md#changing-a-running-campaign)."""
    now = clock.now()
    with transaction.atomic():
        counts = workflow_update.apply(campaign, now).as_dict()
        align_local_times(  # activities with a local send time (contact pressure)
            Trace.objects.filter(
                activity__campaign=campaign,
                activity__pending_change__in=[
                    Activity.PendingChange.ADDED,
                    Activity.PendingChange.REDATED,
                ],
            ),
            now,
        )
        # Completed participants who received new traces run again.
        Participant.objects.filter(
            campaign=campaign,
            state=Participant.State.COMPLETED,
            traces__state=Trace.State.SCHEDULED,
        ).update(state=Participant.State.RUNNING, completed_at=None)
        _clear_pending(campaign, now)
        log_action(
            campaign,
            user,
            CampaignLog.Action.UPDATE,
            detail=f"{counts['create']} created, {counts['redate']} re-dated",
        )
        _wake_runner()
    return counts


def dismiss_update(campaign: Campaign, user: Any = None) -> None:
    """Don't update: the change applies to future traces only."""
    with transaction.atomic():
        _clear_pending(campaign, clock.now())
        log_action(campaign, user, CampaignLog.Action.DISMISS_UPDATE)


def _clear_pending(campaign: Campaign, now: datetime) -> None:
    campaign.activities.exclude(pending_change="").update(pending_change="")
    campaign.require_sync = False
    campaign.last_sync_at = now
    campaign.save(update_fields=["require_sync", "last_sync_at", "updated_at"])


# --- test mode (docs/product.md#test-mode) --------------------------------------------------------


def launch_test(campaign: Campaign, record_id: int, user: Any = None) -> Participant:
    """A test participant for `record_id` with its begin traces (due now + delay).

    A previous test participant of the same record is replaced; a real one refuses.
    """
    if not campaign.activities.filter(trigger=T.BEGIN).exists():
        raise ValidationError("Add at least one activity to the workflow before testing.")
    target = get_target(campaign.target)
    record = target.model._default_manager.filter(pk=record_id).first()
    if record is None:
        raise ValidationError({"record_id": f"No {target.label.lower()} with id {record_id}."})
    now = clock.now()
    with transaction.atomic():
        existing = Participant.objects.filter(campaign=campaign, record_id=record_id).first()
        if existing is not None and not existing.is_test:
            raise ValidationError(
                {"record_id": "This record already takes part in the campaign; pick another."}
            )
        if existing is not None:
            existing.delete()
        key = (
            target.model._default_manager.filter(pk=record_id)
            .annotate(_key=unique_key_expression(target, campaign.unique_field))
            .values_list("_key", flat=True)
            .get()
        )
        participant = Participant.objects.create(
            campaign=campaign, record_id=record_id, unique_key=key, is_test=True, enrolled_at=now
        )
        from .engine.enroll import insert_begin_traces

        insert_begin_traces(
            campaign, now, participants=Participant.objects.filter(pk=participant.pk)
        )
        log_action(
            campaign,
            user,
            CampaignLog.Action.LAUNCH_TEST,
            participant=participant,
            detail=target.display_name(record),
        )
        _wake_runner()
    return participant


def simulate_event(trace: Trace, kind: str, user: Any = None) -> None:
    """Simulate an open/click/reply/bounce on the message of a sent test trace."""
    from drumbeat.mailing import events

    if kind not in SIMULATED_EVENTS:
        raise ValidationError({"event": f"Choose one of {', '.join(SIMULATED_EVENTS)}."})
    if not trace.is_test:
        raise ValidationError("Events can only be simulated on test traces.")
    message = trace.message
    if message is None:
        from drumbeat.mailing.models import Message

        message = Message.objects.filter(trace_id=trace.pk).first()
    if message is None or message.state not in ("sent", "bounced"):
        raise ValidationError("This trace has no sent message to simulate an event on.")
    if kind in ("reply", "bounce", "open") and message.channel == "sms" and kind != "bounce":
        raise ValidationError(f"An SMS cannot be {'opened' if kind == 'open' else 'replied to'}.")
    now = clock.now()
    log_action(
        trace.activity.campaign,
        user,
        CampaignLog.Action.SIMULATE_EVENT,
        trace=trace,
        detail=kind,
    )
    if kind == "open":
        events.mark_opened([message.pk], now, machine=False)
    elif kind == "click":
        events.mark_clicked(message.pk, now)
    elif kind == "reply":
        events.mark_replied(message.pk, now)
    else:
        events.mark_bounced(message.pk, now, kind="hard", reason="simulated bounce")


# --- manual control (docs/product.md#manual-control) ----------------------------------------------


def run_trace_now(trace: Trace, user: Any = None, branch: str | None = None) -> Trace:
    """Execute a scheduled trace at once, whatever its date or the campaign state. `branch`:
    a test participant's split trace sends it down that branch (test mode walks each one)."""
    if trace.state != Trace.State.SCHEDULED:
        raise ValidationError("Only a scheduled trace can be run.")
    if trace.participant.state != Participant.State.RUNNING:
        raise ValidationError("The participant is no longer running.")
    chosen = choose_test_branch(trace, branch) if branch else False
    detail = f"branch {branch}" if branch else ""
    log_action(
        trace.activity.campaign, user, CampaignLog.Action.RUN_TRACE, trace=trace, detail=detail
    )
    execute_traces([trace.pk])
    trace.refresh_from_db()
    if chosen and trace.state != Trace.State.PROCESSED:  # rejected or expired: no branch
        SplitAssignment.objects.filter(
            participant_id=trace.participant_id, split_id=trace.activity_id
        ).delete()
    return trace


def cancel_trace(trace: Trace, user: Any = None) -> Trace:
    if trace.state != Trace.State.SCHEDULED:
        raise ValidationError("Only a scheduled trace can be cancelled.")
    now = clock.now()
    with transaction.atomic():
        Trace.objects.filter(pk=trace.pk, state=Trace.State.SCHEDULED).update(
            state=Trace.State.CANCELLED, reason="cancelled manually", executed_at=now
        )
        complete_participants([trace.participant_id], now)
        log_action(trace.activity.campaign, user, CampaignLog.Action.CANCEL_TRACE, trace=trace)
    trace.refresh_from_db()
    return trace


def retry_trace(trace: Trace, user: Any = None) -> Trace:
    """An Error trace is scheduled again, due now (its participant runs again)."""
    if trace.state != Trace.State.ERROR:
        raise ValidationError("Only a trace in error can be retried.")
    now = clock.now()
    with transaction.atomic():
        if trace.activity.sends_message:
            from drumbeat.mailing.models import Message

            # The exactly-once key is the trace: a failed message makes way for the retry.
            Message.objects.filter(trace_id=trace.pk, state__in=["error", "cancelled"]).update(
                trace_id=None
            )
        Trace.objects.filter(pk=trace.pk).update(
            state=Trace.State.SCHEDULED,
            scheduled_at=now,
            reason="",
            executed_at=None,
            started_at=None,
            claim_expires_at=None,
            message=None,
        )
        Participant.objects.filter(pk=trace.participant_id).exclude(
            state=Participant.State.REMOVED
        ).update(state=Participant.State.RUNNING, completed_at=None)
        # Children created when it failed would run twice after the retry: drop waiting ones.
        Trace.objects.filter(parent_id=trace.pk, state=Trace.State.SCHEDULED).delete()
        log_action(trace.activity.campaign, user, CampaignLog.Action.RETRY_TRACE, trace=trace)
        _wake_runner()
    trace.refresh_from_db()
    return trace


def stop_participant(participant: Participant, user: Any = None) -> Participant:
    """Complete a participant and cancel its scheduled traces ("stopped manually")."""
    if participant.state != Participant.State.RUNNING:
        raise ValidationError("Only a running participant can be stopped.")
    now = clock.now()
    with transaction.atomic():
        Trace.objects.filter(participant=participant, state=Trace.State.SCHEDULED).update(
            state=Trace.State.CANCELLED, reason="stopped manually", executed_at=now
        )
        participant.state = Participant.State.COMPLETED
        participant.completed_at = now
        participant.save(update_fields=["state", "completed_at"])
        log_action(
            participant.campaign, user, CampaignLog.Action.STOP_PARTICIPANT, participant=participant
        )
    return participant


def matching_records(campaign: Campaign) -> models.QuerySet:
    return filter_records(campaign.target, campaign.domain, campaign.include_archived)


# --- server actions ----------------------------------------------------------------------------

ACTION_FIELDS = frozenset({"name", "target", "kind", "params", "parent", "sequence"})


def _set_action_fields(action: ServerAction, fields: dict[str, Any]) -> None:
    unknown = set(fields) - ACTION_FIELDS
    if unknown:
        raise TypeError(f"not server action fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(action, name, value)


def create_server_action(**fields: Any) -> ServerAction:
    """Create a server action; its params are checked for its kind (ValidationError naming
    the field). A child of a 'run several' action takes its parent's target."""
    action = ServerAction()
    _set_action_fields(action, fields)
    if action.parent is not None:
        action.target = action.parent.target
    with transaction.atomic():
        action.save()  # validates kind, params and parent (ServerAction.clean)
    return action


def update_server_action(action: ServerAction, **changes: Any) -> ServerAction:
    """Change the given fields, checked as on creation. The target is fixed once campaign
    activities (or a parent 'run several' action) use the action."""
    moved = "target" in changes and changes["target"] != action.target
    if moved and action.parent_id is not None:
        raise ValidationError({"target": "A child action has the target of its parent."})
    if moved and action.activities.exists():
        raise ValidationError({"target": "Used by campaign activities: the target is fixed."})
    _set_action_fields(action, changes)
    with transaction.atomic():
        action.save()
    return action


def delete_server_action(action: ServerAction) -> None:
    """Delete a server action (with its children); refused (ValidationError) while campaign
    activities use it."""
    with transaction.atomic():
        if action.activities.exists():
            raise ValidationError("This action is used by campaign activities; it is kept.")
        action.delete()
