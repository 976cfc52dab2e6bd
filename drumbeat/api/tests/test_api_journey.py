"""docs/api_journey.py runs against a live server and does what it says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from drumbeat.accounts.models import ApiToken
from drumbeat.automation.models import Campaign, Participant, Trace

SCRIPT = Path(__file__).resolve().parents[3] / "docs" / "api_journey.py"


def load_script():
    spec = importlib.util.spec_from_file_location("api_journey", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db(transaction=True)
def test_the_documented_journey_runs(live_server, alice):
    journey = load_script()
    api = journey.Api(live_server.url, ApiToken.issue(alice, "journey")[1])
    lines: list[str] = []
    result = journey.journey(api, out=lines.append)
    campaign = Campaign.objects.get(pk=result["campaign"])
    assert campaign.state == "running"
    real = Participant.objects.filter(campaign=campaign, is_test=False)
    # the tested contact already takes part (as a test): a record is enrolled once
    assert sorted(real.values_list("record_id", flat=True)) == sorted(result["contacts"][1:])
    assert Trace.objects.get(pk=result["trace"]).state == "processed"
    assert result["metrics"]["figures"]["tests"] == 1
    assert any("simulated a click" in line for line in lines)


def test_the_script_explains_a_refusal(live_server, db, capsys):
    journey = load_script()
    code = journey.main(["--base-url", live_server.url, "--token", "dbt_wrong"])
    assert code == 1
    assert "401" in capsys.readouterr().err
