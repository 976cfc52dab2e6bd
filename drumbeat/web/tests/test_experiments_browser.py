"""Splits and goals in a real browser (Debian's Chromium through Playwright): build a split
with a holdout and a goal, walk a test participant down branch B, reach the goal, see it on
the Results tab."""

import re

import pytest
from playwright.sync_api import expect

from drumbeat.automation.models import Activity, Campaign, Participant, ServerAction
from drumbeat.contacts.models import Tag

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_split_with_a_holdout_and_a_goal_from_the_editor_to_the_results(
    page, live_server, bob, contacts
):
    hot = Tag.objects.create(name="Hot")
    ServerAction.objects.create(
        name='Add tag "Hot"',
        target="contacts.contact",
        kind="update_record",
        params={"field": "tags", "operation": "add", "value": [hot.pk]},
    )
    login(page, live_server, "bob")
    page.goto(live_server.url + "/campaigns/new/")
    page.fill("#id_name", "Spring test")
    page.get_by_role("button", name="Create campaign").click()
    campaign = Campaign.objects.get(name="Spring test")
    page.get_by_role("link", name="Workflow").click()

    # The split: A and B, and a 10 % holdout.
    page.locator("[data-add-split]").click()
    dialog = page.locator("#activity-dialog")
    expect(dialog.locator("#id_kind")).to_have_value("split")
    dialog.locator("#id_name").fill("Welcome test")
    dialog.get_by_label("Weight of branch 1").fill("45")
    dialog.get_by_label("Weight of branch 2").fill("45")
    dialog.get_by_label("Name of branch 3").fill("Holdout")
    dialog.get_by_label("Weight of branch 3").fill("10")
    dialog.get_by_role("button", name="Add activity").click()
    split = page.locator('[data-activity="Welcome test"]')
    expect(split).to_contain_text("split into 3 branches")

    # A and B get an activity each; the holdout stays empty: it is the control.
    page.locator('[data-add-to-branch="A"]').click()
    dialog = page.locator("#activity-dialog")
    dialog.locator("#id_name").fill("Tag on A")
    dialog.locator("#id_kind").select_option("action")
    dialog.locator("#id_server_action").select_option(label='Add tag "Hot"')
    dialog.get_by_role("button", name="Add activity").click()
    expect(page.locator('[data-branch="A"] [data-activity="Tag on A"]')).to_be_visible()
    page.locator('[data-add-to-branch="B"]').click()
    dialog = page.locator("#activity-dialog")
    expect(dialog).to_contain_text("New activity on a branch of “Welcome test”")
    expect(dialog.locator("#id_branch")).to_have_value("B")
    dialog.locator("#id_name").fill("Tag them hot")
    dialog.locator("#id_kind").select_option("action")
    dialog.locator("#id_server_action").select_option(label='Add tag "Hot"')
    dialog.get_by_role("button", name="Add activity").click()
    expect(page.locator('[data-branch="B"] [data-activity="Tag them hot"]')).to_contain_text(
        "On branch B, at once"
    )
    expect(page.locator('[data-branch="Holdout"]')).to_contain_text("holdout: receives nothing")
    expect(page.locator('[data-branch="Holdout"]')).to_contain_text("control")
    child = Activity.objects.get(name="Tag them hot")
    assert (child.branch, child.trigger, child.parent.name) == ("B", "activity", "Welcome test")

    # The goal: the contact is tagged Customer, within 30 days; reaching it exits.
    page.locator("[data-edit-goal]").click()
    dialog = page.locator("#goal-dialog")
    dialog.get_by_role("button", name="Code").click()
    dialog.locator("textarea[name=goal_domain]").fill('[["tags.name", "=", "Customer"]]')
    dialog.locator("#id_goal_window_days").fill("30")
    dialog.locator("#id_exit_on_goal").check()
    dialog.get_by_role("button", name="Save goal").click()
    expect(page.locator(".toast")).to_contain_text("Goal saved")
    expect(page.locator("[data-goal]")).to_contain_text("Customer")
    expect(page.locator("[data-goal]")).to_contain_text("within 30 days of enrolment")
    campaign.refresh_from_db()
    assert (campaign.goal_domain, campaign.exit_on_goal) == ([["tags.name", "=", "Customer"]], True)

    # A test participant, sent down branch B from the test screen.
    page.get_by_role("link", name="Launch a test").click()
    page.fill("#test-q", "Person 01")
    expect(page.locator("#test-records tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Test on Person 01").click()
    page.get_by_role("button", name="Run Welcome test down branch B").click()
    expect(page.locator("[data-assigned-branch]")).to_have_attribute("data-assigned-branch", "B")
    tagged = page.locator('[data-trace="Tag them hot"]')
    expect(tagged).to_have_attribute("data-state", "scheduled")
    tagged.get_by_role("button", name=re.compile("^Run")).click()
    expect(page.locator('[data-trace="Tag them hot"]')).to_have_attribute("data-state", "processed")
    participant = Participant.objects.get(campaign=campaign, is_test=True)
    assert participant.assignments.get().branch == "B"

    # The goal is reached: the contact gets the tag on its own page.
    contact = participant.record
    page.goto(live_server.url + f"/records/contacts/{contact.pk}/edit/")
    page.fill("#id_tags", "Hot, Customer")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".toast")).to_contain_text("saved")
    participant.refresh_from_db()
    assert participant.converted_at is not None

    # The Results tab: the split compared (nobody real yet) and the test participant.
    page.goto(live_server.url + f"/campaigns/{campaign.pk}/")
    page.get_by_role("link", name="Results").click()
    expect(page).to_have_url(live_server.url + f"/campaigns/{campaign.pk}/results/")
    result = page.locator('[data-split="Welcome test"]')
    expect(result).to_contain_text("control: Holdout")
    expect(result.locator("svg.interval-chart")).to_be_visible()
    expect(result.locator('[data-branch-row="B"] [data-verdict]')).to_have_text(
        "Not enough data yet"
    )
    expect(result.locator("[data-statistics]")).to_contain_text("two-proportion z-test")
    row = page.locator('[data-test-row="Person 01"]')
    expect(row.locator("[data-test-branch]")).to_have_text("Welcome test: B")
    expect(row.locator("[data-test-converted]")).to_contain_text("reached")
    page.goto(live_server.url + f"/campaigns/{campaign.pk}/tests/{participant.pk}/")
    expect(page.locator("[data-converted]")).to_contain_text("Goal reached")
