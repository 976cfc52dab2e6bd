"""The UI in a real browser (Debian's Chromium through Playwright) against a live server."""

import re

import pytest
from playwright.sync_api import expect

from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Campaign, Participant, Trace
from drumbeat.contacts.models import Contact
from drumbeat.mailing.models import Template

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_logs_in_and_shows_the_template_cards(page, live_server, bob):
    page.goto(live_server.url + "/campaigns/")
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    page.fill("#id_username", "bob")
    page.fill("#id_password", "wrong password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    login(page, live_server, "bob")
    expect(page).to_have_url(live_server.url + "/campaigns/")
    expect(page.locator(".template-card")).to_have_count(6)
    expect(page.get_by_text("Create from scratch")).to_be_visible()


def test_the_filter_builder_shows_a_false_yes_no_field_as_no(page, live_server, bob, contacts):
    login(page, live_server, "bob")
    page.goto(live_server.url + "/records/contacts/")
    page.locator("#filter-panel summary").click()
    builder = page.locator("#list-filter")
    builder.get_by_role("button", name="Code").click()
    builder.locator("textarea").fill('[["is_blacklisted", "=", false]]')
    builder.get_by_role("button", name="Apply to rules").click()
    rule = builder.locator("[data-fb-rule]").last
    # "Email is blacklisted = No", not "is not set" (false is a value of a yes/no field)
    expect(rule.locator("[data-fb-op]")).to_have_value("=")
    expect(rule.locator("[data-fb-value]")).to_have_value("false")
    rule.locator("[data-fb-value]").select_option("true")
    expect(builder.locator("textarea")).to_have_value('[["is_blacklisted","=",true]]')
    rule.locator("[data-fb-value]").select_option("false")
    expect(builder.locator("textarea")).to_have_value('[["is_blacklisted","=",false]]')


def test_it_searches_and_paginates_records(page, live_server, bob, contacts):
    login(page, live_server, "bob")
    page.goto(live_server.url + "/records/contacts/")
    expect(page.locator(".pagination")).to_contain_text("1–25 of 30")
    page.get_by_role("link", name="Next ›").click()
    expect(page.locator(".pagination")).to_contain_text("26–30 of 30")
    page.fill("#q", "person07")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results")).to_contain_text("Person 07")
    assert "q=person07" in page.url  # the search is in the address, for sharing and back


def test_the_filter_builder_changes_the_count(page, live_server, bob, contacts):
    login(page, live_server, "bob")
    page.goto(live_server.url + "/records/contacts/")
    page.locator("#filter-panel summary").click()
    builder = page.locator("#list-filter")
    expect(builder.locator("[data-fb-count]")).to_have_attribute("data-fb-count", "30")
    builder.locator("[data-fb-add-rule]").click()
    rule = builder.locator("[data-fb-rule]").last
    rule.locator('[data-fb-field="0"]').select_option("country")
    rule = builder.locator("[data-fb-rule]").last
    rule.locator("[data-fb-value]").fill("BE")
    rule.locator("[data-fb-value]").press("Tab")
    expect(builder.locator("[data-fb-count]")).to_have_attribute("data-fb-count", "3")
    # the code view shows the JSON and accepts edits; errors appear next to it
    builder.get_by_role("button", name="Code").click()
    textarea = builder.locator("textarea")
    expect(textarea).to_have_value('[["country","=","BE"]]')
    textarea.fill('[["country", "=", "BE"], ["tags.name", "=", "VIP"]]')
    expect(builder.locator("[data-fb-count]")).to_have_attribute("data-fb-count", "1")
    textarea.fill('[["shoe_size", "=", 1]]')
    expect(builder.locator("[data-fb-server-error]")).to_contain_text("unknown field 'shoe_size'")
    textarea.fill('[["country", "=", "BE"]]')
    builder.get_by_role("button", name="Apply to rules").click()
    expect(builder.locator("[data-fb-rule]")).to_have_count(1)
    # save it as a favorite, clear the filter, load the favorite back
    builder.get_by_role("button", name="Save as favorite").click()
    builder.get_by_label("Favorite name").fill("Belgians")
    builder.get_by_label("Favorite name").press("Enter")
    expect(builder.get_by_role("status")).to_contain_text("Saved “Belgians”")
    builder.get_by_role("button", name="Code").click()
    textarea.fill("[]")
    expect(builder.locator("[data-fb-count]")).to_have_attribute("data-fb-count", "30")
    builder.get_by_label("Favorite filters").select_option(label="Belgians")
    expect(builder.locator("[data-fb-count]")).to_have_attribute("data-fb-count", "3")
    builder.get_by_role("link", name="Show these records").click()
    expect(page.locator(".pagination")).to_contain_text("of 3")


def test_the_import_page_shows_progress_and_bad_lines(page, live_server, bob, tmp_path):
    lines = ["Name,Email"] + [f"Person {i},p{i}@example.com" for i in range(6000)]
    lines[42] = "Broken,not-an-email"
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    login(page, live_server, "bob")
    page.goto(live_server.url + "/records/contacts/import/")
    page.set_input_files("#id_file", str(path))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("progress")).to_be_visible()
    expect(page.locator("[data-import-done]")).to_be_attached(timeout=60_000)
    expect(page.locator("#import-problems")).to_contain_text("43")
    assert Contact.objects.count() == 5999


