"""The distributed runner with real services: two `celery -A drumbeat worker` processes on the
PostgreSQL test database and Redis, sending email to a real SMTP server in this process.

The campaign is started here; its wake-up becomes a `dispatch_due` task (the broker is
configured), and the workers share the batches, dispatch the delay-0 child at once and finish
every trace. Each participant must be received exactly once, even when the same task is
delivered twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from drumbeat.automation import services
from drumbeat.automation.models import Participant, Trace
from drumbeat.contacts.models import Contact
from drumbeat.mailing.models import Message

from .fixtures import add_action, add_email, free_port, make_campaign, make_contacts, make_user

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

IS_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS = os.environ.get("DRUMBEAT_TEST_REDIS", "redis://127.0.0.1:6379")
CLAIM_KEY = "drumbeat:test-claim"
FINAL = {"processed", "rejected", "cancelled", "error"}
WAIT_SECONDS = 240


class CountingSink:
    """An SMTP handler counting the recipients it accepted."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.received.update(envelope.rcpt_tos)
        return "250 Message accepted"

    def reset(self) -> None:
        with self.lock:
            self.received.clear()


def unavailable(reason: str):
    if IS_CI:
        pytest.fail(f"{reason} (required with CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def redis_url():
    """A Redis database of our own: the first empty one, claimed with a key."""
    import redis

    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS}/{number}")
        try:
            client.ping()
        except redis.RedisError as exc:
            unavailable(f"Redis unreachable at {REDIS}: {exc}")
        if client.dbsize() == 0 and client.set(CLAIM_KEY, os.getpid(), nx=True, ex=3600):
            if client.dbsize() == 1:
                break
            client.delete(CLAIM_KEY)
    else:
        unavailable("no free Redis database")
    try:
        yield f"{REDIS}/{number}"
    finally:
        client.flushdb()


@pytest.fixture(scope="module")
def sink():
    from aiosmtpd.controller import Controller

    handler = CountingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def database_url() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def workers(django_db_setup, redis_url, sink, tmp_path_factory):
    """Two worker processes (`-P solo`, one task at a time each) on the test database."""
    _, port = sink
    logs = tmp_path_factory.mktemp("celery")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DRUMBEAT_BROKER_URL": redis_url,
        "DRUMBEAT_EMAIL_URL": f"smtp://127.0.0.1:{port}?timeout=20",
        "DRUMBEAT_BASE_URL": "http://testserver",
        "DRUMBEAT_BATCH_SIZE": "500",
        "PYTHONUNBUFFERED": "1",
    }
    celery = str(Path(sys.executable).with_name("celery"))
    processes, paths = [], []
    for n in (1, 2):
        path = logs / f"worker{n}.log"
        command = [celery, "-A", "drumbeat", "worker", "--concurrency", "1", "-P", "solo"]
        command += ["-n", f"test{n}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
        command += ["--loglevel", "INFO"]
        with path.open("wb") as out:
            processes.append(
                subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
        paths.append(path)
    try:
        deadline = time.monotonic() + 90
        while not all("ready." in p.read_text(errors="replace") for p in paths):
            for process, path in zip(processes, paths, strict=True):
                if process.poll() is not None:
                    pytest.fail(f"worker exited:\n{path.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("workers not ready:\n" + paths[0].read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        yield paths
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def broker(settings, redis_url, sink, workers):
    """This process sends its wake-ups to the workers' broker and email to the same sink."""
    from drumbeat.celery import app

    handler, port = sink
    handler.reset()
    settings.BROKER_URL = redis_url
    settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=20"
    app.conf.broker_url = redis_url
    try:
        yield handler
    finally:
        app.close()
        app.conf.broker_url = "memory://"


def wait_until_final(expected_traces: int, workers) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        total = Trace.objects.count()
        open_ = Trace.objects.exclude(state__in=FINAL).count()
        if total == expected_traces and open_ == 0:
            return
        if time.monotonic() > deadline:
            log = workers[0].read_text(errors="replace")[-3000:]
            pytest.fail(f"{open_} of {total} traces still open (want {expected_traces}):\n{log}")
        time.sleep(0.5)


def test_it_runs_an_email_campaign_on_two_celery_workers_exactly_once(broker, workers):
    n = 5000
    bob = make_user("bob")
    make_contacts(n)
    campaign = make_campaign(bob)
    email = add_email(campaign)
    tag_them = add_action(campaign, parent=email, trigger="activity")

    services.start_campaign(campaign, bob)  # enrols here; the wake-up is a Celery task
    wait_until_final(2 * n, workers)

    expected = {f"person{i}@example.com" for i in range(n)}
    assert set(broker.received) == expected
    assert set(broker.received.values()) == {1}
    assert Trace.objects.filter(activity=email, state="processed").count() == n
    assert Trace.objects.filter(activity=tag_them, state="processed").count() == n
    assert Message.objects.filter(state="sent").count() == n
    assert set(Participant.objects.values_list("state", flat=True)) == {"completed"}
    assert Contact.objects.filter(tags__name="Hot").count() == n
    # Both workers took part (the first full batch asks for a helper).
    assert all("execute_due" in path.read_text(errors="replace") for path in workers)


def test_it_ignores_a_duplicate_delivery_of_the_same_task(broker, workers, settings):
    from drumbeat.automation import tasks
    from drumbeat.celery import app

    n = 2000
    bob = make_user("bob")
    make_contacts(n)
    campaign = make_campaign(bob)
    email = add_email(campaign)
    settings.BROKER_URL = ""  # enrol without dispatching: the test sends the tasks itself
    services.start_campaign(campaign, bob)
    assert Trace.objects.filter(activity=email, state="scheduled").count() == n

    # The same message twice (same task id), as a broker redelivery would do, to both workers.
    task_id = f"duplicate-{email.pk}"
    for _ in range(2):
        app.send_task(tasks.EXECUTE_DUE, args=[email.pk], task_id=task_id)
    wait_until_final(n, workers)

    assert sum(broker.received.values()) == n
    assert set(broker.received.values()) == {1}
    assert Message.objects.count() == n
    assert set(Trace.objects.values_list("state", flat=True)) == {"processed"}


def test_it_executes_on_the_beat_tick_and_enrols_on_the_sync(broker, workers, settings):
    from drumbeat.automation import tasks
    from drumbeat.celery import app

    bob = make_user("bob")
    make_contacts(300)
    campaign = make_campaign(bob)
    email = add_email(campaign)
    settings.BROKER_URL = ""  # no wake-up task: only the beat's tasks will find this work
    services.start_campaign(campaign, bob)
    late = Contact.objects.bulk_create(  # written behind the app's back: no enrolment hook
        [Contact(name=f"Late {i}", email=f"late{i}@example.com") for i in range(200)]
    )
    assert Trace.objects.count() == 300

    app.send_task(tasks.TICK)
    wait_until_final(300, workers)  # the tick executes what is due, and enrols nobody
    assert Participant.objects.count() == 300
    app.send_task(tasks.SYNC)
    wait_until_final(500, workers)

    assert set(broker.received.values()) == {1}
    assert sum(broker.received.values()) == 500
    assert {c.email for c in late} <= set(broker.received)
    assert set(Trace.objects.filter(activity=email).values_list("state", flat=True)) == {
        "processed"
    }
