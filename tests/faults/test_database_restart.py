"""PostgreSQL restarted in the middle of a run (issue 9): the embedded worker sends an email
campaign against a PostgreSQL server that is restarted twice under it; it carries on once the
server is back, and the guarantees of docs/product.md#guarantees hold (no duplicate, every trace
final with a reason).

The server is a private PostgreSQL instance made for the test (initdb in a temporary folder,
its own port), so restarting it disturbs nobody else using the machine's cluster."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .crash_harness import FINISH, SETUP, Deployment, check, run_to_completion, start_sink
from .servers import free_port
from .test_crash_recovery import assert_guarantees

pytestmark = [pytest.mark.postgres_only]

IS_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pg_bin() -> Path | None:
    for version in ("17", "16", "15"):
        path = Path(f"/usr/lib/postgresql/{version}/bin")
        if (path / "initdb").exists():
            return path
    return None


def as_postgres(*command: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


@pytest.fixture
def private_postgres():
    binaries = pg_bin()
    if binaries is None or (os.geteuid() == 0 and not shutil.which("runuser")):
        reason = "no PostgreSQL server binaries (initdb) to run a private instance"
        if IS_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    # not under pytest's folder: the postgres user must be able to reach it
    folder = Path(tempfile.mkdtemp(prefix="drumbeat-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = free_port()
    subprocess.run(
        as_postgres(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"),
        check=True,
        capture_output=True,
    )
    ctl = [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log")]
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"

    def pg_ctl(action: str, *extra: str) -> None:
        subprocess.run(
            as_postgres(*ctl, "-o", options, "-w", *extra, action), check=True, capture_output=True
        )

    pg_ctl("start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", pg_ctl
    finally:
        subprocess.run(as_postgres(*ctl, "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_worker_carries_on_after_postgresql_restarts(tmp_path, private_postgres):
    url, pg_ctl = private_postgres
    n = int(os.environ.get("DRUMBEAT_CRASH_N", "2000"))
    sink, controller, port = start_sink(delay=0.004)
    restarts = 0
    try:
        deployment = Deployment(tmp_path, port, database_url=url)
        deployment.script(SETUP, str(n))
        worker = deployment.start_worker()
        try:
            for _ in range(2):
                before, deadline = sink.count(), time.monotonic() + 60
                while sink.count() < before + n // 5 and time.monotonic() < deadline:
                    time.sleep(0.05)
                pg_ctl("restart", "-m", "fast")
                restarts += 1
            received_after_restarts = sink.count()
            deadline = time.monotonic() + 300
            while sink.count() == received_after_restarts and time.monotonic() < deadline:
                time.sleep(0.2)
            assert worker.poll() is None, "the worker died with the database"
            carried_on = sink.count() > received_after_restarts
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        run_to_completion(deployment, sink)
        deployment.script(FINISH)
        figures = check(deployment, sink)
    finally:
        controller.stop()
    figures.update(n=n, restarts=restarts)
    print(figures)
    report = os.environ.get("DRUMBEAT_CRASH_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps({"runner": "embedded, PostgreSQL restarted", **figures}) + "\n")
    assert carried_on, "nothing was sent after the restarts"
    assert_guarantees(figures, min_kills=0)
