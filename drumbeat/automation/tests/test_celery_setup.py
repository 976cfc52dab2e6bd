"""The distributed runner's wiring that needs no broker: the embedded runner refuses to start
against a configured broker, the beat schedules the tick and the minute's filter sync, and a
wake-up becomes a task."""

from __future__ import annotations

import pytest

from drumbeat import cli


@pytest.mark.parametrize(
    "argv",
    [["worker"], ["serve", "--with-worker", "--bind", "127.0.0.1:1"]],
    ids=["worker", "serve-with-worker"],
)
def test_it_refuses_the_embedded_runner_when_a_broker_is_configured(argv, settings, capsys):
    settings.BROKER_URL = "redis://127.0.0.1:6379/0"
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "DRUMBEAT_BROKER_URL is set" in err
    assert "celery -A drumbeat worker" in err
    assert "celery -A drumbeat beat" in err


def test_it_finds_the_app_and_schedules_the_tick_and_the_sync(settings):
    from celery.app.utils import find_app

    from drumbeat.celery import app

    assert find_app("drumbeat") is app
    entry = app.conf.beat_schedule["drumbeat-tick"]
    assert entry["task"] == "drumbeat.tick"
    assert entry["schedule"] == float(settings.TICK_SECONDS)
    sync = app.conf.beat_schedule["drumbeat-sync"]
    assert sync["task"] == "drumbeat.sync"
    assert sync["schedule"] == sync["options"]["expires"] == 60.0
    app.loader.import_default_modules()  # what a worker does at start
    names = {"drumbeat.tick", "drumbeat.sync", "drumbeat.enrol_campaign", "drumbeat.execute_due"}
    assert names <= set(app.tasks.keys())


@pytest.mark.django_db
def test_it_turns_a_wake_up_into_a_dispatch_task_after_commit_with_a_broker(
    settings, django_capture_on_commit_callbacks
):
    from drumbeat.automation.engine import wakeup
    from drumbeat.automation.engine.wakeup import DISPATCH_DUE
    from drumbeat.celery import app

    sent = []
    original = app.send_task
    app.send_task = lambda name, args=None, **kw: sent.append((name, args))
    try:
        settings.BROKER_URL = ""
        wakeup.event.clear()
        wakeup.wake()
        assert sent == [] and wakeup.event.is_set()

        settings.BROKER_URL = "redis://127.0.0.1:6379/0"
        wakeup.event.clear()
        with django_capture_on_commit_callbacks(execute=True):
            wakeup.wake()
            assert sent == []  # not before the transaction commits
        assert sent == [(DISPATCH_DUE, [])] and not wakeup.event.is_set()
    finally:
        app.send_task = original
