"""Configuration → Contact pressure: read and change the caps and windows kept in the database.

A value set here wins over the environment's (`DRUMBEAT_EMAIL_CAP`, `DRUMBEAT_SMS_CAP`,
`DRUMBEAT_EMAIL_WINDOW`, `DRUMBEAT_SMS_WINDOW`); an empty one leaves the environment's in force.
`none` (caps) and `always` (windows) switch a limit off whatever the environment says.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from drumbeat.lib import clock
from drumbeat.lib.send_rules import parse_cap, parse_window

from .engine.pressure import SETTING_NAMES, configured_values, effective_values, environment_values
from .pressure_models import PressureSettings

PARSERS = {
    "email_cap": parse_cap,
    "sms_cap": parse_cap,
    "email_window": parse_window,
    "sms_window": parse_window,
}


def pressure_overview() -> dict[str, dict[str, str]]:
    """{"configured": …, "environment": …, "effective": …}, each setting name → text."""
    configured = configured_values()
    return {
        "configured": configured,
        "environment": environment_values(),
        "effective": effective_values(configured),
    }


@transaction.atomic
def update_pressure_settings(**values: Any) -> dict[str, str]:
    """Change the given settings (names of SETTING_NAMES; '' clears one). Returns the
    configured values; ValidationError naming every bad one."""
    unknown = set(values) - set(SETTING_NAMES)
    if unknown:
        raise ValidationError({name: "unknown setting" for name in sorted(unknown)})
    errors: dict[str, str] = {}
    cleaned: dict[str, str] = {}
    for name, value in values.items():
        text = str(value or "").strip()
        try:
            PARSERS[name](text)
        except ValueError as exc:
            errors[name] = str(exc)
        cleaned[name] = text
    if errors:
        raise ValidationError(errors)
    row = PressureSettings.objects.select_for_update().order_by("pk").first()
    row = row or PressureSettings()
    for name, text in cleaned.items():
        setattr(row, name, text)
    row.updated_at = clock.now()
    row.save()
    return configured_values()