def test_the_activity_dialog_validates_inline(page, live_server, bob):
    Template.objects.create(
        name="Hello mail",
        kind="email",
        target="contacts.contact",
        subject="Hi",
        body_html="<p>Hi {{ record.name }}</p>",
    )
    Template.objects.create(name="Hello SMS", kind="sms", target="contacts.contact", body_text="Hi")
    login(page, live_server, "bob")
    page.goto(live_server.url + "/campaigns/new/")
    page.fill("#id_name", "Drip")
    page.get_by_role("button", name="Create campaign").click()
    page.get_by_role("link", name="Workflow").click()
    page.locator("[data-add-activity]").click()
    dialog = page.locator("#activity-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#id_name").fill("Welcome")
    dialog.get_by_role("button", name="Add activity").click()
    expect(page.locator("#activity-dialog")).to_contain_text("Choose a template")
    expect(page.locator("#activity-dialog")).to_be_visible()
    dialog = page.locator("#activity-dialog")
    expect(dialog.locator('#id_template option[data-kind="sms"]')).to_be_hidden()
    dialog.locator("#id_template").select_option(label="Hello mail")
    dialog.locator("#id_delay_amount").fill("2")
    dialog.get_by_role("button", name="Add activity").click()
    card = page.locator('[data-activity="Welcome"]')
    expect(card).to_contain_text("2 hours after enrolment")
    expect(page.locator(".toast")).to_contain_text("Activity “Welcome” added")


def test_a_marketers_whole_journey(page, live_server, bob, contacts):
    login(page, live_server, "bob")
    # the dashboard shows the template cards; create "Tag Hot Contacts" from its card
    page.locator('[data-template="tag_hot_contacts"]').click()
    campaign = Campaign.objects.get()
    expect(page).to_have_url(live_server.url + f"/campaigns/{campaign.pk}/settings/")
    builder = page.locator("#campaign-filter")
    expect(builder.locator("[data-fb-count]")).to_have_attribute("data-fb-count", "30")
    # narrow the filter with the builder: the count changes; save
    builder.locator("[data-fb-add-rule]").first.click()
    rule = builder.locator("[data-fb-rule]").last
    rule.locator('[data-fb-field="0"]').select_option("country")
    rule = builder.locator("[data-fb-rule]").last
    rule.locator("[data-fb-value]").fill("BE")
    rule.locator("[data-fb-value]").press("Tab")
    expect(builder.locator("[data-fb-count]")).to_have_attribute("data-fb-count", "3")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".toast")).to_contain_text("Campaign saved")
    campaign.refresh_from_db()
    assert ["country", "=", "BE"] in campaign.domain

    # launch a test on a contact and run the email step
    page.get_by_role("link", name="Launch a test").click()
    page.fill("#test-q", "Person 01")
    expect(page.locator("#test-records tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Test on Person 01").click()
    email_card = page.locator('[data-trace="Send welcome email"]')
    email_card.get_by_role("button", name=re.compile("^Run")).click()
    expect(page.locator('[data-trace="Send welcome email"]')).to_have_attribute(
        "data-state", "processed"
    )
    # simulate a click: the "add tag" child is scheduled; run it: the contact is tagged
    page.get_by_role("button", name="Simulate click on Send welcome email").click()
    expect(page.locator('[data-trace="Send welcome email"]')).to_contain_text("Clicked")
    tag_card = page.locator("[data-trace]", has_text="Hot").first
    tag_card.get_by_role("button", name=re.compile("^Run")).click()
    expect(page.locator("[data-trace]", has_text="Hot").first).to_have_attribute(
        "data-state", "processed"
    )
    contact = Contact.objects.get(name="Person 01")
    assert contact.tags.filter(name="Hot").exists()

    # start the campaign, run the worker: the activity card shows Success and its chart
    page.get_by_role("button", name="Start").click()
    expect(page.locator("[data-campaign-state]")).to_have_attribute(
        "data-campaign-state", "running"
    )
    Trace.objects.filter(state="scheduled", scheduled_at__isnull=False).update(
        scheduled_at=Trace.objects.order_by("created_at").first().created_at
    )
    run_once()
    page.goto(live_server.url + f"/campaigns/{campaign.pk}/")
    card = page.locator('[data-activity="Send welcome email"]')
    success = Participant.objects.filter(campaign=campaign, is_test=False).count()
    assert success == 2  # the other two Belgians; the tested contact stays a test participant
    expect(card.locator("[data-success]")).to_have_text(str(success))
    expect(card.locator("[data-chart] svg.chart")).to_be_visible()
    expect(card.locator("[data-mail-figures]")).to_contain_text("Sent")


def test_it_works_on_a_narrow_screen(browser, live_server, bob, contacts):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    login(page, live_server, "bob")
    page.goto(live_server.url + "/records/contacts/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 392  # no horizontal scrolling of the page itself
    expect(page.get_by_role("link", name="Records")).to_be_visible()
    context.close()


def test_destructive_actions_ask_first_and_work_from_the_keyboard(page, live_server, bob, contacts):
    contact = contacts[0]
    login(page, live_server, "bob")
    page.goto(live_server.url + f"/records/contacts/{contact.pk}/")
    archive = page.get_by_role("button", name="Archive")
    archive.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Archive contact “{contact.name}”?")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    contact.refresh_from_db()
    assert contact.active
    archive.click()
    dialog.get_by_role("button", name="Archive").click()
    expect(page.locator(".toast")).to_contain_text("archived")
    expect(page.locator(".badge.archived")).to_be_visible()
    contact.refresh_from_db()
    assert not contact.active
