"""Configuration → Webhooks (administrators): outbound event webhooks (automation/outbound.py).

Endpoints are listed, created, edited (secret shown, rotated, test sent) and deleted; recent
deliveries show their state, last status or error and duration, with a Replay button.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from drumbeat.automation import outbound
from drumbeat.automation.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

from .access import admin_required

RECENT = 50


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Receives a signed POST for each event.",
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(max_length=200, required=False)
    active = forms.BooleanField(required=False, initial=True, help_text="Send deliveries")


def _save(request: HttpRequest, form: EndpointForm, endpoint: WebhookEndpoint | None):
    data = form.cleaned_data
    fields = {k: data[k] for k in ("url", "events", "description", "active")}
    try:
        if endpoint is None:
            return outbound.create_endpoint(created_by=request.user, **fields)
        return outbound.update_endpoint(endpoint, **fields)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return None


def _deliveries(endpoint: WebhookEndpoint | None = None, state: str = ""):
    rows = WebhookDelivery.objects.select_related("endpoint").order_by("-id")
    if endpoint is not None:
        rows = rows.filter(endpoint=endpoint)
    if state in WebhookDelivery.State.values:
        rows = rows.filter(state=state)
    return rows[:RECENT]


@admin_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    return render(
        request,
        "web/webhooks.html",
        {
            "endpoints": WebhookEndpoint.objects.order_by("id"),
            "deliveries": _deliveries(state=state),
            "state": state,
            "states": WebhookDelivery.State.choices,
            "event_labels": dict(WebhookEvent.choices),
        },
    )


@admin_required
def webhook_create(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint = _save(request, form, None)
        if endpoint is not None:
            messages.success(request, "Webhook created. Its signing secret is shown below.")
            return redirect("webhook_edit", pk=endpoint.pk)
    return render(request, "web/webhooks_form.html", {"form": form, "endpoint": None})


@admin_required
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    initial = {
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "active": endpoint.active,
    }
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid() and _save(request, form, endpoint):
        messages.success(request, "Webhook saved.")
        return redirect("webhook_edit", pk=endpoint.pk)
    return render(
        request,
        "web/webhooks_form.html",
        {"form": form, "endpoint": endpoint, "deliveries": _deliveries(endpoint)},
    )


@require_POST
@admin_required
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    endpoint.delete()
    messages.success(request, f"Webhook to {endpoint.url} deleted, with its deliveries.")
    return redirect("webhook_list")


@require_POST
@admin_required
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    outbound.rotate_secret(endpoint)
    messages.success(request, "New secret generated: update the receiver.")
    return redirect("webhook_edit", pk=endpoint.pk)


@require_POST
@admin_required
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    delivery = outbound.send_test(endpoint)
    if delivery.is_delivered:
        messages.success(request, f"Test delivered: HTTP {delivery.last_status}.")
    else:
        messages.error(request, f"Test failed: {delivery.last_error}.")
    return redirect("webhook_edit", pk=endpoint.pk)


@require_POST
@admin_required
def webhook_replay(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("endpoint"), pk=pk)
    outbound.replay(delivery)
    if delivery.is_delivered:
        messages.success(request, f"Delivery #{delivery.pk} replayed: HTTP {delivery.last_status}.")
    else:
        messages.error(
            request, f"Delivery #{delivery.pk} replayed and failed: {delivery.last_error}."
        )
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect("webhook_list")
