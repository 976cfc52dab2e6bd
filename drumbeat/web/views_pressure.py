"""Contact pressure in the UI: a campaign's 7-day preview and Configuration → Contact pressure."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from drumbeat.automation.pressure_preview import preview
from drumbeat.automation.pressure_settings import pressure_overview, update_pressure_settings

from .access import admin_required, get_campaign_for_user
from .forms import apply_service_errors

FIELDS = {
    "email_cap": ("Email cap", "e.g. 1/day,3/7days, or none"),
    "sms_cap": ("SMS cap", "e.g. 2/7days, or none"),
    "email_window": ("Email send window", "e.g. Mon-Sat 08:00-20:00, or always"),
    "sms_window": ("SMS send window", "e.g. Mon-Fri 09:00-19:00, or always"),
}


class PressureSettingsForm(forms.Form):
    def __init__(self, *args, environment: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        for name, (label, example) in FIELDS.items():
            env = environment.get(name) or "not set"
            self.fields[name] = forms.CharField(
                max_length=200,
                required=False,
                label=label,
                help_text=f"{example}. Empty: the environment's ({env}).",
            )


@login_required
def campaign_pressure(request: HttpRequest, pk: int) -> HttpResponse:
    """The campaign page's 7-day preview (an htmx partial)."""
    campaign = get_campaign_for_user(request, pk)
    context = {"campaign": campaign, "preview": preview(campaign), **pressure_overview()}
    return render(request, "web/campaigns/_pressure.html", context)


@admin_required
def pressure_settings(request: HttpRequest) -> HttpResponse:
    overview = pressure_overview()
    form = PressureSettingsForm(
        request.POST or None, initial=overview["configured"], environment=overview["environment"]
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_pressure_settings(**form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Contact pressure settings saved.")
            return redirect("pressure_settings")
    return render(request, "web/admin/pressure.html", {"form": form, **overview})
