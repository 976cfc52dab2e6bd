import os
import signal
import subprocess
import sys

import pytest

from drumbeat import cli

from .fixtures import add_action, make_campaign, make_contacts, traces


@pytest.mark.django_db
@pytest.mark.postgres
def test_tick_runs_one_full_pass(clock, bob, capsys):
    make_contacts(3)
    campaign = make_campaign(bob)
    activity = add_action(campaign)
    campaign.state = "running"  # started behind the services' back: the pass enrols
    campaign.save()
    assert cli.main(["tick"]) == 0
    assert [t.state for t in traces(activity)] == ["processed"] * 3
    assert "tick: enrolled 3" in capsys.readouterr().out


def test_worker_stops_cleanly_on_sigterm(tmp_path):
    env = {**os.environ, "DRUMBEAT_HOME": str(tmp_path), "DRUMBEAT_TICK_SECONDS": "1"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "drumbeat.cli", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert "worker running" in first
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "worker stopped" in out


@pytest.mark.django_db(transaction=True)
def test_the_background_runner_thread_executes_due_work_and_stops():
    import time

    from django.db import OperationalError

    from drumbeat.automation.engine.runner import start_background_runner
    from drumbeat.automation.engine.wakeup import wake
    from drumbeat.automation.models import Trace

    from .fixtures import make_user

    bob = make_user("bob")
    make_contacts(2)
    campaign = make_campaign(bob)
    activity = add_action(campaign)
    campaign.state = "running"
    campaign.save()
    thread = start_background_runner()
    try:
        assert thread.daemon and thread.is_alive()
        assert start_background_runner() is thread  # once per process
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if Trace.objects.filter(activity=activity, state="processed").count() == 2:
                    break
            except OperationalError:  # SQLite's shared-cache test database: table locked
                pass  # by the runner's write this instant; it has no busy wait, ask again
            wake()
            time.sleep(0.2)
        assert [t.state for t in traces(activity)] == ["processed", "processed"]
    finally:
        thread.stop_event.set()
        wake()
        thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.mark.django_db(transaction=True)
def test_the_runner_executes_due_work_while_a_filter_sync_is_still_reading(monkeypatch):
    """On a big campaign the periodic filter sync reads for seconds: the executor runs beside
    it (here the sync is held until the end of the test)."""
    import threading
    import time

    from django.db import OperationalError

    from drumbeat.automation import services
    from drumbeat.automation.engine import runner, wakeup
    from drumbeat.automation.engine.enroll import EnrolResult
    from drumbeat.automation.models import Trace

    from .fixtures import make_user

    release = threading.Event()
    syncing = threading.Event()

    def slow_sync(*args, **kwargs):
        syncing.set()
        release.wait(60)
        return EnrolResult()

    monkeypatch.setattr(runner, "enroll_running_campaigns", slow_sync)
    bob = make_user("bob")
    make_contacts(2)
    campaign = make_campaign(bob)
    activity = add_action(campaign)
    services.start_campaign(campaign, bob)  # enrols at once: the traces are due now
    stop = threading.Event()
    loop = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True)
    loop.start()
    try:
        assert syncing.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if Trace.objects.filter(activity=activity, state="processed").count() == 2:
                    break
            except OperationalError:  # SQLite's shared-cache test database: table locked
                pass  # by the runner's write this instant; it has no busy wait, ask again
            time.sleep(0.1)
        assert not release.is_set()  # the sync is still "reading"
        assert [t.state for t in traces(activity)] == ["processed", "processed"]
    finally:
        release.set()
        stop.set()
        wakeup.wake()
        loop.join(timeout=30)
    assert not loop.is_alive()


def test_a_failed_filter_sync_is_tried_again_soon_not_after_a_whole_interval(monkeypatch):
    """A locked table or a database restarting fails one sync: the next try comes after a
    second, then two, not after the minute between syncs (the CI run where the first sync of
    a started campaign met a locked table and nobody was enrolled for a minute)."""
    import threading

    from django.db import OperationalError

    from drumbeat.automation.engine import runner
    from drumbeat.automation.engine.enroll import EnrolResult

    calls = []
    third = threading.Event()
    stop = threading.Event()

    def flaky_sync(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) < 3:
            raise OperationalError("database table is locked")
        third.set()
        stop.set()
        return EnrolResult()

    monkeypatch.setattr(runner, "check_goals", lambda *a, **k: 0)
    monkeypatch.setattr(runner, "enroll_running_campaigns", flaky_sync)
    thread = threading.Thread(target=runner.sync_forever, args=(stop, 600.0, 0.2), daemon=True)
    thread.start()
    try:
        assert third.wait(30), f"{len(calls)} sync(s) in 30 s with a 600 s interval"
    finally:
        stop.set()
        thread.join(timeout=30)
    assert len(calls) == 3 and not thread.is_alive()
