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
    return errors
