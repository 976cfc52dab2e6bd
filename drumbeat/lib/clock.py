"""The one clock of the product: every module asks here (tests travel with time_machine)."""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
