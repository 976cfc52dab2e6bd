"""Turning ids from URLs and payloads into records, with the API's error statuses."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import Http404

M = TypeVar("M", bound=models.Model)


def get_or_404(queryset: models.QuerySet[M] | type[M], pk: int, what: str) -> M:
    """The record `pk`, or 404 "no <what> with id <pk>"."""
    if isinstance(queryset, type):
        queryset = queryset._default_manager.all()
    record = queryset.filter(pk=pk).first()
    if record is None:
        raise Http404(f"no {what} with id {pk}")
    return record


def resolve_ids(fields: dict[str, Any], relations: dict[str, type[models.Model]]) -> None:
    """Replace payload ids of to-one relations (`{"salesperson": 3}`) by records in place;
    an unknown id is a 422 naming the field. None stays None (clears the relation)."""
    errors = {}
    for name, model in relations.items():
        if name not in fields or fields[name] is None:
            continue
        record = model._default_manager.filter(pk=fields[name]).first()
        if record is None:
            errors[name] = f"no {model._meta.verbose_name} with id {fields[name]}"
        fields[name] = record
    if errors:
        raise ValidationError(errors)


def delete_record(record: models.Model) -> None:
    """Delete `record` (and what cascades) in a transaction of its own. Records still in use
    raise ProtectedError, which the API reports as 409."""
    with transaction.atomic():
        record.delete()
