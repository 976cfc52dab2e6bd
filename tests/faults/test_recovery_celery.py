"""A dead or frozen Celery worker's batch resumes within a minute, and nobody gets it twice.

Two `celery -A drumbeat worker` processes and `celery beat` run on the PostgreSQL test database
and Redis, each worker sending to an SMTP port of its own (both recorded by one sink in this
process; a slow one: each message takes a while, so a batch lasts seconds).

- One worker is SIGKILLed in the middle of a batch: every message of that batch it had not
  started (read from its send journal at the kill) must be received from the other worker within
  60 s of the kill, once; the one in flight may end as Error "interrupted", never sent again.
- One worker is frozen with SIGSTOP in the middle of a batch, past its lease: the other finishes
  the batch; then the frozen one is resumed with SIGCONT and must neither send nor write anything
  more for it (the database is the same before and after it resumed; what it had in flight may
  complete), so every recipient receives exactly one message.

The workers' lease is DRUMBEAT_TEST_LEASE_SECONDS (10 unless set) so that CI waits seconds,
not minutes; the default lease (60 s) is checked in drumbeat/automation/tests/test_leases.py and
the recovery time with it is measured by `make bench`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from drumbeat.automation import services
from drumbeat.automation.models import Trace
from drumbeat.automation.tests.fixtures import add_email, make_campaign, make_contacts, make_user
from drumbeat.automation.tests.test_celery import database_url, redis_url  # noqa: F401
from drumbeat.mailing import journal
from drumbeat.mailing.models import Message

from .servers import free_port

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

N = 300  # recipients
BATCH = 100
SINK_DELAY = 0.03  # seconds per message at the server: a batch lasts a few seconds
LEASE = int(os.environ.get("DRUMBEAT_TEST_LEASE_SECONDS", "10"))
RECOVERY_LIMIT = 60.0  # seconds from the kill (or freeze) to the last message of the batch
FINAL = {"processed", "rejected", "cancelled", "error"}
CELERY = str(Path(sys.executable).with_name("celery"))


class Sink:
    """Accepts every message on several ports; records (port name, Message-ID, monotonic time)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, float]] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.received.clear()

    def handler(self, name: str):
        sink = self

        class Port:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                await asyncio.sleep(SINK_DELAY)
                message_id = ""
                for line in envelope.original_content.split(b"\r\n"):
                    if not line:
                        break
                    if line.lower().startswith(b"message-id:"):
                        message_id = line.split(b":", 1)[1].strip().decode()
                with sink.lock:
                    sink.received.append((name, message_id, time.monotonic()))
                return "250 Message accepted"

        return Port()

    def count(self, name: str | None = None) -> int:
        with self.lock:
            return sum(1 for port, _, _ in self.received if name in (None, port))

    def times(self) -> dict[str, list[tuple[str, float]]]:
        """Message-ID → [(port, time)] of every copy received."""
        found: dict[str, list[tuple[str, float]]] = {}
        with self.lock:
            for port, message_id, at in self.received:
                found.setdefault(message_id, []).append((port, at))
        return found


