"""Runs Drumbeat as separate processes against one database for the crash-recovery tests:
`drumbeat worker` subprocesses killed with SIGKILL at random points, a loopback SMTP sink in the
test process that records every Message-ID it accepts, and small Django scripts (set-up, final
recovery, figures) run in their own processes with the same environment."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller

from .servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Sink:
    """Accepts everything; remembers the Message-ID of each accepted message."""

    delay: float = 0.0  # seconds per message, like a real server's latency
    message_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        for line in envelope.original_content.split(b"\r\n"):
            if not line:
                break
            if line.lower().startswith(b"message-id:"):
                with self.lock:
                    self.message_ids.append(line.split(b":", 1)[1].strip().decode())
                break
        return "250 Message accepted"

    def count(self) -> int:
        with self.lock:
            return len(self.message_ids)


SETUP = """
import django, sys
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from drumbeat.automation import services
from drumbeat.automation.tests.fixtures import add_email, make_campaign, make_user
from drumbeat.contacts.models import Contact
n = int(sys.argv[1])
rows = [Contact(name=f"Person {i}", email=f"person{i}@example.com") for i in range(n)]
Contact.objects.bulk_create(rows, batch_size=500)
user = make_user("crash")
campaign = make_campaign(user, name="Crash test")
add_email(campaign)
services.start_campaign(campaign, user)
print(campaign.pk)
"""

FINISH = """
import django, datetime
django.setup()
import time_machine
from django.utils import timezone
from drumbeat.automation.engine.leases import lease_length
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Trace
# What the worker does when it wakes up after the lease of the killed runs ran out.
later = timezone.now() + lease_length() + datetime.timedelta(minutes=1)
with time_machine.travel(later, tick=True):
    for _ in range(5):
        run_once()
        if not Trace.objects.filter(state__in=["scheduled", "processing"]).exists():
            break
"""

FIGURES = """
import django, json
django.setup()
from collections import Counter
from django.db.models import Count
from drumbeat.automation.models import Trace, Participant
from drumbeat.mailing.models import Message
traces = Counter()
for state, reason, n in Trace.objects.values_list("state", "reason").annotate(n=Count("id")):
    traces[f"{state}|{reason}"] += n
