"""Record pages: list (search, archived filter, ?domain= filter, pagination), detail (with
timeline, campaigns and messages), create, edit, archive/restore, delete, unblacklist."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from drumbeat.automation.domains import DomainError, filter_records, parse_domain
from drumbeat.automation.targets import get_target
from drumbeat.mailing import audience
from drumbeat.mailing.models import EmailBlacklist, Message, Subscription
from drumbeat.timeline import services as timeline_services
from drumbeat.timeline.models import Note, Task

from . import statistics
from .access import get_kind_for_user, get_record_for_user
from .forms import NoteForm, ReasonForm, TaskForm, apply_service_errors
from .records import RecordKind

PAGE_SIZE = 25


def _filtered(request: HttpRequest, kind: RecordKind) -> tuple:
    """(queryset, state) for a list page from its query string."""
    qs = kind.queryset()
    text = request.GET.get("q", "").strip()
    archived = request.GET.get("archived") == "1"
    raw_domain = request.GET.get("domain", "").strip()
    domain_error = None
    domain = []
    if kind.target_key and raw_domain:
        try:
            domain = parse_domain(raw_domain)
            matching = filter_records(get_target(kind.target_key), domain, include_archived=True)
            qs = qs.filter(pk__in=matching.values("pk"))
        except DomainError as exc:
            domain_error = str(exc)
    if kind.active_field:
        qs = qs.filter(**{kind.active_field: not archived})
    if text:
        qs = kind.search(qs, text)
    if kind.slug in {"email-blacklist", "phone-blacklist"}:
        show = request.GET.get("show", "active")
        if show != "all":
            qs = qs.filter(active=show == "active")
    state = {
        "q": text,
        "archived": archived,
        "domain": raw_domain,
        "domain_value": json.dumps(domain) if domain else (raw_domain or "[]"),
        "domain_error": domain_error,
        "show": request.GET.get("show", "active"),
    }
    return qs, state


@login_required
def record_list(request: HttpRequest, kind: str) -> HttpResponse:
    kind_ = get_kind_for_user(request, kind)
    qs, state = _filtered(request, kind_)
    paginator = Paginator(qs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    context = {"kind": kind_, "page": page, "paginator": paginator, **state}
    if request.htmx and request.htmx.target == "results":
        return render(request, "web/records/_results.html", context)
    return render(request, "web/records/list.html", context)


@login_required
def record_options(request: HttpRequest, kind: str) -> HttpResponse:
    """<option>s (id and name) of records matching what the user typed, for pickers."""
    kind_ = get_kind_for_user(request, kind)
    text = next((v for k, v in request.GET.items() if v.strip()), "").strip()
    qs = kind_.queryset()
    if kind_.active_field:
        qs = qs.filter(**{kind_.active_field: True})
    if text.isdigit():
        qs = qs.filter(pk=int(text))
    elif text:
        qs = kind_.search(qs, text)
    else:
        qs = qs.none()
    return render(request, "web/records/_options.html", {"records": qs[:20]})


def _record_extras(kind: RecordKind, record) -> dict:
    """What a detail page shows besides the record's own fields."""
    extras: dict = {"today": timezone.localdate()}
    if kind.has_timeline:
        ct = ContentType.objects.get_for_model(kind.model)
        extras["notes"] = Note.objects.filter(content_type=ct, object_id=record.pk).select_related(
            "author"
        )[:50]
        extras["tasks"] = Task.objects.filter(content_type=ct, object_id=record.pk).select_related(
            "assigned_to"
        )
        extras["note_form"] = NoteForm()
        extras["task_form"] = TaskForm()
    if kind.target_key:
        extras["messages_received"] = (
            Message.objects.filter(record_model=kind.target_key, record_id=record.pk)
            .prefetch_related("inbound_events")
            .order_by("-created_at")[:20]
        )
        extras["campaigns"] = statistics.campaigns_of(kind.target_key, record.pk)
    if kind.slug == "events":
        extras["registrations"] = record.registrations.select_related("contact")[:200]
    if kind.slug == "mailing-contacts":
        extras["subscriptions"] = record.subscriptions.select_related("list")
        extras["email_blacklisted"] = EmailBlacklist.objects.filter(
            email=record.email, active=True
        ).exists()
    if kind.slug == "mailing-lists":
        extras.update(statistics.list_statistics(record))
        extras["recipient_rows"] = (
            Subscription.objects.filter(list=record).select_related("contact").order_by("-id")[:20]
        )
    if kind.slug in {"contacts", "leads"}:
        extras["blacklisted"] = (
            bool(record.email)
            and EmailBlacklist.objects.filter(email=record.email, active=True).exists()
        )
    return extras


