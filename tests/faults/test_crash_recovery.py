"""Crash recovery (docs/product.md#guarantees): the embedded worker is killed with SIGKILL at random
points of an email campaign, restarted, killed again (10–20 times), then left to finish. The SMTP
sink must hold no duplicate (participant, activity); every trace must end in a final state with a
reason; the send cut off by a kill shows as error "interrupted" and is never resent (the rest of the
killed batch is settled from the send journal: sent, or sent again if it never left).

Size: N = 2,000 participants and 12 kills by default (a few minutes on two cores);
DRUMBEAT_CRASH_N / DRUMBEAT_CRASH_KILLS change it; `--run-slow` runs 100,000 with 20 kills.
The figures of each run are printed and written to DRUMBEAT_CRASH_REPORT when set."""

from __future__ import annotations

import json
import os
import time

import pytest

from .crash_harness import (
    FINISH,
    SETUP,
    CrashRun,
    Deployment,
    check,
    kill_repeatedly,
    run_to_completion,
    start_sink,
)

FINAL_STATES = {"processed", "error", "cancelled", "rejected"}


def crash_campaign(tmp_path, n: int, kills: int, seed: int, database_url: str = "") -> dict:
    sink, controller, port = start_sink(delay=0.002)
    try:
        deployment = Deployment(tmp_path, port, database_url=database_url)
        started = time.monotonic()
        deployment.script(SETUP, str(n))
        run = CrashRun(n=n, kills=kills, seed=seed)
        kill_repeatedly(deployment, sink, run)
        run_to_completion(deployment, sink)
        deployment.script(FINISH)
        figures = check(deployment, sink)
    finally:
        controller.stop()
    figures.update(
        n=n,
        kills=run.kills_done,
        kills_mid_send=run.kills_mid_send,
        sink_after_each_kill=run.sink_sizes,
        seed=seed,
        seconds=round(time.monotonic() - started, 1),
    )
    print(json.dumps(figures, indent=1))
    report = os.environ.get("DRUMBEAT_CRASH_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps({"runner": "embedded", **figures}) + "\n")
    return figures


def assert_guarantees(figures: dict, min_kills: int = 10) -> None:
    n = figures["n"]
    assert figures["participants"] == n
    assert figures["duplicate_message_ids"] == 0
    assert figures["duplicate_participant_activity"] == 0
    assert figures["duplicate_trace_keys"] == 0
    assert figures["unknown_message_ids"] == 0
    assert figures["not_final"] == 0
    assert figures["final_without_reason"] == 0
    assert set(figures["traces_by_state"]) <= FINAL_STATES
    assert sum(figures["traces_by_state"].values()) == n
    # every trace recorded as sent really reached the server, exactly once
    assert figures["sent_but_not_received"] == 0
    assert figures["processed_without_message"] == 0
    # interrupted sends are errors "interrupted", each received at most once (never resent)
    errors = {
        key.split("|", 1)[1]: count
        for key, count in figures["traces_by_state_reason"].items()
        if key.startswith("error|")
    }
    assert set(errors) <= {"interrupted"}
    assert errors.get("interrupted", 0) == figures["interrupted"]
    assert (
        figures["received"]
        == figures["traces_by_state"].get("processed", 0) + figures["interrupted_received"]
    )
    assert figures.get("kills", 0) >= min_kills


def test_the_embedded_worker_survives_sigkill_without_duplicates(tmp_path):
    n = int(os.environ.get("DRUMBEAT_CRASH_N", "2000"))
    kills = int(os.environ.get("DRUMBEAT_CRASH_KILLS", "12"))
    seed = int(os.environ.get("DRUMBEAT_CRASH_SEED", str(int(time.time()) % 100000)))
    figures = crash_campaign(tmp_path, n, kills, seed)
    assert_guarantees(figures)
    assert figures["kills_mid_send"] >= 1
    # The send journal (mailing/journal.py) settles every message of a killed batch but the
    # one in flight: at most one "interrupted" per kill, not the rest of the batch.
    assert figures["interrupted"] <= figures["kills"]


@pytest.mark.slow
def test_the_embedded_worker_survives_sigkill_at_100000(tmp_path):
    figures = crash_campaign(tmp_path, 100_000, 20, int(time.time()) % 100000)
    assert_guarantees(figures)
