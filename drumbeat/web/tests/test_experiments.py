"""Experiments in the UI without a browser: the split dialog, branches on the workflow, the
goal dialog, the Results tab, declaring a winner, a test participant down a chosen branch,
the template card with its optional split; refusals included."""

import json

import pytest

from drumbeat.automation import campaign_templates, services
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Activity, Campaign, CampaignLog, ServerAction, Trace
from drumbeat.contacts.models import Tag

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SPLIT_FORM = {
    "name": "Welcome test",
    "kind": "split",
    "trigger": "begin",
    "delay_amount": "0",
    "delay_unit": "hours",
    "domain": "[]",
    "branch_1_name": "A",
    "branch_1_weight": "45",
    "branch_2_name": "B",
    "branch_2_weight": "45",
    "branch_3_name": "Holdout",
    "branch_3_weight": "10",
}


@pytest.fixture
def campaign(bob) -> Campaign:
    return services.create_campaign("Spring promo", "contacts.contact", owner=bob)


@pytest.fixture
def tag_action(db) -> ServerAction:
    hot = Tag.objects.create(name="Hot")
    return ServerAction.objects.create(
        name="Tag hot",
        target="contacts.contact",
        kind="update_record",
        params={"field": "tags", "operation": "add", "value": [hot.pk]},
    )


def split_with_b(campaign, tag_action) -> Activity:
    split = services.create_activity(
        campaign,
        name="Welcome test",
        kind="split",
        branches=[
            {"name": "A", "weight": 45},
            {"name": "B", "weight": 45},
            {"name": "Holdout", "weight": 10},
        ],
    )
    for branch in ("A", "B"):
        services.create_activity(
            campaign,
            name=f"Tag on {branch}",
            kind="action",
            server_action=tag_action,
            parent=split,
            branch=branch,
        )
    return split


def test_the_dialog_creates_a_split_from_its_branch_rows(marketer_client, campaign):
    url = f"/campaigns/{campaign.pk}/activities/new/"
    form = marketer_client.get(url + "?trigger=begin&kind=split").content.decode()
    assert 'name="branch_1_name"' in form and "holdout" in form
    r = marketer_client.post(url, SPLIT_FORM, HTTP_HX_REQUEST="true")
    assert r.status_code == 204, r.content.decode()[:400]
    split = Activity.objects.get()
    assert split.kind == "split" and split.branch_names == ["A", "B", "Holdout"]
    assert [b["weight"] for b in split.branches] == [45, 45, 10]


