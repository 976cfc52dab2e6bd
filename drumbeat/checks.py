"""System checks that fail loudly on a bad configuration (run by every management command)."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_environment(app_configs, **kwargs) -> list[Error]:
    errors = [Error(message, id="drumbeat.E001") for message in settings.INVALID_SETTINGS]
    if not settings.BASE_URL.startswith(("http://", "https://")):
        errors.append(
            Error(
                f"DRUMBEAT_BASE_URL must start with http:// or https://, got {settings.BASE_URL!r}",
                id="drumbeat.E002",
            )
        )
    if settings.TICK_SECONDS < 1:
        errors.append(Error("DRUMBEAT_TICK_SECONDS must be at least 1", id="drumbeat.E003"))
    if settings.BATCH_SIZE < 1:
        errors.append(Error("DRUMBEAT_BATCH_SIZE must be at least 1", id="drumbeat.E004"))
    if settings.LEASE_SECONDS < 5:
        errors.append(Error("DRUMBEAT_LEASE_SECONDS must be at least 5", id="drumbeat.E020"))
    dkim = [settings.DKIM_DOMAIN, settings.DKIM_SELECTOR, settings.DKIM_KEY_FILE]
    if any(dkim) and not all(dkim):
        errors.append(
            Error(
                "DKIM needs all of DRUMBEAT_DKIM_DOMAIN, DRUMBEAT_DKIM_SELECTOR and "
                "DRUMBEAT_DKIM_KEY_FILE",
                id="drumbeat.E005",
            )
        )
    if settings.BROKER_URL and not settings.BROKER_URL.startswith(
        ("redis://", "amqp://", "rediss://", "amqps://")
    ):
        errors.append(
            Error("DRUMBEAT_BROKER_URL must be a redis:// or amqp:// URL", id="drumbeat.E006")
        )
    errors += _pressure_errors()
    errors += _webhook_allow_errors()
    return errors


def _webhook_allow_errors() -> list[Error]:
    from drumbeat.lib.netguard import parse_allow

    try:
        parse_allow(settings.WEBHOOK_ALLOW)
    except ValueError as exc:
        message = f"DRUMBEAT_WEBHOOK_ALLOW: {exc} (expected e.g. hooks.internal,10.0.5.0/24)"
        return [Error(message, id="drumbeat.E009")]
    return []


def _pressure_errors() -> list[Error]:
    from drumbeat.lib.send_rules import parse_cap, parse_window
    from drumbeat.lib.timezones import available_zones

    errors = []
    checks = [
        ("DRUMBEAT_EMAIL_WINDOW", settings.PRESSURE_EMAIL_WINDOW, parse_window),
        ("DRUMBEAT_SMS_WINDOW", settings.PRESSURE_SMS_WINDOW, parse_window),
        ("DRUMBEAT_EMAIL_CAP", settings.PRESSURE_EMAIL_CAP, parse_cap),
        ("DRUMBEAT_SMS_CAP", settings.PRESSURE_SMS_CAP, parse_cap),
    ]
    for name, value, parse in checks:
        try:
            parse(value)
        except ValueError as exc:
            errors.append(Error(f"{name}: {exc}", id="drumbeat.E007"))
    if settings.TIME_ZONE not in available_zones():
        errors.append(
            Error(
                f"DRUMBEAT_TIME_ZONE must be an IANA time zone, got {settings.TIME_ZONE!r}",
                id="drumbeat.E008",
            )
        )
    return errors
