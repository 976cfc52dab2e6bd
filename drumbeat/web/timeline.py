"""Writes to a record's timeline from the UI: notes and scheduled activities (tasks)."""

from __future__ import annotations

import datetime as dt

from django.contrib.contenttypes.models import ContentType
from django.db import models

from drumbeat.timeline.models import Note, Task


def post_note(record: models.Model, body: str, author) -> Note:
    return Note.objects.create(
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        body=body.strip(),
        author=author,
    )


def schedule_task(
    record: models.Model,
    *,
    kind: str,
    summary: str,
    due_date: dt.date,
    assigned_to=None,
    note: str = "",
) -> Task:
    return Task.objects.create(
        content_type=ContentType.objects.get_for_model(record),
        object_id=record.pk,
        kind=kind,
        summary=summary.strip(),
        due_date=due_date,
        assigned_to=assigned_to,
        note=note,
    )


def complete_task(task: Task) -> None:
    if not task.done:
        task.mark_done()