def test_the_dialog_refuses_one_branch_and_keeps_the_input(marketer_client, campaign):
    url = f"/campaigns/{campaign.pk}/activities/new/"
    data = {**SPLIT_FORM, "branch_2_name": "", "branch_3_name": ""}
    r = marketer_client.post(url, data, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "A split has 2 to 5 branches." in html
    assert 'value="Welcome test"' in html
    assert not Activity.objects.exists()


def test_an_activity_on_a_branch_names_it(marketer_client, campaign, tag_action):
    split = split_with_b(campaign, tag_action)
    url = f"/campaigns/{campaign.pk}/activities/new/"
    form = marketer_client.get(f"{url}?parent={split.pk}&trigger=activity&branch=Holdout")
    html = form.content.decode()
    assert '<option value="Holdout" selected>' in html
    data = {
        "name": "Late tag",
        "kind": "action",
        "server_action": tag_action.pk,
        "trigger": "activity",
        "delay_amount": "1",
        "delay_unit": "days",
        "domain": "[]",
        "branch": "B",
        "parent": split.pk,
    }
    assert marketer_client.post(url, data, HTTP_HX_REQUEST="true").status_code == 204
    assert Activity.objects.get(name="Late tag").branch == "B"


def test_the_workflow_shows_branches_shares_and_the_control(marketer_client, campaign, tag_action):
    split_with_b(campaign, tag_action)
    html = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'data-branch="Holdout"' in html and "holdout: receives nothing" in html
    assert "Add activity on B" in html and "On branch B, at once" in html
    assert "45 % of participants" in html and "10 % of participants" in html
    assert "No goal yet" in html


def test_the_goal_dialog_saves_the_goal_and_refuses_a_bad_filter(marketer_client, campaign):
    url = f"/campaigns/{campaign.pk}/goal/"
    assert "Success means" in marketer_client.get(url).content.decode()
    bad = {"goal_domain": '[["nope", "=", 1]]', "goal_window_days": "30"}
    r = marketer_client.post(url, bad, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "unknown field" in r.content.decode()
    campaign.refresh_from_db()
    assert campaign.goal_domain == []
    good = {
        "goal_domain": json.dumps([["tags.name", "=", "Customer"]]),
        "goal_window_days": "30",
        "exit_on_goal": "on",
    }
    assert marketer_client.post(url, good, HTTP_HX_REQUEST="true").status_code == 204
    campaign.refresh_from_db()
    assert (campaign.goal_domain, campaign.goal_window_days, campaign.exit_on_goal) == (
        [["tags.name", "=", "Customer"]],
        30,
        True,
    )
    html = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Tags › Name is &quot;Customer&quot; · within 30 days of enrolment" in html


def test_the_results_tab_compares_the_branches(marketer_client, campaign, tag_action, contacts):
    split = split_with_b(campaign, tag_action)
    services.update_campaign(campaign, goal_domain=[["tags.name", "=", "Hot"]])
    services.start_campaign(campaign)
    run_once()
    run_once()  # the goal (tagged Hot by A and B) is checked on the next pass
    html = marketer_client.get(f"/campaigns/{campaign.pk}/results/").content.decode()
    assert 'data-split="Welcome test"' in html and "control: <b>Holdout</b>" in html
    assert "interval-chart" in html and "Wilson score interval" in html
    assert "Fisher" in html and "data-verdict=" in html
    assert html.count("data-branch-row=") == 3
    assert "Tag on B" in html  # per activity
    counts = {b: 0 for b in ("A", "B", "Holdout")}
    for branch in split.assignments.values_list("branch", flat=True):
        counts[branch] += 1
    assert sum(counts.values()) == len(contacts)
    workflow = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "data-activity-conversions" in workflow


def test_the_results_tab_without_split_or_goal_says_what_to_do(marketer_client, campaign):
    html = marketer_client.get(f"/campaigns/{campaign.pk}/results/").content.decode()
    assert "No split in this workflow" in html and "No goal yet" in html


def test_declaring_a_winner_from_the_results_tab(marketer_client, campaign, tag_action):
    split = split_with_b(campaign, tag_action)
    url = f"/campaigns/{campaign.pk}/splits/{split.pk}/winner/"
    assert marketer_client.get(url).status_code == 405
    r = marketer_client.post(url, {"branch": "B"})
    assert r.status_code == 302 and r["Location"].endswith("/results/")
    split.refresh_from_db()
    assert split.winner == "B"
    assert CampaignLog.objects.filter(action="declare_winner").count() == 1
    html = marketer_client.get(f"/campaigns/{campaign.pk}/results/").content.decode()
    assert 'data-winner="B"' in html
    marketer_client.post(url, {"branch": "Nope"})
    split.refresh_from_db()
    assert split.winner == "B"
    other = services.create_campaign("Other", "contacts.contact")
    r = marketer_client.post(f"/campaigns/{other.pk}/splits/{split.pk}/winner/", {"branch": "A"})
    assert r.status_code == 404


def test_a_test_participant_runs_down_the_branch_chosen_on_its_screen(
    marketer_client, campaign, tag_action, contacts
):
    split = split_with_b(campaign, tag_action)
    participant = services.launch_test(campaign, contacts[1].pk)
    screen = f"/campaigns/{campaign.pk}/tests/{participant.pk}/"
    assert 'data-run-branch="Holdout"' in marketer_client.get(screen).content.decode()
    trace = Trace.objects.get(participant=participant, activity=split)
    marketer_client.post(f"/traces/{trace.pk}/run/", {"branch": "B", "next": screen})
    assert participant.assignments.get().branch == "B"
    html = marketer_client.get(screen).content.decode()
    assert 'data-assigned-branch="B"' in html and "Tag on B" in html


def test_the_prioritize_card_offers_its_split(marketer_client, bob):
    html = marketer_client.get("/campaigns/").content.decode()
    assert 'data-template-split="prioritize_hot_leads"' in html
    assert html.count("data-template-split=") == 1
    r = marketer_client.post("/campaigns/templates/prioritize_hot_leads/", {"split": "1"})
    assert r.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.goal_domain == campaign_templates.WON and campaign.exit_on_goal
    split = campaign.activities.get(kind="split")
    assert split.branch_names == ["Welcome email", "Short email", "Holdout"]
    assert sorted(split.children.values_list("branch", flat=True)) == [
        "Short email",
        "Welcome email",
    ]
