"""The SMS template editor in a real browser: the counter follows the text as it is typed
(counted on the server by mailing/sms_text.py), the opt-out footer included."""

import pytest
from playwright.sync_api import expect

from drumbeat.mailing.models import Template

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_sms_counter_follows_the_text_and_the_footer(page, live_server, bob, contacts):
    login(page, live_server, "bob")
    page.goto(live_server.url + "/configuration/templates/new/sms/")
    counter = page.locator("#sms-template-count")
    per_record = page.locator("[data-sms-count]")
    text = page.locator("#id_body_text")

    page.fill("#id_name", "Spring")
    text.fill("a" * 160)
    expect(counter).to_have_text(
        "160 characters · 1 segment (GSM-7) as sent, placeholders as written"
    )
    text.press("End")
    text.type("€")  # an extension character: 162 septets, two segments
    expect(counter).to_contain_text("161 characters · 2 segments (GSM-7)")
    page.get_by_label("Opt-out footer").check()  # "\nReply STOP to opt out": 22 more
    expect(counter).to_contain_text("183 characters · 2 segments (GSM-7)")
    text.press("End")
    text.type("✓")  # not GSM-7: the whole text is UCS-2, 184 units, 67 a segment
    expect(counter).to_contain_text("184 characters · 3 segments (UCS-2)")
    expect(per_record).to_have_text("184 characters · 3 segments (UCS-2) for Person 29, as sent")
    expect(page.locator("[data-preview-text]")).to_contain_text("Reply STOP to opt out")

    page.get_by_role("button", name="Create template").click()
    expect(page.locator(".toast")).to_contain_text("created")
    template = Template.objects.get()
    assert template.sms_optout_footer is True
    assert template.body_text == "a" * 160 + "€✓"
