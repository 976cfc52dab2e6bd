import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from drumbeat.accounts.models import User
from drumbeat.contacts.services import create_contact
from drumbeat.timeline.models import Note, Task
from drumbeat.timeline.services import complete_task, post_note, schedule_task


@pytest.fixture
def ann(db):
    return create_contact(name="Ann", email="ann@example.org")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", "bob@example.org", "x")


def test_it_posts_a_note_on_the_record(ann, bob):
    note = post_note(ann, "  Called, wants the catalog  ", bob)
    assert (note.record, note.body, note.author) == (ann, "Called, wants the catalog", bob)
    assert Note.objects.count() == 1


def test_it_refuses_an_empty_note(ann):
    with pytest.raises(ValidationError) as exc:
        post_note(ann, "   ")
    assert "body" in exc.value.message_dict
    assert not Note.objects.exists()


def test_it_schedules_a_task(ann, bob):
    task = schedule_task(
        ann, kind="call", summary=" Call back ", due_date=dt.date(2026, 3, 2), assigned_to=bob
    )
    task.refresh_from_db()
    assert (task.record, task.kind, task.summary, task.assigned_to) == (
        ann,
        "call",
        "Call back",
        bob,
    )
    assert not task.done


def test_it_refuses_a_task_without_summary_or_with_an_unknown_type(ann):
    with pytest.raises(ValidationError) as exc:
        schedule_task(ann, kind="party", summary="", due_date=dt.date(2026, 3, 2))
    assert set(exc.value.message_dict) == {"kind", "summary"}
    assert not Task.objects.exists()


def test_it_completes_a_task_once(ann):
    task = schedule_task(ann, kind="todo", summary="Send the quote", due_date=dt.date(2026, 3, 2))
    assert complete_task(task) is True
    first = Task.objects.get().done_at
    assert first is not None and task.done
    assert complete_task(Task.objects.get()) is False
    assert Task.objects.get().done_at == first
