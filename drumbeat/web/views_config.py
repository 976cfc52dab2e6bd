"""Configuration pages for typed server actions (the template pages live in views_templates.py)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from drumbeat.accounts.models import User
from drumbeat.automation import services as automation_services
from drumbeat.automation.action_config import DUE_UNITS, M2M_OPERATIONS, TASK_TYPES
from drumbeat.automation.models import Activity, ServerAction
from drumbeat.automation.targets import model_fields, target_choices
from drumbeat.mailing.models import MailingList
from drumbeat.timeline.models import Task

from .forms import apply_service_errors

# --- server actions ------------------------------------------------------------------------------


class ServerActionForm(forms.Form):
    name = forms.CharField(max_length=200)
    target = forms.ChoiceField(choices=target_choices)
    kind = forms.ChoiceField(choices=ServerAction.Kind.choices, label="Action")
    # update_record
    field = forms.ChoiceField(required=False, label="Field to update")
    operation = forms.ChoiceField(
        required=False,
        choices=[(o, o.capitalize()) for o in M2M_OPERATIONS],
        help_text="Add / remove / clear apply to many-to-many fields (tags, lists).",
    )
    value = forms.CharField(
        required=False,
        help_text="A value, names for tags (comma-separated), or a template like "
        "{{ record.name }}.",
    )
    # create_activity
    activity_type = forms.ChoiceField(
        required=False, choices=[(t, dict(Task.Kind.choices)[t]) for t in TASK_TYPES]
    )
    summary = forms.CharField(required=False, max_length=200)
    note = forms.CharField(required=False, widget=forms.Textarea({"rows": 2}))
    due_amount = forms.IntegerField(required=False, min_value=0, initial=2, label="Due in")
    due_unit = forms.ChoiceField(required=False, choices=[(u, u) for u in DUE_UNITS])
    user_id = forms.ModelChoiceField(
        User.objects.filter(is_active=True), required=False, label="Assign to user"
    )
    user_field = forms.ChoiceField(required=False, label="…or the record's user field")
    # post_note
    body = forms.CharField(
        required=False, widget=forms.Textarea({"rows": 3}), label="Note (template)"
    )
    # lists
    list_id = forms.ModelChoiceField(MailingList.objects.all(), required=False, label="List")
    # blacklists
    reason = forms.CharField(required=False, max_length=200)
    # create_record
    model = forms.ChoiceField(required=False, choices=target_choices, label="Record to create")
    values = forms.CharField(
        required=False,
        widget=forms.Textarea({"rows": 3, "class": "code"}),
        help_text='JSON: {"field": "value or {{ record.field }}"}',
    )
    link_field = forms.CharField(required=False, help_text="Field of the new record pointing back")
    # send_webhook
    url = forms.URLField(required=False, label="Webhook URL", assume_scheme="https")
    webhook_fields = forms.MultipleChoiceField(
        required=False, label="Fields sent", widget=forms.CheckboxSelectMultiple
    )

    KIND_PARAMS = {
        "update_record": ("field", "operation", "value"),
        "create_activity": (
            "activity_type",
            "summary",
            "note",
            "due_amount",
            "due_unit",
            "user_id",
            "user_field",
        ),
        "post_note": ("body",),
        "add_to_list": ("list_id",),
        "remove_from_list": ("list_id",),
        "blacklist_email": ("reason",),
        "unblacklist_email": ("reason",),
        "blacklist_phone": ("reason",),
        "unblacklist_phone": ("reason",),
        "create_record": ("model", "values", "link_field"),
        "send_webhook": ("url", "webhook_fields"),
        "multi": (),
    }

    def __init__(self, *args, target_key: str, **kwargs):
        super().__init__(*args, **kwargs)
        own = model_fields(target_key)
        choices = []
        for name, info in own.items():
            if name in {"id", "created_at"} or info.kind == "one2many":
                continue
            choices.append((name, info.label))
            if info.kind == "many2one" and info.related:
                for sub, sub_info in model_fields(info.related).items():
                    if sub not in {"id", "created_at"} and sub_info.kind != "one2many":
                        choices.append((f"{name}.{sub}", f"{info.label} › {sub_info.label}"))
        self.fields["field"].choices = [("", "—"), *choices]
        self.fields["user_field"].choices = [("", "—")] + [
            (n, i.label) for n, i in own.items() if i.related == "accounts.user"
        ]
        self.fields["webhook_fields"].choices = [(n, i.label) for n, i in own.items()]

    def params(self) -> dict:
        data = self.cleaned_data
        kind = data["kind"]
        params: dict = {}
        for key in self.KIND_PARAMS.get(kind, ()):
            value = data.get(key)
            if value in (None, "", []):
                continue
            params[key] = value
        if "user_id" in params:
            params["user_id"] = params["user_id"].pk
        if "list_id" in params:
            params["list_id"] = params["list_id"].pk
        if "webhook_fields" in params:
            params["fields"] = params.pop("webhook_fields")
        if kind == "update_record":
            params["value"] = self._typed_value(data.get("field") or "", data.get("value") or "")
            params.setdefault("operation", "set")
        if kind == "create_record" and "values" in params:
            try:
                params["values"] = json.loads(params["values"])
            except ValueError as exc:
                raise ValidationError({"values": f"Not valid JSON: {exc}"})
        return params

    def _typed_value(self, field: str, text: str):
        target = self.cleaned_data["target"]
        label, name = target, field
        if "." in field:
            first, name = field.split(".", 1)
            label = model_fields(target)[first].related or target
        info = model_fields(label).get(name)
        if info is None or "{{" in text:
            return text
        if info.kind == "many2many":
            return [part.strip() for part in text.split(",") if part.strip()]
        if info.kind == "bool":
            return text.strip().lower() in {"1", "true", "yes", "on"}
        if info.kind in {"int", "selection"} and text.strip().lstrip("-").isdigit():
            return int(text)
        if info.kind == "many2one" and not text.strip():
            return None
        return text


def _action_initial(action: ServerAction) -> dict:
    initial = {"name": action.name, "target": action.target, "kind": action.kind}
    for key, value in (action.params or {}).items():
        if key == "values":
            initial[key] = json.dumps(value)
        elif key == "fields":
            initial["webhook_fields"] = value
        elif key == "value" and isinstance(value, list):
            model = None
            info = None
            try:
                field = action.params.get("field", "")
                info = model_fields(action.target).get(field)
                if info and info.related:
                    from django.apps import apps

                    model = apps.get_model(info.related)
            except (LookupError, KeyError):
                model = None
            if model is not None and hasattr(model, "name"):
                names = model._default_manager.filter(pk__in=value).values_list("name", flat=True)
                initial[key] = ", ".join(names)
            else:
                initial[key] = ", ".join(str(v) for v in value)
        else:
            initial[key] = value
    return initial


@login_required
def server_action_list(request: HttpRequest) -> HttpResponse:
    qs = ServerAction.objects.filter(parent=None).annotate(uses=Count("activities"))
    target = request.GET.get("target", "")
    if target:
        qs = qs.filter(target=target)
    labels = dict(target_choices())
    actions = list(qs.order_by("name", "id")[:500])
    for a in actions:
        a.target_label = labels.get(a.target, a.target)
    return render(
        request,
        "web/config/server_actions.html",
        {"actions": actions, "targets": target_choices(), "target": target},
    )


def _save_action(action: ServerAction, form: ServerActionForm) -> ServerAction:
    fields = {
        "name": form.cleaned_data["name"],
        "kind": form.cleaned_data["kind"],
        "target": form.cleaned_data["target"],
        "params": form.params(),
    }
    if action.pk is None:
        return automation_services.create_server_action(parent=action.parent, **fields)
    return automation_services.update_server_action(action, **fields)


@login_required
def server_action_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    action = get_object_or_404(ServerAction, pk=pk) if pk else ServerAction()
    parent = None
    parent_id = request.GET.get("parent") or request.POST.get("parent")
    if action.pk is None and parent_id and parent_id.isdigit():
        parent = get_object_or_404(ServerAction, pk=int(parent_id), kind="multi")
        action.parent, action.target = parent, parent.target
    initial = (
        _action_initial(action)
        if action.pk
        else {
            "target": parent.target if parent else request.GET.get("target", "contacts.contact"),
            "kind": request.GET.get("kind", "update_record"),
            "due_amount": 2,
        }
    )
    target_key = request.POST.get("target") or initial.get("target") or "contacts.contact"
    if target_key not in dict(target_choices()):
        target_key = "contacts.contact"
    form = ServerActionForm(request.POST or None, initial=initial, target_key=target_key)
    if parent or action.parent_id or (action.pk and action.activities.exists()):
        form.fields["target"].disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            action = _save_action(action, form)
        except ValidationError as exc:
            apply_service_errors(form, _params_to_fields(exc, form))
        else:
            messages.success(request, f"Server action “{action.name}” saved.")
            if action.parent_id:
                return redirect("server_action_edit", pk=action.parent_id)
            return redirect("server_action_edit", pk=action.pk)
    context = {
        "form": form,
        "action": action if action.pk else None,
        "parent": parent or action.parent,
        "children": action.children.all() if action.pk else [],
        "uses": Activity.objects.filter(server_action=action).select_related("campaign")
        if action.pk
        else [],
        "kind_params": ServerActionForm.KIND_PARAMS,
    }
    return render(request, "web/config/server_action_form.html", context)


def _params_to_fields(exc: ValidationError, form: forms.Form) -> ValidationError:
    """A "params" error names its parameter first ("url: address not allowed: …"): it goes
    next to the form field of that name when there is one."""
    if not hasattr(exc, "error_dict") or "params" not in exc.error_dict:
        return exc
    errors = {k: v for k, v in exc.message_dict.items() if k != "params"}
    for message in exc.message_dict["params"]:
        name, _, rest = message.partition(": ")
        field = "webhook_fields" if name == "fields" else name
        if rest and field in form.fields:
            errors.setdefault(field, []).append(rest)
        else:
            errors.setdefault("params", []).append(message)
    return ValidationError(errors)


@require_POST
@login_required
def server_action_delete(request: HttpRequest, pk: int) -> HttpResponse:
    action = get_object_or_404(ServerAction, pk=pk)
    parent_id = action.parent_id
    try:
        automation_services.delete_server_action(action)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("server_action_edit", pk=action.pk)
    messages.success(request, f"Server action “{action.name}” deleted.")
    if parent_id:
        return redirect("server_action_edit", pk=parent_id)
    return redirect("server_action_list")