per_key = Trace.objects.values("participant_id", "activity_id").annotate(n=Count("id"))
messages = {
    mid: [trace_id, state, reason]
    for mid, trace_id, state, reason in Message.objects.values_list(
        "message_id", "trace_id", "state", "failure_reason"
    )
}
keys = dict(Trace.objects.values_list("id", "participant_id"))
activity = dict(Trace.objects.values_list("id", "activity_id"))
print(json.dumps({
    "traces": traces,
    "participants": Participant.objects.count(),
    "duplicate_trace_keys": per_key.filter(n__gt=1).count(),
    "messages": messages,
    "trace_key": {str(t): [keys[t], activity[t]] for t in keys},
    "processed_without_message": Trace.objects.filter(
        state="processed", message__isnull=True
    ).count(),
}))
"""


class Deployment:
    """One DRUMBEAT_HOME (SQLite file or the given DATABASE_URL) and its worker processes."""

    def __init__(self, home: Path, sink_port: int, database_url: str = "", batch: int = 100):
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DRUMBEAT_", "DATABASE_URL"))
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="drumbeat.settings",
            DRUMBEAT_HOME=str(home),
            DRUMBEAT_EMAIL_URL=f"smtp://127.0.0.1:{sink_port}?timeout=10",
            DRUMBEAT_BASE_URL="http://drumbeat.test",
            DRUMBEAT_FROM_EMAIL="Drumbeat <news@example.org>",
            DRUMBEAT_BATCH_SIZE=str(batch),
            DRUMBEAT_TICK_SECONDS="1",
            DRUMBEAT_LOG_LEVEL="WARNING",
        )
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.home = home
        self.log = open(home / "workers.log", "ab")  # noqa: SIM115

    def script(self, source: str, *args: str, timeout: float = 600) -> str:
        out = subprocess.run(
            [sys.executable, "-c", source, *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if out.returncode != 0:
            raise AssertionError(f"script failed:\n{out.stderr[-4000:]}")
        return out.stdout

    def start_worker(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "drumbeat.cli", "worker"],
            env=self.env,
            cwd=ROOT,
            stdout=self.log,
            stderr=self.log,
        )

    def figures(self) -> dict:
        return json.loads(self.script(FIGURES).strip().splitlines()[-1])


@dataclass
class CrashRun:
    n: int
    kills: int
    seed: int
    kills_done: int = 0
    kills_mid_send: int = 0
    sink_sizes: list[int] = field(default_factory=list)


def kill_repeatedly(deployment: Deployment, sink: Sink, run: CrashRun) -> None:
    """Start a worker, SIGKILL it at a random moment, again and again."""
    rng = random.Random(run.seed)
    for i in range(run.kills):
        before = sink.count()
        worker = deployment.start_worker()
        if i % 2 == 0:  # anywhere: start-up, enrolment, claiming, rendering, sending
            time.sleep(rng.uniform(0.3, 3.0))
        else:  # once messages flow, a little later: mid-batch
            deadline = time.monotonic() + 30
            while sink.count() == before and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.6))
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited by itself ({worker.returncode})")
        mid_send = sink.count() > before
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        run.kills_done += 1
        run.kills_mid_send += int(mid_send and sink.count() < run.n)
        run.sink_sizes.append(sink.count())


def run_to_completion(deployment: Deployment, sink: Sink, quiet_seconds: float = 4.0) -> None:
    """Let one worker run until the sink has been quiet for a while, then stop it cleanly."""
    worker = deployment.start_worker()
    try:
        last, quiet_since = -1, time.monotonic()
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            time.sleep(0.5)
            count = sink.count()
            if count != last:
                last, quiet_since = count, time.monotonic()
            elif time.monotonic() - quiet_since > quiet_seconds:
                break
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def start_sink(delay: float = 0.0) -> tuple[Sink, Controller, int]:
    sink = Sink(delay=delay)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return sink, controller, port


def check(deployment: Deployment, sink: Sink) -> dict:
    """The guarantees of docs/product.md#guarantees, as figures (the test asserts on them)."""
    figures = deployment.figures()
    messages = figures["messages"]
    trace_key = figures["trace_key"]
    received = Counter(sink.message_ids)
    keys = Counter()
    unknown = 0
    for message_id, times in received.items():
        if message_id not in messages:
            unknown += 1
            continue
        trace_id = messages[message_id][0]
        keys[tuple(trace_key[str(trace_id)])] += times
    states = Counter()
    reasons_missing = 0
    for key, n in figures["traces"].items():
        state, reason = key.split("|", 1)
        states[state] += n
        if state in {"error", "cancelled", "rejected"} and not reason:
            reasons_missing += n
    processed_not_received = sum(
        1
        for mid, (_trace, state, _reason) in messages.items()
        if state == "sent" and mid not in received
    )
    interrupted = [
        (mid, reason) for mid, (_t, state, reason) in messages.items() if reason == "interrupted"
    ]
    return {
        "participants": figures["participants"],
        "traces_by_state": dict(states),
        "traces_by_state_reason": figures["traces"],
        "not_final": states["scheduled"] + states["processing"],
        "final_without_reason": reasons_missing,
        "received": sum(received.values()),
        "duplicate_message_ids": sum(n - 1 for n in received.values() if n > 1),
        "duplicate_participant_activity": sum(n - 1 for n in keys.values() if n > 1),
        "unknown_message_ids": unknown,
        "duplicate_trace_keys": figures["duplicate_trace_keys"],
        "sent_but_not_received": processed_not_received,
        "processed_without_message": figures["processed_without_message"],
        "interrupted": len(interrupted),
        "interrupted_received": sum(1 for mid, _ in interrupted if mid in received),
    }
