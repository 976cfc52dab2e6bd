"""Split activities, goal settings, results and declared winners over the API, through the
real engine."""

from __future__ import annotations

import pytest

from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Participant, SplitAssignment
from drumbeat.contacts.models import Contact, Tag

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ACTION = {"name": "Tag VIP", "target": "contacts.contact", "kind": "update_record"}
SPLIT = {
    "name": "Welcome test",
    "kind": "split",
    "branches": [
        {"name": "A", "weight": 45},
        {"name": "B", "weight": 45},
        {"name": "H", "weight": 10},
    ],
}


def build(api, **campaign_fields) -> dict:
    vip = Tag.objects.create(name="VIP")
    action = api.post(
        "server-actions",
        {**ACTION, "params": {"field": "tags", "operation": "add", "value": [vip.pk]}},
    ).json()
    campaign = api.post(
        "campaigns", {"name": "Welcome", "target": "contacts.contact", **campaign_fields}
    )
    assert campaign.status_code == 201, campaign.json()
    campaign = campaign.json()
    split = api.post("activities", {"campaign": campaign["id"], **SPLIT})
    assert split.status_code == 201, split.json()
    child = api.post(
        "activities",
        {
            "campaign": campaign["id"],
            "name": "Tag on B",
            "kind": "action",
            "server_action": action["id"],
            "trigger": "activity",
            "parent": split.json()["id"],
            "branch": "B",
        },
    )
    assert child.status_code == 201, child.json()
    return {"campaign": campaign, "split": split.json(), "child": child.json()}


def test_splits_and_goals_are_fields_of_activities_and_campaigns(marketing_api):
    built = build(
        marketing_api,
        goal_domain=[["tags.name", "=", "Customer"]],
        goal_window_days=30,
        exit_on_goal=True,
    )
    campaign, split, child = built["campaign"], built["split"], built["child"]
    assert (campaign["goal_domain"], campaign["goal_window_days"], campaign["exit_on_goal"]) == (
        [["tags.name", "=", "Customer"]],
        30,
        True,
    )
    assert split["kind"] == "split" and split["branches"] == SPLIT["branches"]
    assert (child["branch"], child["trigger"], child["parent"]) == ("B", "activity", split["id"])
    r = marketing_api.patch(f"campaigns/{campaign['id']}", {"goal_window_days": None})
    assert r.status_code == 200 and r.json()["goal_window_days"] is None
    r = marketing_api.patch(f"activities/{split['id']}", {"branches": SPLIT["branches"][:2]})
    assert r.status_code == 200 and [b["name"] for b in r.json()["branches"]] == ["A", "B"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({**SPLIT, "branches": [{"name": "A", "weight": 1}]}, "branches"),
        (
            {**SPLIT, "branches": [{"name": "A", "weight": 0}, {"name": "B", "weight": 1}]},
            "branches.0.weight",
        ),
        (
            {**SPLIT, "branches": [{"name": "", "weight": 1}, {"name": "B", "weight": 1}]},
            "branches.0.name",
        ),
        ({**SPLIT, "branch": "A"}, "branch"),
    ],
)
def test_it_refuses_bad_splits(marketing_api, body, field):
    campaign = marketing_api.post("campaigns", {"name": "x", "target": "contacts.contact"}).json()
    r = marketing_api.post("activities", {"campaign": campaign["id"], **body})
    assert r.status_code == 422, r.json()
    assert field in [e["field"] for e in r.json()["errors"]]