class Cluster:
    """Two workers ("a", "b", each with its own SMTP port) and beat, on the test database."""

    def __init__(self, home: Path, redis: str, ports: dict[str, int]) -> None:
        self.home = home
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DRUMBEAT_", "DATABASE_URL"))
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="drumbeat.settings",
            DATABASE_URL=database_url(),
            DRUMBEAT_HOME=str(home),  # one machine: the workers share the send journal
            DRUMBEAT_BROKER_URL=redis,
            DRUMBEAT_BASE_URL="http://drumbeat.test",
            DRUMBEAT_SECRET_KEY="recovery-test",
            DRUMBEAT_FROM_EMAIL="Drumbeat <news@example.org>",
            DRUMBEAT_BATCH_SIZE=str(BATCH),
            DRUMBEAT_TICK_SECONDS="1",
            DRUMBEAT_LEASE_SECONDS=str(LEASE),
            DRUMBEAT_LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        self.ports = ports
        self.workers: dict[str, subprocess.Popen] = {}
        self.starts: Counter[str] = Counter()
        self.logs: dict[str, Path] = {}
        self.beat: subprocess.Popen | None = None

    def _start(self, name: str, args: list[str], env: dict) -> subprocess.Popen:
        self.logs[name] = self.home / f"{name}.log"
        with self.logs[name].open("ab") as out:
            return subprocess.Popen(
                [CELERY, "-A", "drumbeat", *args],
                env=env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def start(self) -> None:
        """Start the workers that are not running (all at first, a killed one later), wait
        until they are ready, and the beat."""
        for name, port in self.ports.items():
            if name in self.workers and self.workers[name].poll() is None:
                continue
            env = {**self.env, "DRUMBEAT_EMAIL_URL": f"smtp://127.0.0.1:{port}?timeout=30"}
            args = ["worker", "-P", "solo", "-c", "1", "-n", f"recovery-{name}-{os.getpid()}@%h"]
            args += ["--without-gossip", "--without-mingle", "--loglevel", "INFO"]
            self.workers[name] = self._start(name, args, env)
            self.starts[name] += 1
        deadline = time.monotonic() + 90
        while not all(self.log(name).count("ready.") >= self.starts[name] for name in self.workers):
            for name, process in self.workers.items():
                if process.poll() is not None:
                    pytest.fail(f"worker {name} exited:\n{self.log(name)[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("workers not ready:\n" + self.log("a")[-3000:])
            time.sleep(0.2)
        if self.beat is None:
            schedule = str(self.home / "beat-schedule")
            args = ["beat", "--loglevel", "WARNING", "-s", schedule]
            self.beat = self._start("beat", args, self.env)

    def log(self, name: str) -> str:
        path = self.logs.get(name)
        return path.read_text(errors="replace") if path and path.exists() else ""

    def stop(self) -> None:
        """The end of the tests: nothing left to check in how they stop."""
        for process in [*self.workers.values(), *([self.beat] if self.beat else [])]:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def running_cluster(django_db_setup, redis_url, tmp_path_factory):  # noqa: F811
    sink = Sink()
    controllers = {name: Controller(sink.handler(name), "127.0.0.1", free_port()) for name in "ab"}
    for controller in controllers.values():
        controller.start()
    home = tmp_path_factory.mktemp("recovery")
    running = Cluster(home, redis_url, {n: c.port for n, c in controllers.items()})
    try:
        yield running, sink
    finally:
        running.stop()
        for controller in controllers.values():
            controller.stop()


@pytest.fixture
def cluster(running_cluster, settings):
    running, sink = running_cluster
    sink.reset()
    settings.BROKER_URL = ""  # this process enrols; the beat's tick dispatches the work
    settings.HOME = running.home  # where the workers' journals are read from
    return running, sink


def report(**figures) -> None:
    """Print the figures of a run, and append them to DRUMBEAT_CRASH_REPORT when set."""
    print(figures)
    path = os.environ.get("DRUMBEAT_CRASH_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"lease_s": LEASE, "n": N, **figures}) + "\n")


def start_campaign(n: int):
    bob = make_user("bob")
    make_contacts(n)
    campaign = make_campaign(bob)
    email = add_email(campaign)
    services.start_campaign(campaign, bob)  # enrolled here; due now, found by the next tick
    return email


def open_batch(pid: int) -> tuple[set[int], set[int]]:
    """(never started, in flight) message ids of the batch worker `pid` is sending, from its
    send journal (mailing/journal.py) in the shared DRUMBEAT_HOME."""
    reading = journal.read_all()
    ids = set().union(*(i for p, i in reading.files.items() if p.name.startswith(f"{pid}-")))
    never = {i for i in ids if reading.fates.get(i) == journal.PLANNED}
    return never, {i for i in ids if reading.fates.get(i) == journal.STARTED}


def victim_mid_batch(cluster: Cluster, sink: Sink, pause) -> tuple[str, set[int], set[int], float]:
    """Wait until a worker is sending a batch with messages it has not started, then `pause`
    it (SIGKILL or SIGSTOP). Returns (its name, never-started and in-flight message ids at that
    moment, the monotonic time of the signal)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for name, process in cluster.workers.items():
            if sink.count(name) < 10:
                continue
            never, _ = open_batch(process.pid)
            if len(never) < 5:
                continue
            process.send_signal(pause)
            at = time.monotonic()
            time.sleep(0.2)  # the signal has landed; the journal says where
            never, in_flight = open_batch(process.pid)
            if never:
                return name, never, in_flight, at
            if pause == signal.SIGKILL:
                pytest.fail("the killed worker had just finished its batch")
            process.send_signal(signal.SIGCONT)  # it had just finished: try again
        time.sleep(0.02)
    counts = {name: sink.count(name) for name in cluster.workers}
    states = Counter(Trace.objects.values_list("state", flat=True))
    logs = "\n".join(f"--- {n}:\n{cluster.log(n)[-2000:]}" for n in [*cluster.workers, "beat"])
    pytest.fail(f"no worker caught mid-batch: received {counts}, traces {states}\n{logs}")


def wait_until_final(expected: int, since: float) -> None:
    while True:
        done = Trace.objects.filter(state__in=FINAL).count()
        if done == expected:
            return
        if time.monotonic() - since > RECOVERY_LIMIT:
            pytest.fail(f"{expected - done} traces still open {RECOVERY_LIMIT} s after")
        time.sleep(0.2)


def settled_messages() -> dict[int, tuple[str, str, str]]:
    """Message pk → (Message-ID, message state, its trace's state|reason)."""
    traces = {t.pk: f"{t.state}|{t.reason}" for t in Trace.objects.all()}
    return {
        m.pk: (m.message_id, m.state, traces[m.trace_id])
        for m in Message.objects.exclude(trace_id=None)
    }


def assert_each_received_once(sink: Sink, settled: dict) -> Counter:
    """Every recipient at most once: each processed trace's message exactly once, each
    interrupted one at most once, nothing else. Returns the copies per Message-ID."""
    copies = Counter({mid: len(at) for mid, at in sink.times().items()})
    assert max(copies.values()) == 1  # no duplicate, whatever happened
    assert set(copies) <= {mid for mid, _, _ in settled.values()}
    for message_id, state, trace in settled.values():
        if trace == "processed|":
            assert (state, copies[message_id]) == ("sent", 1)
        else:
            assert trace == "error|interrupted"
    return copies


def test_a_killed_workers_batch_is_finished_by_the_other_within_a_minute(cluster):
    running, sink = cluster
    email = start_campaign(N)
    running.start()

    victim, never, in_flight, killed_at = victim_mid_batch(running, sink, signal.SIGKILL)
    wait_until_final(N, since=killed_at)

    settled = settled_messages()
    assert len(settled) == N
    copies = assert_each_received_once(sink, settled)
    survivor = "b" if victim == "a" else "a"
    received = sink.times()
    # every message the dead worker had not started went out from the other one, in time
    for pk in never:
        message_id, state, trace = settled[pk]
        ((port, at),) = received[message_id]
        assert (state, trace, port) == ("sent", "processed|", survivor)
        assert at - killed_at < RECOVERY_LIMIT
    # at most the one in flight is "interrupted" (it may have reached the server, once)
    interrupted = [pk for pk, (_, _, trace) in settled.items() if trace == "error|interrupted"]
    assert set(interrupted) <= in_flight and len(in_flight) <= 1
    assert sum(copies.values()) == N - len(interrupted) + sum(
        copies[settled[pk][0]] for pk in interrupted
    )
    assert Trace.objects.filter(activity=email, state="processed").count() == N - len(interrupted)
    times = [received[settled[pk][0]][0][1] - killed_at for pk in never]
    report(
        runner="celery, one worker SIGKILLed mid-batch",
        unsent_at_kill=len(never),
        first_resent_s=round(min(times), 1),
        last_resent_s=round(max(times), 1),
        interrupted=len(interrupted),
        duplicates=sum(n - 1 for n in copies.values()),
    )


def snapshot() -> tuple[list, list]:
    traces = list(
        Trace.objects.order_by("pk").values_list(
            "pk", "state", "reason", "executed_at", "started_at", "claim_id", "message_id"
        )
    )
    messages = list(
        Message.objects.order_by("pk").values_list(
            "pk", "state", "failure_reason", "sent_at", "attempts", "retry_at"
        )
    )
    return traces, messages


def test_a_frozen_worker_resumed_after_its_lease_sends_and_writes_nothing_more(cluster):
    running, sink = cluster
    start_campaign(N)
    running.start()

    victim, never, in_flight, frozen_at = victim_mid_batch(running, sink, signal.SIGSTOP)
    wait_until_final(N, since=frozen_at)  # the other worker took the batch over
    finished_at = time.monotonic()
    before = snapshot()
    received_before = sink.count(victim)

    logged = len(running.log(victim))
    running.workers[victim].send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 60
    while "lease lost" not in running.log(victim)[logged:]:
        assert time.monotonic() < deadline, running.log(victim)[-3000:]
        time.sleep(0.2)
    time.sleep(2)  # whatever it would still do for the batch, it does now

    assert snapshot() == before  # it wrote nothing
    # it sent nothing more: at most the message it had in flight when frozen completed
    sent_after_resume = sink.count(victim) - received_before
    assert sent_after_resume <= len(in_flight) <= 1
    settled = settled_messages()
    copies = assert_each_received_once(sink, settled)
    assert sum(copies.values()) == N  # everyone got the email, once
    for pk in never:
        assert settled[pk][1:] == ("sent", "processed|")
    report(
        runner="celery, one worker frozen (SIGSTOP) mid-batch past its lease, then resumed",
        unsent_at_freeze=len(never),
        finished_by_the_other_s=round(finished_at - frozen_at, 1),
        sent_after_resume=sent_after_resume,
        received=sum(copies.values()),
        duplicates=sum(n - 1 for n in copies.values()),
    )
