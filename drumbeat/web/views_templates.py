"""The template pages: list, the email designer and HTML/SMS editor (placeholder picker, live
preview on a chosen record, checks, test email, SMS counter) and the designer's session-auth JSON
endpoints (compile a draft, preview it on a record, convert to HTML)."""

from __future__ import annotations

import dataclasses
import json
import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms.models import model_to_dict
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from drumbeat.automation.targets import (
    FILTERABLE,
    get_target,
    placeholders,
    target_choices,
)
from drumbeat.brand.kit import FONT_STACKS, NETWORK_LABELS, SOCIAL_NETWORKS, current_brand
from drumbeat.mailing import rendering, sms_text
from drumbeat.mailing import services as mailing_services
from drumbeat.mailing.design import DesignError, check_template, compile_design
from drumbeat.mailing.models import Template

from .forms import apply_service_errors

RENDER_FIELDS = FILTERABLE


# --- templates ---------------------------------------------------------------------------------


TEMPLATE_FORM_FIELDS = [f for f in mailing_services.TEMPLATE_FIELDS if f not in {"kind", "design"}]

# How the email body is edited: the block editor ("design"), HTML ("html"), or the one-way
# switch from a design to its compiled HTML ("convert", the designer's "Convert to HTML").
EDITOR_MODES = ("design", "html", "convert")


class TemplateForm(forms.Form):
    """The editor's fields; saving (and checking that the template renders) is the service's.
    A designed email carries its design JSON in the hidden `design` field."""

    design = forms.CharField(required=False, widget=forms.HiddenInput)
    editor_mode = forms.ChoiceField(
        choices=[(m, m) for m in EDITOR_MODES], required=False, widget=forms.HiddenInput
    )

    def __init__(
        self,
        *args,
        kind: str,
        template: Template | None = None,
        mode: str = "html",
        **kwargs,
    ):
        if template is not None:
            kwargs["initial"] = model_to_dict(template, fields=TEMPLATE_FORM_FIELDS)
            design = getattr(template, "design", None)
            kwargs["initial"]["design"] = json.dumps(design) if design is not None else ""
        kwargs.setdefault("initial", {})["editor_mode"] = mode
        super().__init__(*args, **kwargs)
        self.mode = mode
        if self.is_bound:  # a post without the designer's fields (a script, an old page) is HTML
            posted = self.data.get("editor_mode") or (
                "html" if self.data.get("body_html") and not self.data.get("design") else mode
            )
            self.mode = posted
        if self.mode not in EDITOR_MODES or kind == "sms":
            self.mode = "html"
        self.fields.update(
            forms.fields_for_model(
                Template,
                fields=TEMPLATE_FORM_FIELDS,
                labels={"body_html": "HTML body", "body_text": "Text", "email_from": "From"},
                widgets={
                    "body_html": forms.Textarea(
                        attrs={"class": "code", "rows": 18, "spellcheck": "false"}
                    ),
                    "body_text": forms.Textarea(attrs={"rows": 5}),
                },
            )
        )
        self.fields["target"] = forms.ChoiceField(choices=target_choices, label="Target")
        if template is not None and template.activities.exists():
            self.fields["target"].disabled = True
            self.fields["target"].help_text = "Used by campaign activities: the target is fixed."
        if kind == "sms":
            for name in ("subject", "preview_text", "email_from", "reply_to", "body_html"):
                del self.fields[name]
            del self.fields["design"]
            self.fields["body_text"].required = True
            self.fields[
                "body_text"
            ].help_text = (
                "Links are shortened and tracked when the short link is no longer than the URL."
            )
            self.fields[
                "sms_optout_footer"
            ].help_text = f"Adds “{sms_text.optout_footer()}” on a line of its own (counted below)."
        else:
            del self.fields["body_text"], self.fields["sms_optout_footer"]
            self.fields["subject"].required = True
            self.fields["email_from"].help_text = "Empty: the server's default sender."
            self.fields["preview_text"].help_text = "Shown after the subject in most inboxes."
            if self.mode == "html":
                self.fields["body_html"].required = True
            else:  # the body is compiled from the design on save
                self.fields["body_html"].widget = forms.HiddenInput()

    def clean_design(self):
        text = self.cleaned_data.get("design") or ""
        if self.mode == "html" or not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise ValidationError("The design is not valid JSON.")

    def clean(self):
        data = super().clean()
        if self.mode != "html" and data.get("design") is None and "design" not in self.errors:
            self.add_error("design", "The design is empty: add blocks, or write HTML instead.")
        return data

    def template_fields(self) -> dict:
        """The cleaned values as the template services take them (a designed template's
        `body_html` is compiled from its design by the service)."""
        data = {k: v for k, v in self.cleaned_data.items() if k not in {"editor_mode", "design"}}
        if "design" in self.fields:
            if self.mode == "html":
                data["design"] = None
            else:  # "convert" saves the design first, then drops it (views)
                data["design"] = self.cleaned_data.get("design")
                data.pop("body_html", None)
        return data


