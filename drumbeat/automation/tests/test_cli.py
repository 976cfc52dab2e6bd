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
