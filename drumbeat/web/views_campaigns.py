"""Campaign screens: dashboard (kanban / list / template cards), campaign form and actions,
workflow tree with activity cards, activity dialog, test screen (docs/product.md#campaigns,
#workflows-and-activities, #test-mode)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from drumbeat.accounts.models import User
from drumbeat.automation import campaign_templates, metrics, services, splits
from drumbeat.automation.domains import DomainError, parse_domain
from drumbeat.automation.engine.pressure import effective_values
from drumbeat.automation.models import (
    Activity,
    Campaign,
    DelayUnit,
    Participant,
    ServerAction,
    Trace,
)
from drumbeat.automation.targets import get_target, target_choices
from drumbeat.mailing.models import Message, Template

from .access import get_campaign_for_user
from .branch_fields import add_branch_fields, branch_initial, collect_branches
from .charts import daily_bars
from .forms import apply_service_errors

EMAIL_CHILD_TRIGGERS = [
    ("mail_open", "Opened"),
    ("mail_not_open", "Not opened"),
    ("mail_reply", "Replied"),
    ("mail_not_reply", "Not replied"),
    ("mail_click", "Clicked"),
    ("mail_not_click", "Not clicked"),
    ("mail_bounce", "Bounced"),
]
SMS_CHILD_TRIGGERS = [
    ("sms_click", "Clicked"),
    ("sms_not_click", "Not clicked"),
    ("sms_bounce", "Bounced"),
]
NOT_TRIGGERS = {"mail_not_open", "mail_not_reply", "mail_not_click", "sms_not_click"}


def allowed_triggers(parent: Activity | None) -> list[tuple[str, str]]:
    """The triggers a child of `parent` may use (docs/product.md#triggers), as (value, button
    label)."""
    if parent is None:
        return [("begin", "Beginning of workflow")]
    if parent.is_split:
        return [("activity", "Right after the split")]
    triggers = [("activity", "Add another activity")]
    if parent.kind == Activity.Kind.EMAIL:
        triggers += EMAIL_CHILD_TRIGGERS
    elif parent.kind == Activity.Kind.SMS:
        triggers += SMS_CHILD_TRIGGERS
    return triggers


def _amount(amount: int, unit: str) -> str:
    label = dict(DelayUnit.choices)[unit].lower()
    return f"{amount} {label[:-1] if amount == 1 else label}"


def delay_caption(activity: Activity) -> str:
    """'Clicked after 2 hours', 'Not opened within 7 days', '2 hours after enrolment'..."""
    delay = _amount(activity.delay_amount, activity.delay_unit)
    trigger = activity.trigger
    if trigger == "begin":
        return "At enrolment" if not activity.delay_amount else f"{delay} after enrolment"
    if trigger == "activity" and activity.branch:
        start = f"On branch {activity.branch}"
        return f"{start}, at once" if not activity.delay_amount else f"{start}, after {delay}"
    if trigger == "activity":
        parent = activity.parent.name if activity.parent else "the parent"
        return f"Right after {parent}" if not activity.delay_amount else f"{delay} after {parent}"
    label = dict(Activity.Trigger.choices)[trigger].replace("SMS ", "")
    if trigger in NOT_TRIGGERS:
        return f"{label} within {delay}"
    return f"{label}, at once" if not activity.delay_amount else f"{label} after {delay}"


# --- dashboard ---------------------------------------------------------------------------------


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    qs = Campaign.objects.select_related("owner")
    text = request.GET.get("q", "").strip()
    state = request.GET.get("state", "")
    archived = request.GET.get("archived") == "1"
    view = "list" if request.GET.get("view") == "list" else "kanban"
    qs = qs.filter(archived=archived)
    if state in Campaign.State.values:
        qs = qs.filter(state=state)
    if text:
        targets = [key for key, label in target_choices() if text.lower() in label.lower()]
        qs = qs.filter(Q(name__icontains=text) | Q(target__in=targets))
    campaigns = list(qs.order_by("-updated_at", "-id")[:300])
    figures = metrics.dashboard_counts([c.pk for c in campaigns])
    labels = dict(target_choices())
    for c in campaigns:
        c.figures = figures[c.pk]
        c.target_label = labels.get(c.target, c.target)
    columns = [
        (value, label, [c for c in campaigns if c.state == value])
        for value, label in Campaign.State.choices
    ]
    context = {
        "campaigns": campaigns,
        "columns": columns,
        "q": text,
        "state": state,
        "archived": archived,
        "view": view,
        "states": Campaign.State.choices,
        "cards": campaign_templates.list_templates(),
        "is_empty_db": not Campaign.objects.exists(),
    }
    if request.htmx and request.htmx.target == "campaigns":
        return render(request, "web/campaigns/_dashboard_results.html", context)
    return render(request, "web/campaigns/list.html", context)


@require_POST
@login_required
def campaign_from_template(request: HttpRequest, key: str) -> HttpResponse:
    try:
        split = request.POST.get("split") == "1"
        campaign = campaign_templates.instantiate(key, request.user, split=split)
    except campaign_templates.UnknownTemplate:
        raise Http404("No such campaign template.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("campaign_list")
    messages.success(request, f"Campaign “{campaign.name}” created from its template.")
    return redirect("campaign_settings", pk=campaign.pk)


# --- campaign form -----------------------------------------------------------------------------


class CampaignCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    target = forms.ChoiceField(
        choices=target_choices, help_text="The records the campaign runs on."
    )


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    owner = forms.ModelChoiceField(
        User.objects.filter(is_active=True).order_by("username"),
        required=False,
        label="Responsible",
        empty_label="— nobody —",
    )
    target = forms.ChoiceField(choices=target_choices)
    unique_field = forms.ChoiceField(
        required=False, help_text="A record is skipped when another participant has the same value."
    )
    include_archived = forms.BooleanField(required=False, label="Include archived records")
    event_window_days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        label="Event window (days)",
        help_text="Children waiting for an open, click or reply are cancelled after this.",
    )
    ignore_machine_events = forms.BooleanField(
        required=False, label="Ignore opens and clicks by link scanners"
    )
    priority = forms.ChoiceField(
        choices=Campaign.Priority.choices,
        required=False,
        help_text="Takes a person's last capped slot before lower-priority campaigns.",
    )
    pressure_exempt = forms.BooleanField(
        required=False,
        label="Exempt from frequency caps and quiet hours",
        help_text="For transactional flows such as double opt-in confirmations.",
    )
    email_window = forms.CharField(
        max_length=200,
        required=False,
        label="Email send window",
        help_text="e.g. Mon-Sat 08:00-20:00 in the recipient's time; empty: the instance's.",
    )
    sms_window = forms.CharField(
        max_length=200,
        required=False,
        label="SMS send window",
        help_text="e.g. Mon-Fri 09:00-19:00; empty: the instance's.",
    )
    domain = forms.CharField(required=False, label="Filter")

    def __init__(self, *args, campaign: Campaign, **kwargs):
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        target = get_target(campaign.target)
        self.fields["unique_field"].choices = [("", "— none —"), *target.unique_field_choices]
        if not campaign.is_draft:
            self.fields["target"].disabled = True
            self.fields["target"].help_text = "The target can only change while New."
        instance = effective_values()
        for name in ("email_window", "sms_window"):
            placeholder = f"the instance's: {instance[name] or 'always open'}"
            self.fields[name].widget.attrs["placeholder"] = placeholder

    def clean_domain(self):
        try:
            return parse_domain(self.cleaned_data.get("domain") or "[]")
        except DomainError as exc:
            raise ValidationError(str(exc))

    def clean_priority(self):
        return self.cleaned_data.get("priority") or Campaign.Priority.NORMAL


def _campaign_context(request: HttpRequest, campaign: Campaign) -> dict:
    target = get_target(campaign.target)
    figures = metrics.campaign_metrics(campaign)
    context = {
        "campaign": campaign,
        "target": target,
        "figures": figures,
        "counts": figures,
        "has_activities": campaign.activities.exists(),
    }
    if campaign.require_sync:
        context["pending"] = services.pending_update_counts(campaign)
    return context


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignCreateForm(request.POST or None, initial={"target": "contacts.contact"})
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.create_campaign(
                form.cleaned_data["name"], form.cleaned_data["target"], owner=request.user
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Campaign “{campaign.name}” created. Now set its filter.")
            return redirect("campaign_settings", pk=campaign.pk)
    return render(
        request,
        "web/campaigns/create.html",
        {"form": form, "cards": campaign_templates.list_templates()},
    )


@login_required
def campaign_settings(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for_user(request, pk)
    initial = {
        "name": campaign.name,
        "owner": campaign.owner,
        "target": campaign.target,
        "unique_field": campaign.unique_field,
        "include_archived": campaign.include_archived,
        "event_window_days": campaign.event_window_days,
        "ignore_machine_events": campaign.ignore_machine_events,
        "priority": campaign.priority,
        "pressure_exempt": campaign.pressure_exempt,
        "email_window": campaign.email_window,
        "sms_window": campaign.sms_window,
        "domain": json.dumps(campaign.domain),
    }
    form = CampaignForm(request.POST or None, initial=initial, campaign=campaign)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        if data.get("target") != campaign.target and campaign.is_draft:
            # a new target resets the filter and unique field (docs/product.md#campaigns)
            data = {k: v for k, v in data.items() if k not in {"domain", "unique_field"}}
        else:
            data.pop("target", None)
        try:
            services.update_campaign(campaign, **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
            campaign.refresh_from_db()
        else:
            messages.success(request, "Campaign saved.")
            return redirect("campaign_settings", pk=campaign.pk)
    context = _campaign_context(request, campaign)
    context.update({"form": form, "tab": "settings"})
    context["domain_value"] = form["domain"].value() or "[]"
    return render(request, "web/campaigns/settings.html", context)


@require_POST
@login_required
def campaign_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Start / Stop / Duplicate / Archive / Unarchive / Update / Don't update."""
    campaign = get_campaign_for_user(request, pk)
    user = request.user
    try:
        if action == "start":
            services.start_campaign(campaign, user)
            messages.success(request, f"“{campaign.name}” is running.")
        elif action == "stop":
            services.stop_campaign(campaign, user)
            messages.success(request, f"“{campaign.name}” is stopped. Due steps wait.")
        elif action == "duplicate":
            copy = services.duplicate_campaign(campaign, user)
            messages.success(request, f"Duplicated as “{copy.name}”.")
            return redirect("campaign_detail", pk=copy.pk)
        elif action == "archive":
            services.archive_campaign(campaign, user, archived=True)
            messages.success(request, f"“{campaign.name}” archived.")
        elif action == "unarchive":
            services.archive_campaign(campaign, user, archived=False)
            messages.success(request, f"“{campaign.name}” restored from the archive.")
        elif action == "update":
            counts = services.apply_update(campaign, user)
            messages.success(
                request,
                f"Workflow updated: {counts['create']} steps created, {counts['redate']} re-dated.",
            )
        elif action == "dismiss":
            services.dismiss_update(campaign, user)
            messages.success(request, "The change applies to future steps only.")
        else:
            raise Http404("Unknown action.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(_safe_next(request, reverse("campaign_detail", args=[campaign.pk])))


# --- workflow ----------------------------------------------------------------------------------


def workflow_tree(campaign: Campaign) -> list[dict]:
    """The activities as nested nodes, children ordered by delay (one query)."""
    activities = list(
        campaign.activities.select_related("template", "server_action", "parent").order_by(
            "delay_hours", "id"
        )
    )
    figures = metrics.activity_metrics(campaign)
    assigned = splits.branch_counts(campaign)
    nodes = {
        a.pk: {
            "activity": a,
            "children": [],
            "caption": delay_caption(a),
            "figures": figures[a.pk],
            "triggers": allowed_triggers(a),
        }
        for a in activities
    }
    roots = []
    for a in activities:
        if a.parent_id and a.parent_id in nodes:
            nodes[a.parent_id]["children"].append(nodes[a.pk])
        else:
            roots.append(nodes[a.pk])
    for node in nodes.values():
        if node["activity"].is_split:
            node["branches"] = split_branches(node, assigned.get(node["activity"].pk, {}))
        daily = node["figures"].daily
        node["has_chart_data"] = any(p or r for _, p, r in daily)
        if not node["has_chart_data"]:
            continue
        node["chart"] = daily_bars(
            [d for d, _, _ in daily],
            [
                ("Success", "s-ok", [p for _, p, _ in daily]),
                ("Rejected", "s-bad", [r for _, _, r in daily]),
            ],
            title=f"Success and rejected per day, last 15 days: {node['activity'].name}",
        )
    return roots


def split_branches(node: dict, assigned: dict[str, int]) -> list[dict]:
    """A split node's branches, each with its share, participants and child nodes."""
    split = node["activity"]
    under: dict[str, list[dict]] = {name: [] for name in split.branch_names}
    for child in node["children"]:
        under.setdefault(child["activity"].branch, []).append(child)
    control = splits.control_branch(split, under)
    shares = splits.shares(split)
    return [
        {
            "name": name,
            "share": shares.get(name, 0),
            "participants": assigned.get(name, 0),
            "children": under[name],
            "is_control": name == control,
            "is_winner": name == split.winner,
        }
        for name in split.branch_names
    ]


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for_user(request, pk)
    context = _campaign_context(request, campaign)
    context.update({"tab": "workflow", "tree": workflow_tree(campaign)})
    if campaign.has_goal:
        from .views_results import describe_domain

        context["goal_text"] = describe_domain(campaign.target, campaign.goal_domain)
    return render(request, "web/campaigns/workflow.html", context)


class TemplateSelect(forms.Select):
    """Options carry their template's kind, so the dialog offers only email or SMS ones."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds: dict[int, str] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        kind = self.kinds.get(getattr(value, "value", value))
        if kind:
            option["attrs"]["data-kind"] = kind
        return option


class ActivityForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Activity.Kind.choices, label="Type")
    template = forms.ModelChoiceField(
        Template.objects.none(), required=False, widget=TemplateSelect
    )
    server_action = forms.ModelChoiceField(ServerAction.objects.none(), required=False)
    trigger = forms.ChoiceField(choices=Activity.Trigger.choices)
    delay_amount = forms.IntegerField(min_value=0, label="Delay", initial=0)
    delay_unit = forms.ChoiceField(choices=DelayUnit.choices, initial="hours", label="Unit")
    expiry_amount = forms.IntegerField(
        min_value=1, required=False, label="Expires after", help_text="Optional"
    )
    expiry_unit = forms.ChoiceField(
        choices=[("", "—"), *DelayUnit.choices], required=False, label="Unit"
    )
    send_at_local = forms.TimeField(
        required=False,
        label="At (recipient's time)",
        widget=forms.TimeInput({"type": "time"}, format="%H:%M"),
        help_text="Optional, for delays in days, weeks or months.",
    )
    on_cap = forms.ChoiceField(
        choices=Activity.OnCap.choices,
        initial=Activity.OnCap.DEFER,
        required=False,
        label="When a frequency cap is reached",
    )
    domain = forms.CharField(required=False, label="Activity filter")
    branch = forms.ChoiceField(required=False, choices=(), label="Branch")

    def __init__(self, *args, campaign: Campaign, parent: Activity | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.branch_rows = add_branch_fields(self)
        if parent is not None and parent.is_split:
            self.fields["branch"].choices = [(n, n) for n in parent.branch_names]
            self.fields["branch"].required = True
        else:
            del self.fields["branch"]
        templates = Template.objects.filter(target=campaign.target)
        self.fields["template"].queryset = templates
        self.fields["template"].widget.kinds = dict(templates.values_list("pk", "kind"))
        self.fields["server_action"].queryset = ServerAction.objects.filter(
            target=campaign.target, parent=None
        )
        choices = allowed_triggers(parent)
        labels = dict(Activity.Trigger.choices)
        self.fields["trigger"].choices = [(v, labels[v]) for v, _ in choices]

    def clean_domain(self):
        try:
            return parse_domain(self.cleaned_data.get("domain") or "[]")
        except DomainError as exc:
            raise ValidationError(str(exc))

    def clean_on_cap(self):
        return self.cleaned_data.get("on_cap") or Activity.OnCap.DEFER

    def clean(self):
        data = super().clean()
        if data.get("expiry_amount") and not data.get("expiry_unit"):
            self.add_error("expiry_unit", "Choose the unit of the expiry.")
        data["branches"] = collect_branches(self) if data.get("kind") == "split" else []
        return data


def _activity_dialog(request, campaign, form, parent, activity=None, status=200):
    if activity is not None:
        base = services.applied_filter(activity.parent) if activity.parent else campaign.domain
    else:
        base = services.applied_filter(parent) if parent else campaign.domain
    context = {
        "campaign": campaign,
        "form": form,
        "parent": parent,
        "activity": activity,
        "base_domain": base,
        "domain_value": form["domain"].value() or "[]",
        "templates_url": reverse("template_list") if _has_url("template_list") else "",
    }
    return render(request, "web/campaigns/_activity_dialog.html", context, status=status)


def _has_url(name: str) -> bool:
    try:
        reverse(name)
    except Exception:
        return False
    return True


def _activity_values(data: dict) -> dict:
    values = {k: v for k, v in data.items() if not k.startswith("branch_")}
    if not values.get("expiry_amount"):
        values["expiry_amount"], values["expiry_unit"] = None, ""
    return values


@login_required
def activity_create(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for_user(request, pk)
    parent = None
    parent_id = request.POST.get("parent") or request.GET.get("parent")
    if parent_id:
        parent = get_object_or_404(Activity, pk=parent_id, campaign=campaign)
    trigger = request.GET.get("trigger") or ("activity" if parent else "begin")
    initial = {
        "trigger": trigger,
        "kind": "action" if parent is None and campaign.target == "crm.lead" else "email",
    }
    if trigger in NOT_TRIGGERS:
        initial.update(delay_amount=7, delay_unit="days")
    if request.GET.get("kind") in Activity.Kind.values:
        initial["kind"] = request.GET["kind"]
    if parent is not None and parent.is_split:
        initial["branch"] = request.GET.get("branch", "")
    form = ActivityForm(request.POST or None, initial=initial, campaign=campaign, parent=parent)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_activity(campaign, parent=parent, **_activity_values(form.cleaned_data))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Activity “{form.cleaned_data['name']}” added.")
            return _back_to_workflow(request, campaign)
    return _activity_dialog(request, campaign, form, parent)


def _back_to_workflow(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    url = reverse("campaign_detail", args=[campaign.pk])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@login_required
def activity_edit(request: HttpRequest, pk: int, activity_id: int) -> HttpResponse:
    campaign = get_campaign_for_user(request, pk)
    activity = get_object_or_404(Activity, pk=activity_id, campaign=campaign)
    initial = {
        "name": activity.name,
        "kind": activity.kind,
        "template": activity.template_id,
        "server_action": activity.server_action_id,
        "trigger": activity.trigger,
        "delay_amount": activity.delay_amount,
        "delay_unit": activity.delay_unit,
        "expiry_amount": activity.expiry_amount,
        "expiry_unit": activity.expiry_unit,
        "send_at_local": activity.send_at_local,
        "on_cap": activity.on_cap,
        "domain": json.dumps(activity.domain),
        "branch": activity.branch,
        **branch_initial(activity.branches),
    }
    form = ActivityForm(
        request.POST or None, initial=initial, campaign=campaign, parent=activity.parent
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_activity(activity, **_activity_values(form.cleaned_data))
        except ValidationError as exc:
            apply_service_errors(form, exc)
            activity.refresh_from_db()
        else:
            messages.success(request, f"Activity “{activity.name}” saved.")
            return _back_to_workflow(request, campaign)
    return _activity_dialog(request, campaign, form, activity.parent, activity)


@login_required
def activity_delete(request: HttpRequest, pk: int, activity_id: int) -> HttpResponse:
    """GET: the confirmation naming the descendants; POST: delete."""
    campaign = get_campaign_for_user(request, pk)
    activity = get_object_or_404(Activity, pk=activity_id, campaign=campaign)
    if request.method == "POST":
        removed = services.delete_activity(activity)
        extra = f" and {removed} activities below it" if removed else ""
        messages.success(request, f"Activity “{activity.name}”{extra} deleted.")
        return _back_to_workflow(request, campaign)
    names = list(
        Activity.objects.filter(pk__in=services.descendants(activity)).values_list(
            "name", flat=True
        )
    )
    context = {
        "campaign": campaign,
        "activity": activity,
        "descendants": names,
        "counts": services.delete_counts(activity),
    }
    return render(request, "web/campaigns/_activity_delete.html", context)


@login_required
def activity_filter(request: HttpRequest, pk: int, activity_id: int) -> HttpResponse:
    """The Filter tab of an activity card: its applied filter and record count."""
    campaign = get_campaign_for_user(request, pk)
    activity = get_object_or_404(Activity, pk=activity_id, campaign=campaign)
    domain = services.applied_filter(activity)
    try:
        count = services.applied_count(activity)
        error = None
    except DomainError as exc:
        count, error = None, str(exc)
    from .records import kind_for_target

    kind = kind_for_target(campaign.target)
    url = None
    if kind and count is not None:
        url = reverse("record_list", args=[kind.slug])
        if domain:
            url += "?domain=" + json.dumps(domain)
    context = {"domain": json.dumps(domain), "count": count, "error": error, "url": url}
    return render(request, "web/campaigns/_activity_filter.html", context)


# --- test mode ---------------------------------------------------------------------------------


class LaunchTestForm(forms.Form):
    record_id = forms.IntegerField(label="Record", min_value=1)


@login_required
def campaign_test_launch(request: HttpRequest, pk: int) -> HttpResponse:
    """Pick a record of the target (searchable) and launch a test participant on it."""
    campaign = get_campaign_for_user(request, pk)
    target = get_target(campaign.target)
    form = LaunchTestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            participant = services.launch_test(
                campaign, form.cleaned_data["record_id"], request.user
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Test launched.")
            return redirect("campaign_test", pk=campaign.pk, participant_id=participant.pk)
    text = request.GET.get("q", "").strip()
    records = target.base_queryset(include_archived=True)
    if text:
        condition = Q(**{f"{target.name_field}__icontains": text})
        if target.email_field:
            condition |= Q(**{f"{target.email_field}__icontains": text})
        records = records.filter(condition)
    records = records.order_by("-pk")[:20]
    rows = [
        {
            "pk": r.pk,
            "name": target.display_name(r),
            "email": getattr(r, target.email_field or "", "") if target.email_field else "",
        }
        for r in records
    ]
    tests = Participant.objects.filter(campaign=campaign, is_test=True).order_by("-enrolled_at")[
        :10
    ]
    context = _campaign_context(request, campaign)
    from .records import kind_for_target

    kind = kind_for_target(campaign.target)
    context.update(
        {"form": form, "rows": rows, "q": text, "tests": tests, "tab": "tests", "kind": kind}
    )
    if request.htmx and request.htmx.target == "test-records":
        return render(request, "web/campaigns/_test_records.html", context)
    return render(request, "web/campaigns/test_launch.html", context)


def trace_tree(participant: Participant) -> tuple[list[dict], bool]:
    """The participant's traces as a tree (parent trace -> children), with their messages;
    second value: whether something is due (the page then refreshes itself)."""
    traces = list(
        Trace.objects.filter(participant=participant)
        .select_related("activity", "message")
        .order_by("created_at", "id")
    )
    messages = Message.objects.filter(trace_id__in=[t.pk for t in traces])
    by_trace = {m.trace_id: m for m in messages.prefetch_related("inbound_events")}
    nodes = {t.pk: {"trace": t, "message": by_trace.get(t.pk), "children": []} for t in traces}
    branch_of = splits.assignments_of([participant.pk]).get(participant.pk, {})
    roots = []
    for t in traces:
        node = nodes[t.pk]
        node["caption"] = delay_caption(t.activity)
        if t.activity.is_split:
            node["branch"] = branch_of.get(t.activity_id)
        if t.parent_id in nodes:
            nodes[t.parent_id]["children"].append(node)
        else:
            roots.append(node)
    now = timezone.now()
    due = any(
        t.state in ("scheduled", "processing")
        and t.scheduled_at is not None
        and t.scheduled_at <= now + timezone.timedelta(seconds=60)
        for t in traces
    )
    return roots, due


@login_required
def campaign_test(request: HttpRequest, pk: int, participant_id: int) -> HttpResponse:
    campaign = get_campaign_for_user(request, pk)
    participant = get_object_or_404(Participant, pk=participant_id, campaign=campaign)
    target = get_target(campaign.target)
    record = participant.record
    tree, due = trace_tree(participant)
    context = _campaign_context(request, campaign)
    context.update(
        {
            "participant": participant,
            "record": record,
            "record_name": target.display_name(record) if record else f"#{participant.record_id}",
            "tree": tree,
            "due": due,
            "tab": "tests",
        }
    )
    if request.htmx and request.htmx.target == "test-tree":
        return render(request, "web/campaigns/_test_tree.html", context)
    return render(request, "web/campaigns/test.html", context)


# --- manual trace / participant actions (docs/product.md#manual-control, #test-mode) --------------


@require_POST
@login_required
def trace_action(request: HttpRequest, trace_id: int, action: str) -> HttpResponse:
    trace = get_object_or_404(Trace.objects.select_related("activity__campaign"), pk=trace_id)
    get_campaign_for_user(request, trace.activity.campaign_id)
    try:
        if action == "run":
            branch = request.POST.get("branch") or None
            services.run_trace_now(trace, request.user, branch=branch)
            down = f" down branch {branch}" if branch else ""
            messages.success(request, f"“{trace.activity.name}” ran{down}.")
        elif action == "cancel":
            services.cancel_trace(trace, request.user)
            messages.success(request, f"“{trace.activity.name}” cancelled.")
        elif action == "retry":
            services.retry_trace(trace, request.user)
            messages.success(request, f"“{trace.activity.name}” will run again.")
        elif action in services.SIMULATED_EVENTS:
            services.simulate_event(trace, action, request.user)
            messages.success(request, f"Simulated {action} on “{trace.activity.name}”.")
        else:
            raise Http404("Unknown action.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    default = reverse("campaign_test", args=[trace.activity.campaign_id, trace.participant_id])
    return redirect(_safe_next(request, default))


@require_POST
@login_required
def participant_stop(request: HttpRequest, participant_id: int) -> HttpResponse:
    participant = get_object_or_404(Participant, pk=participant_id)
    get_campaign_for_user(request, participant.campaign_id)
    try:
        services.stop_participant(participant, request.user)
        messages.success(request, "Participant stopped; their scheduled steps are cancelled.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(_safe_next(request, reverse("participant_report")))


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else default