def design_place(path: str) -> str:
    """A design JSON path in words: `sections[1].columns[0].blocks[2].alt` → "Section 2,
    column 1, block 3: alt"."""
    match = re.match(r"sections\[(\d+)\](?:\.columns\[(\d+)\](?:\.blocks\[(\d+)\])?)?\.?(.*)", path)
    if not match:
        return path
    section, column, block, rest = match.groups()
    words = [f"Section {int(section) + 1}"]
    if column is not None:
        words.append(f"column {int(column) + 1}")
    if block is not None:
        words.append(f"block {int(block) + 1}")
    return ", ".join(words) + (f": {rest}" if rest else "")


def apply_template_errors(form: TemplateForm, exc: ValidationError) -> None:
    """The service's errors next to their fields; the design's (keyed `design.<path>`) in the
    list above the designer, each saying where in the design it is."""
    if hasattr(exc, "error_dict"):
        other = {}
        for key, messages_ in exc.message_dict.items():
            if key == "design" or key.startswith("design."):
                place = design_place(key[len("design.") :]) if "." in key else ""
                for message in messages_:
                    form.add_error("design", f"{place}: {message}" if place else message)
            else:
                other[key] = messages_
        if other:
            apply_service_errors(form, ValidationError(other))
    else:
        apply_service_errors(form, exc)


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    qs = Template.objects.annotate(uses=Count("activities")).order_by("name", "id")
    campaign_id = request.GET.get("campaign", "")
    if campaign_id.isdigit():
        qs = qs.filter(activities__campaign_id=int(campaign_id)).distinct()
    kind = request.GET.get("kind", "")
    if kind in Template.Kind.values:
        qs = qs.filter(kind=kind)
    text = request.GET.get("q", "").strip()
    if text:
        qs = qs.filter(name__icontains=text)
    labels = dict(target_choices())
    templates = list(qs[:500])
    for t in templates:
        t.target_label = labels.get(t.target, t.target)
    return render(
        request,
        "web/config/templates.html",
        {"templates": templates, "kind": kind, "q": text, "campaign_id": campaign_id},
    )


def _preview_records(target_key: str) -> list[tuple[int, str]]:
    target = get_target(target_key)
    records = target.base_queryset(include_archived=False).order_by("-pk")[:30]
    return [(r.pk, target.display_name(r)) for r in records]


def _designer_data(target_key: str) -> dict:
    """What the block editor needs besides the design (json_script on the page)."""
    brand = current_brand()
    return {
        "target": target_key,
        "placeholders": placeholders(target_key),
        "brand": dataclasses.asdict(brand),
        "fonts": FONT_STACKS,
        "font_labels": {k: v.split(",")[0].strip("'") for k, v in FONT_STACKS.items()},
        "networks": list(SOCIAL_NETWORKS),
        "network_labels": NETWORK_LABELS,
        "footer_required": True,
        "urls": {
            "compile": reverse("template_design_compile"),
            "placeholders": reverse("template_placeholders"),
            "media": _optional_url("media_library_json"),
            "upload": _optional_url("media_library_json"),
        },
        # media-library images as the app's CSP allows them (same origin) in the canvas
        "media_public_url": settings.MEDIA_PUBLIC_URL,
        "media_local_url": reverse("media_file", args=["x"])[:-1],
    }