@login_required
def record_detail(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    kind_, record = get_record_for_user(request, kind, pk)
    context = {"kind": kind_, "record": record, **_record_extras(kind_, record)}
    context["default_time_zone"] = settings.TIME_ZONE
    if kind_.slug in {"email-blacklist", "phone-blacklist"}:
        context["reason_form"] = ReasonForm()
    return render(request, "web/records/detail.html", context)


def _form_for(kind: RecordKind, data=None, initial=None, record=None):
    form = kind.form_class(data=data, initial=initial)
    if kind.slug == "mailing-contacts" and record is not None:
        field = form.fields["lists"]
        field.queryset = field.queryset.exclude(subscriptions__contact=record)
        field.label = "Also subscribe to"
        form.initial["lists"] = []
    return form


@login_required
def record_create(request: HttpRequest, kind: str) -> HttpResponse:
    kind_ = get_kind_for_user(request, kind)
    initial = {k: v for k, v in request.GET.items() if k in kind_.form_class.base_fields}
    form = _form_for(kind_, request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            record = kind_.create(form.cleaned_data, request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"{kind_.label} “{record}” created.")
            return redirect("record_detail", kind=kind_.slug, pk=record.pk)
    return render(request, "web/records/form.html", {"kind": kind_, "form": form})


@login_required
def record_edit(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    kind_, record = get_record_for_user(request, kind, pk)
    if kind_.update is None:
        return redirect("record_detail", kind=kind_.slug, pk=record.pk)
    form = _form_for(kind_, request.POST or None, initial=kind_.initial(record), record=record)
    if request.method == "POST" and form.is_valid():
        try:
            kind_.update(record, form.cleaned_data, request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"{kind_.label} saved.")
            return redirect("record_detail", kind=kind_.slug, pk=record.pk)
    return render(request, "web/records/form.html", {"kind": kind_, "form": form, "record": record})


def _archive_or_restore(request: HttpRequest, kind: str, pk: int, verb: str) -> HttpResponse:
    kind_, record = get_record_for_user(request, kind, pk)
    change = kind_.archive if verb == "archived" else kind_.restore
    if change is None:
        messages.error(request, f"{kind_.label_plural} cannot be {verb}.")
    else:
        change([record.pk])
        messages.success(request, f"{kind_.label} “{record}” {verb}.")
    return redirect("record_detail", kind=kind_.slug, pk=record.pk)


@require_POST
@login_required
def record_archive(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    return _archive_or_restore(request, kind, pk, "archived")


@require_POST
@login_required
def record_restore(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    return _archive_or_restore(request, kind, pk, "restored")


@require_POST
@login_required
def record_delete(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    kind_, record = get_record_for_user(request, kind, pk)
    if kind_.delete is None:
        messages.error(request, f"{kind_.label_plural} cannot be deleted, archive them instead.")
        return redirect("record_detail", kind=kind_.slug, pk=record.pk)
    kind_.delete([record.pk])
    messages.success(request, f"{kind_.label} “{record}” deleted.")
    return redirect("record_list", kind=kind_.slug)


@require_POST
@login_required
def blacklist_lift(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Unblacklist an address or number; a reason is required (docs/product.md#blacklists)."""
    kind_, record = get_record_for_user(request, kind, pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            if kind_.slug == "email-blacklist":
                audience.unblacklist_email(record.email, reason, by=request.user)
            elif kind_.slug == "phone-blacklist":
                audience.unblacklist_phone(record.number, reason, by=request.user)
            else:
                return HttpResponse(status=404)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"{record} is no longer blacklisted.")
            return redirect("record_detail", kind=kind_.slug, pk=record.pk)
    context = {"kind": kind_, "record": record, "reason_form": form, "open_unblacklist": True}
    context.update(_record_extras(kind_, record))
    return render(request, "web/records/detail.html", context, status=400)


@require_POST
@login_required
def blacklist_again(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    kind_, record = get_record_for_user(request, kind, pk)
    if kind_.slug == "email-blacklist":
        audience.blacklist_email(record.email, record.reason, by=request.user)
    else:
        audience.blacklist_phone(record.number, record.reason, by=request.user)
    messages.success(request, f"{record} is blacklisted again.")
    return redirect("record_detail", kind=kind_.slug, pk=record.pk)


# --- timeline ----------------------------------------------------------------------------------


def _timeline_response(request, kind_, record, status=200, **forms_) -> HttpResponse:
    context = {"kind": kind_, "record": record, **_record_extras(kind_, record), **forms_}
    if request.htmx:
        return render(request, "web/records/_timeline.html", context, status=status)
    if status == 200:
        return redirect("record_detail", kind=kind_.slug, pk=record.pk)
    return render(request, "web/records/detail.html", context, status=status)


def _timeline_write(request, kind: str, pk: int, form_name: str, write, done: str):
    """Validate the posted note or task form, write it with `write(record, data)`, and answer
    with the timeline (400 with the form's errors)."""
    kind_, record = get_record_for_user(request, kind, pk)
    form = {"note_form": NoteForm, "task_form": TaskForm}[form_name](request.POST)
    if form.is_valid():
        try:
            write(record, form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
    if form.errors:
        return _timeline_response(request, kind_, record, 400, **{form_name: form})
    if not request.htmx:
        messages.success(request, done)
    return _timeline_response(request, kind_, record)


@require_POST
@login_required
def note_add(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    def write(record, data: dict) -> None:
        timeline_services.post_note(record, data["body"], request.user)

    return _timeline_write(request, kind, pk, "note_form", write, "Note added.")


@require_POST
@login_required
def task_add(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    def write(record, data: dict) -> None:
        timeline_services.schedule_task(record, **data)

    return _timeline_write(request, kind, pk, "task_form", write, "Activity scheduled.")


@require_POST
@login_required
def task_done(request: HttpRequest, kind: str, pk: int, task_id: int) -> HttpResponse:
    kind_, record = get_record_for_user(request, kind, pk)
    ct = ContentType.objects.get_for_model(kind_.model)
    task = get_object_or_404(Task, pk=task_id, content_type=ct, object_id=record.pk)
    timeline_services.complete_task(task)
    return _timeline_response(request, kind_, record)


@require_POST
@login_required
def registration_state(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, mark attended or cancel a registration."""
    from drumbeat.events.services import set_registrations_state

    kind_, record = get_record_for_user(request, "registrations", pk)
    try:
        set_registrations_state([record.pk], request.POST.get("state", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        record.refresh_from_db()
        messages.success(request, f"{record.name}: {record.get_state_display()}.")
    return redirect("record_detail", kind=kind_.slug, pk=record.pk)
