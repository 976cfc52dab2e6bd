"""Writes to a record's timeline: notes and scheduled activities (tasks).

One record at a time, for the UI and API. The engine's server actions post notes and create
tasks for whole batches with bulk inserts of their own (automation.engine).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models

from drumbeat.lib import clock

from .models import Note, Task


def post_note(record: models.Model, body: str, author: Any = None) -> Note:
    """Add a note to `record`'s timeline; an empty note is refused."""
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "A note needs some text."})
    return Note.objects.create(
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        body=body,
        author=author,
    )


def schedule_task(
    record: models.Model,
    *,
    kind: str,
    summary: str,
    due_date: dt.date,
    assigned_to: Any = None,
    note: str = "",
) -> Task:
    """Schedule an activity (to-do, call, email, meeting) on `record`."""
    summary = (summary or "").strip()
    errors = {}
    if kind not in Task.Kind.values:
        errors["kind"] = f"Unknown activity type '{kind}'."
    if not summary:
        errors["summary"] = "A summary is required."
    if errors:
        raise ValidationError(errors)
    return Task.objects.create(
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        kind=kind,
        summary=summary[:200],
        due_date=due_date,
        assigned_to=assigned_to,
        note=(note or "").strip(),
    )


def complete_task(task: Task) -> bool:
    """Mark `task` done; returns False when it already was (done_at is kept)."""
    now = clock.now()
    done = Task.objects.filter(pk=task.pk, done=False).update(done=True, done_at=now)
    if done:
        task.done, task.done_at = True, now
    return bool(done)
