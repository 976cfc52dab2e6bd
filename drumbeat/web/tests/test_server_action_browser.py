"""Configuration → Server actions in a real browser: the settings of the chosen action are the
ones saved, also where several actions have a setting of the same name (the list of add to /
remove from a list, the reason of the four blacklist actions) and only one of them shows."""

import pytest
from playwright.sync_api import expect

from drumbeat.automation.models import ServerAction
from drumbeat.mailing.models import MailingList

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def create(page, live_server, name: str, kind: str) -> None:
    page.goto(live_server.url + "/configuration/server-actions/new/")
    page.fill("#id_name", name)
    page.select_option("#id_target", "contacts.contact")
    page.select_option("#id_kind", kind)


def saved(page, name: str) -> ServerAction:
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".toast")).to_be_visible()
    return ServerAction.objects.get(name=name)


def test_a_marketer_saves_the_settings_of_the_action_shown(page, live_server, bob):
    MailingList.objects.create(name="Customers")
    newsletter = MailingList.objects.create(name="Newsletter")
    login(page, live_server, "bob")

    create(page, live_server, "Subscribe", "add_to_list")
    lists = page.locator("select[name=list_id]:visible")
    expect(lists).to_have_count(1)
    lists.select_option(label="Newsletter")
    assert saved(page, "Subscribe").params == {"list_id": newsletter.pk}

    create(page, live_server, "Unsubscribe", "remove_from_list")
    page.locator("select[name=list_id]:visible").select_option(label="Newsletter")
    assert saved(page, "Unsubscribe").params == {"list_id": newsletter.pk}

    create(page, live_server, "Do not mail", "blacklist_email")
    page.locator("input[name=reason]:visible").fill("Asked us to stop")
    assert saved(page, "Do not mail").params == {"reason": "Asked us to stop"}