def test_it_refuses_a_child_of_a_split_without_a_known_branch(marketing_api):
    built = build(marketing_api)
    r = marketing_api.patch(f"activities/{built['child']['id']}", {"branch": "Z"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "branch"
    assert "A, B, H" in r.json()["errors"][0]["message"]


def test_it_refuses_a_bad_goal(marketing_api):
    r = marketing_api.post(
        "campaigns",
        {"name": "x", "target": "contacts.contact", "goal_domain": [["nope", "=", 1]]},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "goal_domain"
    r = marketing_api.post(
        "campaigns", {"name": "x", "target": "contacts.contact", "goal_window_days": 0}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "goal_window_days"


def test_results_count_the_branches_and_conversions_the_engine_made(marketing_api):
    built = build(marketing_api, goal_domain=[["tags.name", "=", "VIP"]])
    Contact.objects.bulk_create(Contact(name=f"P{i}", email=f"p{i}@example.com") for i in range(60))
    campaign_id = built["campaign"]["id"]
    assert marketing_api.post(f"campaigns/{campaign_id}/start").status_code == 200
    run_once()  # split, then "Tag on B" (the goal) for branch B, then the goal check
    run_once()

    r = marketing_api.get(f"campaigns/{campaign_id}/results")
    assert r.status_code == 200, r.json()
    body = r.json()
    on_b = SplitAssignment.objects.filter(branch="B").count()
    assert body["participants"] == 60 and body["conversions"] == on_b
    assert "Wilson" in body["statistics"] and "Fisher" in body["statistics"]
    (split,) = body["splits"]
    assert (split["metric"], split["control"]) == ("conversions", "A")
    branches = {b["name"]: b for b in split["branches"]}
    assert sum(b["participants"] for b in branches.values()) == 60
    assert branches["B"]["conversions"] == branches["B"]["participants"] == on_b
    assert branches["A"]["conversions"] == branches["H"]["conversions"] == 0
    assert branches["B"]["comparison"]["test"] in ("two-proportion z-test", "Fisher's exact test")
    assert branches["B"]["comparison"]["alpha"] == 0.025  # two variants against A
    assert branches["A"]["comparison"] is None
    assert branches["B"]["activities"] == ["Tag on B"] and branches["H"]["share"] == 10.0
    tagged = {a["name"]: a for a in body["activities"]}["Tag on B"]
    assert (tagged["participants"], tagged["conversions"]) == (on_b, on_b)
    metrics = marketing_api.get(f"campaigns/{campaign_id}/metrics").json()
    by_name = {a["name"]: a for a in metrics["activities"]}
    assert by_name["Tag on B"]["conversions"] == on_b
    assert by_name["Welcome test"]["kind"] == "split"
    converted = marketing_api.get("participants", campaign=campaign_id, limit=100).json()
    assert sum(p["converted_at"] is not None for p in converted["items"]) == on_b


def test_declaring_a_winner_sends_new_participants_down_it(marketing_api):
    built = build(marketing_api)
    campaign_id, split_id = built["campaign"]["id"], built["split"]["id"]
    url = f"campaigns/{campaign_id}/declare-winner"
    r = marketing_api.post(url, {"branch": "B"})
    assert r.status_code == 200, r.json()
    assert (r.json()["split"], r.json()["winner"]) == (split_id, "B")
    Contact.objects.bulk_create(Contact(name=f"P{i}", email=f"p{i}@example.com") for i in range(9))
    marketing_api.post(f"campaigns/{campaign_id}/start")
    run_once()
    assert set(SplitAssignment.objects.values_list("branch", "randomized")) == {("B", False)}
    assert Participant.objects.count() == 9
    body = marketing_api.get(f"campaigns/{campaign_id}/results").json()
    assert (body["splits"][0]["winner"], body["splits"][0]["sent_to_winner"]) == ("B", 9)

    r = marketing_api.post(url, {"branch": "Z"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "branch"
    r = marketing_api.post(url, {"split": built["child"]["id"], "branch": "B"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "split"
    r = marketing_api.post(url, {"split": split_id, "branch": None})
    assert r.status_code == 200 and r.json()["winner"] is None
    assert marketing_api.post("campaigns/999999/declare-winner", {"branch": "B"}).status_code == 404
    other = marketing_api.post("campaigns", {"name": "y", "target": "contacts.contact"}).json()
    r = marketing_api.post(f"campaigns/{other['id']}/declare-winner", {"branch": "B"})
    assert r.status_code == 422 and "none" in r.json()["errors"][0]["message"]