def _optional_url(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def _template_page(request, form, template, kind, status=200):
    target_key = form["target"].value() or "contacts.contact"
    if target_key not in dict(target_choices()):
        target_key = "contacts.contact"
    context = {
        "form": form,
        "template": template,
        "kind": kind,
        "placeholders": placeholders(target_key),
        "records": _preview_records(target_key),
        "target_key": target_key,
        "uses": template.activities.select_related("campaign") if template else [],
    }
    if kind == "email" and form.mode != "html":
        context["designer"] = _designer_data(target_key)
        page = "web/config/template_designer.html"
    else:
        page = "web/config/template_form.html"
    return render(request, page, context, status=status)


@login_required
def template_create(request: HttpRequest, kind: str) -> HttpResponse:
    """A new template: emails open in the block editor unless `?mode=html` asks for HTML."""
    if kind not in Template.Kind.values:
        raise Http404("Unknown template kind.")
    mode = "html" if request.GET.get("mode") == "html" else "design"
    initial = {"target": request.GET.get("target", "contacts.contact")}
    if mode == "design":
        initial["design"] = json.dumps(EMPTY_DESIGN)
    form = TemplateForm(request.POST or None, initial=initial, kind=kind, mode=mode)
    if request.method == "POST" and form.is_valid():
        try:
            template = mailing_services.create_template(
                RENDER_FIELDS, kind=kind, **form.template_fields()
            )
        except ValidationError as exc:
            apply_template_errors(form, exc)
        else:
            messages.success(request, f"Template “{template.name}” created.")
            return redirect("template_edit", pk=template.pk)
    return _template_page(request, form, None, kind)


EMPTY_DESIGN = {"version": 1, "settings": {}, "sections": []}


@login_required
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(Template, pk=pk)
    mode = "design" if getattr(template, "design", None) is not None else "html"
    form = TemplateForm(request.POST or None, template=template, kind=template.kind, mode=mode)
    if mode == "html":
        form.mode = "html"  # a template written in HTML does not go back to the designer
    if request.method == "POST" and form.is_valid():
        try:
            mailing_services.update_template(template, RENDER_FIELDS, **form.template_fields())
            if form.mode == "convert":
                mailing_services.convert_to_html(template)
        except ValidationError as exc:
            apply_template_errors(form, exc)
        else:
            if form.mode == "convert":
                messages.success(request, f"Template “{template.name}” converted to HTML.")
            else:
                messages.success(request, f"Template “{template.name}” saved.")
            return redirect("template_edit", pk=template.pk)
    return _template_page(request, form, template, template.kind)


@login_required
def template_placeholders(request: HttpRequest) -> JsonResponse:
    """The placeholder picker's fields and the preview's records for `?target=` (designer)."""
    target_key = request.GET.get("target", "")
    if target_key not in dict(target_choices()):
        return JsonResponse({"error": f"Unknown target '{target_key}'."}, status=400)
    return JsonResponse(
        {
            "placeholders": [
                {"label": lab, "code": code} for lab, code in placeholders(target_key)
            ],
            "records": [{"id": pk, "name": name} for pk, name in _preview_records(target_key)],
        }
    )


@require_POST
@login_required
def template_design_compile(request: HttpRequest) -> JsonResponse:
    """The designer's draft compiled and rendered on a chosen record, with the pre-send checks:
    POST JSON `{design, subject, preview_text, target, record}` → `{html, subject, checks,
    record_name, error}`. Nothing is saved. Invalid designs answer 422 with their problems as
    checks (each naming its JSON path)."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The request body is not JSON."}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"error": "The request body must be a JSON object."}, status=400)
    target_key = str(body.get("target") or "contacts.contact")
    try:
        target = get_target(target_key)
    except KeyError:
        return JsonResponse({"error": f"Unknown target '{target_key}'."}, status=400)
    template = Template(
        kind=Template.Kind.EMAIL,
        target=target.key,
        subject=str(body.get("subject") or ""),
        preview_text=str(body.get("preview_text") or ""),
    )
    try:
        compiled = compile_design(body.get("design"), current_brand(), title=template.subject)
    except DesignError as exc:
        checks = [
            {
                "code": "design_invalid",
                "severity": "error",
                "message": getattr(p, "message", str(p)),
                "path": getattr(p, "path", ""),
            }
            for p in exc.problems
        ]
        return JsonResponse(
            {"html": "", "subject": "", "checks": checks, "error": "The design has errors."},
            status=422,
        )
    template.design = body.get("design")
    template.body_html = compiled.html
    checks = [
        {"code": c.code, "severity": c.severity, "message": c.message, "path": c.path}
        for c in check_template(template, RENDER_FIELDS)
    ]
    record = None
    record_id = str(body.get("record") or "")
    if record_id.isdigit():
        record = target.model._default_manager.filter(pk=int(record_id)).first()
    if record is None:
        record = target.base_queryset().order_by("-pk").first()
    result = {"html": compiled.html, "subject": template.subject, "checks": checks, "error": ""}
    if record is None:
        result["error"] = f"There is no {target.label.lower()} to preview on yet."
        return JsonResponse(result)
    if not template.subject.strip():  # the checks say so; the body is still worth seeing
        template.subject = "(no subject)"
    preview = rendering.preview(template, record, RENDER_FIELDS)
    result["record_name"] = target.display_name(record)
    if preview.problems:
        result["error"] = "; ".join(f"{p.reason}" for p in preview.problems)
    elif preview.error:
        result["error"] = f"For {result['record_name']}: {preview.error}"
    else:
        local = reverse("media_file", args=["x"])[:-1]  # library images as the CSP allows
        html = preview.html.replace(settings.MEDIA_PUBLIC_URL, local)
        result.update(html=html, subject=preview.subject)
    return JsonResponse(result)


@login_required
def template_preview(request: HttpRequest) -> HttpResponse:
    """Live preview of the editor's current content on a chosen record (htmx partial)."""
    data = request.POST if request.method == "POST" else request.GET
    kind = data.get("kind", "email")
    target_key = data.get("target") or data.get("target_key") or "contacts.contact"
    try:
        target = get_target(target_key)
    except KeyError:
        raise Http404("Unknown target.")
    template = Template(
        kind=kind if kind in Template.Kind.values else "email",
        target=target.key,
        subject=data.get("subject", ""),
        preview_text=data.get("preview_text", ""),
        body_html=data.get("body_html", ""),
        body_text=data.get("body_text", ""),
        sms_optout_footer=data.get("sms_optout_footer", "") in {"on", "true", "1"},
    )
    record_id = data.get("record", "")
    record = None
    if record_id.isdigit():
        record = target.model._default_manager.filter(pk=int(record_id)).first()
    if record is None:
        record = target.base_queryset().order_by("-pk").first()
    context = {"kind": template.kind, "record": record, "target": target}
    if template.kind == "sms":  # as sent, placeholders as written (the count under the text)
        context["template_count"] = sms_text.count(rendering.sms_as_sent(template))
    if record is None:
        context["error"] = f"There is no {target.label.lower()} to preview on yet."
    else:
        result = rendering.preview(template, record, RENDER_FIELDS)
        context.update({"preview": result, "record_name": target.display_name(record)})
        if template.kind == "sms":
            context["count"] = sms_text.count(result.text)
    if template.kind == "email" and template.body_html.strip():
        checks = check_template(template, RENDER_FIELDS)  # as Start will judge it
        context["checks"] = checks
        context["checks_error"] = any(c.severity == "error" for c in checks)
    return render(request, "web/config/_template_preview.html", context)


@require_POST
@login_required
def template_send_test(request: HttpRequest, pk: int) -> HttpResponse:
    from drumbeat.mailing.sending import send_test_email

    template = get_object_or_404(Template, pk=pk, kind=Template.Kind.EMAIL)
    target = get_target(template.target)
    record_id = request.POST.get("record", "")
    record = None
    if record_id.isdigit():
        record = target.model._default_manager.filter(pk=int(record_id)).first()
    address = request.POST.get("to", "").strip() or request.user.email
    if record is None:
        messages.error(request, f"Choose a {target.label.lower()} to render the email for.")
    elif not address:
        messages.error(request, "Give an address to send the test to.")
    else:
        result = send_test_email(template, record, address, RENDER_FIELDS)
        if result.status == "sent":
            messages.success(request, f"Test email sent to {address}.")
        else:
            messages.error(
                request, f"The test email was not sent: {result.reason or result.status}."
            )
    return redirect("template_edit", pk=template.pk)


@require_POST
@login_required
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(Template, pk=pk)
    try:
        mailing_services.delete_template(template)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("template_edit", pk=template.pk)
    messages.success(request, f"Template “{template.name}” deleted.")
    return redirect("template_list")
