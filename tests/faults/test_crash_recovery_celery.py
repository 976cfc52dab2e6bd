"""Crash recovery with the distributed runner (docs/product.md#guarantees,
docs/architecture.md#processes): two `celery -A drumbeat worker` processes and `celery beat` on a
PostgreSQL database of their own and Redis; one of the workers is killed with SIGKILL and restarted
again and again while the test also delivers
`execute_due` tasks twice over (as a broker redelivery would). Then the run finishes and the
same guarantees as for the embedded worker must hold."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .crash_harness import FINISH, SETUP, Deployment, check, start_sink
from .test_crash_recovery import assert_guarantees

pytestmark = [pytest.mark.postgres_only]

IS_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS = os.environ.get("DRUMBEAT_TEST_REDIS", "redis://127.0.0.1:6379")
CLAIM_KEY = "drumbeat:crash-test-claim"
CELERY = str(Path(sys.executable).with_name("celery"))


def unavailable(reason: str):
    if IS_CI:
        pytest.fail(f"{reason} (required with CI=true)")
    pytest.skip(reason)


@pytest.fixture
def redis_url():
    import redis

    for number in range(1, 16):
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


@pytest.fixture
def crash_database():
    """A PostgreSQL database of our own (the workers migrate it), dropped afterwards."""
    import psycopg

    base = os.environ["DATABASE_URL"]
    name = f"drumbeat_crash_{os.getpid()}"
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_celery(deployment: Deployment, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [CELERY, "-A", "drumbeat", *args],
        env=deployment.env,
        cwd=deployment.home,
        stdout=deployment.log,
        stderr=deployment.log,
    )


def start_worker(deployment: Deployment, n: int) -> subprocess.Popen:
    return start_celery(
        deployment,
        "worker",
        "-P",
        "solo",
        "-c",
        "1",
        "-n",
        f"crash{n}-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "WARNING",
    )


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_celery_workers_survive_sigkill_and_duplicate_deliveries(
    tmp_path, redis_url, crash_database
):
    from celery import Celery

    n = int(os.environ.get("DRUMBEAT_CRASH_N", "2000"))
    kills = int(os.environ.get("DRUMBEAT_CRASH_KILLS", "12"))
    seed = int(os.environ.get("DRUMBEAT_CRASH_SEED", str(int(time.time()) % 100000)))
    rng = random.Random(seed)
    sink, controller, port = start_sink(delay=0.01)
    client = Celery(broker=redis_url)
    processes: list[subprocess.Popen] = []
    try:
        deployment = Deployment(tmp_path, port, database_url=crash_database)
        deployment.env["DRUMBEAT_BROKER_URL"] = redis_url
        deployment.script(SETUP, str(n))
        activity_id = int(
            deployment.script(
                "import django; django.setup(); from drumbeat.automation.models import Activity;"
                " print(Activity.objects.get().pk)"
            ).split()[-1]
        )
        workers = [start_worker(deployment, 1), start_worker(deployment, 2)]
        beat = start_celery(
            deployment, "beat", "--loglevel", "WARNING", "-s", str(tmp_path / "beat-schedule")
        )
        processes = [*workers, beat]
        kills_done = duplicates = kills_mid_send = 0
        for i in range(kills):
            # once the (re)started workers send, kill one at a random moment
            before, deadline = sink.count(), time.monotonic() + 40
            while sink.count() == before and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.1, 2.0))
            kills_mid_send += int(0 < sink.count() < n)
            for _ in range(2):  # the same task delivered twice
                client.send_task("drumbeat.execute_due", args=[activity_id])
            duplicates += 1
            victim = i % 2
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(timeout=30)
            kills_done += 1
            workers[victim] = start_worker(deployment, victim + 1)
            processes = [*workers, beat]
        # let the survivors finish what is due, then stop everything
        last, quiet_since = -1, time.monotonic()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if sink.count() != last:
                last, quiet_since = sink.count(), time.monotonic()
            elif time.monotonic() - quiet_since > 8:
                break
        for process in processes:
            stop(process)
        processes = []
        deployment.env.pop("DRUMBEAT_BROKER_URL")  # the final recovery pass runs in-process
        deployment.script(FINISH)
        figures = check(deployment, sink)
    finally:
        for process in processes:
            process.kill()
            process.wait()
        controller.stop()
        client.close()
    figures.update(
        n=n,
        kills=kills_done,
        kills_mid_send=kills_mid_send,
        duplicate_deliveries=duplicates,
        seed=seed,
    )
    print(figures)
    report = os.environ.get("DRUMBEAT_CRASH_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps({"runner": "celery", **figures}) + "\n")
    assert_guarantees(figures)
    assert kills_mid_send >= 1
