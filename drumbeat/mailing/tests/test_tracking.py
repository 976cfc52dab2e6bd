"""Tracking and unsubscribe, driven by the URLs found in what the SMTP server received."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone

from drumbeat.lib import hooks
from drumbeat.mailing import rendering
from drumbeat.mailing.models import (
    Click,
    EmailBlacklist,
    Link,
    MailingContact,
    MailingList,
    Message,
    Subscription,
)
from drumbeat.mailing.sending import Recipient, send_emails
from drumbeat.mailing.tokens import make_token

from .conftest import RENDER_FIELDS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}


@pytest.fixture
def events():
    seen: list[hooks.MessageEvent] = []
    hooks.listen_message_event(seen.append)
    yield seen
    hooks._message_listeners.remove(seen.append)


@pytest.fixture(autouse=True)
def registered_fields():
    saved = dict(rendering.registered_render_fields())
    rendering.register_render_fields(RENDER_FIELDS)
    yield
    rendering.register_render_fields(saved)


@pytest.fixture
def sent(smtp_sink, mail_settings, email_template, alice):
    send_emails(
        email_template,
        [Recipient(1, alice, alice.email)],
        campaign_id=3,
        activity_id=7,
        render_fields=RENDER_FIELDS,
    )
    return Message.objects.get(trace_id=1), smtp_sink.received[0]


def path_of(url: str) -> str:
    return urlsplit(url).path


def later(minutes=5):
    return time_machine.travel(timezone.now() + timedelta(minutes=minutes))


def test_it_marks_clicked_and_opened_and_redirects(
    client, sent, events, django_capture_on_commit_callbacks
):
    message, received = sent
    tracked = [u for u in received.links() if "/r/" in u]

    with later(), django_capture_on_commit_callbacks(execute=True):
        response = client.get(path_of(tracked[0]), **BROWSER)

    assert response.status_code == 302
    assert response["Location"] == "https://example.com/offer?x=1&y=2"
    message.refresh_from_db()
    assert message.clicked_at is not None and message.opened_at is not None
    click = Click.objects.get()
    assert (click.message_id, click.is_machine) == (message.pk, False)
    assert click.ip == "127.0.0.1" and "Firefox" in click.user_agent
    assert [(e.kind, e.message_ids, e.machine) for e in events] == [
        ("open", (message.pk,), False),
        ("click", (message.pk,), False),
    ]


def test_it_marks_opened_by_the_pixel(client, sent, events, django_capture_on_commit_callbacks):
    message, received = sent
    pixel = next(u for u in received.links() + [received.part("text/html")] if "/t/o/" in u)
    pixel_url = f"/t/o/{message.token}"
    assert pixel_url in pixel

    with later(), django_capture_on_commit_callbacks(execute=True):
        response = client.get(pixel_url, **BROWSER)

    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    message.refresh_from_db()
    assert message.opened_at is not None and message.clicked_at is None
    assert [(e.kind, e.machine) for e in events] == [("open", False)]


@pytest.mark.parametrize(
    "how",
    [
        {"method": "head", "extra": BROWSER, "wait": 5},
        {"method": "get", "extra": {"HTTP_USER_AGENT": "Barracuda Sentinel (EE)"}, "wait": 5},
        {"method": "get", "extra": BROWSER, "wait": 0},
    ],
)
def test_it_flags_machine_clicks(client, sent, events, how, django_capture_on_commit_callbacks):
    message, received = sent
    url = path_of(next(u for u in received.links() if "/r/" in u))

    with later(how["wait"]), django_capture_on_commit_callbacks(execute=True):
        response = getattr(client, how["method"])(url, **how["extra"])

    assert response.status_code == 302
    assert Click.objects.get().is_machine
    assert {e.machine for e in events} == {True}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: make_token(),  # well-formed, signed, but no such message
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # altered signature
        lambda t: ("0" if t[0] != "0" else "1") + t[1:],  # altered nonce
        lambda t: t.upper() + "x",
        lambda t: "../" + t,
    ],
)
def test_it_refuses_forged_tokens_without_changes(client, sent, mutate):
    message, received = sent
    code = path_of(next(u for u in received.links() if "/r/" in u)).split("/")[2]
    forged = mutate(message.token)

    for url in [f"/r/{code}/{forged}", f"/t/o/{forged}", f"/u/{forged}", f"/v/{forged}"]:
        assert client.get(url, **BROWSER).status_code == 404, url
    assert client.post(f"/u/{forged}").status_code == 404
    assert client.post(f"/u/{forged}/one-click").status_code == 404
    message.refresh_from_db()
    assert (message.opened_at, message.clicked_at) == (None, None)
    assert not Click.objects.exists() and not EmailBlacklist.objects.exists()


def test_it_refuses_a_token_replayed_onto_another_mailing_link(
    client, sent, mail_settings, email_template, bob
):
    message, received = sent
    send_emails(
        email_template,
        [Recipient(2, bob, bob.email)],
        campaign_id=4,
        activity_id=99,
        render_fields=RENDER_FIELDS,
    )
    other_code = Link.objects.get(activity_id=99, url__contains="about").code

    assert client.get(f"/r/{other_code}/{message.token}", **BROWSER).status_code == 404
    assert not Click.objects.exists()


def test_it_redirects_only_to_the_recorded_url(client, sent):
    message, received = sent
    url = path_of(next(u for u in received.links() if "/r/" in u))

    for attempt in [
        url + "?url=https://evil.example",
        url + "?next=//evil.example",
        url + "/https://evil.example",
        "/r/https://evil.example",
        "/r/%2F%2Fevil.example/" + message.token,
    ]:
        response = client.get(attempt, **BROWSER)
        assert response.status_code in (302, 404)
        if response.status_code == 302:
            assert response["Location"] == "https://example.com/offer?x=1&y=2"


def test_it_counts_untokened_link_clicks_without_a_message(client, sent):
    message, received = sent
    code = path_of(next(u for u in received.links() if "/r/" in u)).split("/")[2]

    response = client.get(f"/r/{code}", **BROWSER)

    assert response.status_code == 302
    assert Click.objects.get().message is None


def test_it_confirms_unsubscribe_on_get_without_acting(client, sent):
    message, received = sent
    unsubscribe = next(u for u in received.links() if "/u/" in u)

    response = client.get(path_of(unsubscribe), **BROWSER)

    assert response.status_code == 200
    assert b"Unsubscribe?" in response.content
    assert b"alice@example.com" in response.content
    assert not EmailBlacklist.objects.exists()


def test_it_blacklists_on_post(client, sent):
    message, _ = sent

    response = client.post(f"/u/{message.token}")

    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    assert EmailBlacklist.objects.get().email == "alice@example.com"
    client.post(f"/u/{message.token}", {"action": "reason", "reason": "Too many emails"})
    assert EmailBlacklist.objects.get().reason == "unsubscribed: Too many emails"


def test_it_unsubscribes_with_the_rfc8058_one_click_post(sent):
    from django.test import Client

    message, received = sent
    header = received.parsed["List-Unsubscribe"]
    https_url = header.split(", ")[1].strip("<>")
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(
        path_of(https_url),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert EmailBlacklist.objects.filter(email="alice@example.com", active=True).exists()


def test_it_sends_a_browser_get_on_one_click_to_the_confirmation(client, sent):
    message, _ = sent

    response = client.get(f"/u/{message.token}/one-click", **BROWSER)

    assert response.status_code == 302 and response["Location"] == f"/u/{message.token}"
    assert not EmailBlacklist.objects.exists()


def test_it_shows_the_message_online(client, sent):
    message, received = sent
    view = next(u for u in received.links() if "/v/" in u)

    with later():
        response = client.get(path_of(view), **BROWSER)

    assert response.status_code == 200
    assert b"Hello Alice," in response.content
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert "script-src" not in response["Content-Security-Policy"]
    message.refresh_from_db()
    assert message.opened_at is not None


def test_it_says_when_the_online_version_is_gone(client, sent):
    message, _ = sent
    message.template.body_html = "{{ record.nosuchfield }}"
    message.template.save()

    response = client.get(f"/v/{message.token}", **BROWSER)

    assert response.status_code == 410
    assert b"no longer available" in response.content


def test_it_opts_list_contacts_out_of_their_lists_and_offers_them_again(
    client, smtp_sink, mail_settings
):
    from drumbeat.mailing.models import Template

    news = MailingList.objects.create(name="Newsletter", is_public=True)
    offers = MailingList.objects.create(name="Offers", is_public=True)
    MailingList.objects.create(name="Internal", is_public=False)
    carol = MailingContact.objects.create(name="Carol", email="carol@example.com")
    Subscription.objects.create(contact=carol, list=news)
    Subscription.objects.create(contact=carol, list=offers)
    template = Template.objects.create(
        name="News", target="mailing.mailingcontact", subject="News", body_html="<p>Hi</p>"
    )
    send_emails(
        template, [Recipient(5, carol, carol.email)], campaign_id=1, activity_id=1,
        render_fields=RENDER_FIELDS,
    )  # fmt: skip
    message = Message.objects.get(trace_id=5)

    response = client.post(f"/u/{message.token}")

    assert b"Newsletter" in response.content and b"Internal" not in response.content
    assert set(Subscription.objects.values_list("opt_out", flat=True)) == {True}
    assert not EmailBlacklist.objects.exists()
    client.post(f"/u/{message.token}", {"action": "resubscribe", "lists": [str(news.pk)]})
    assert dict(Subscription.objects.values_list("list__name", "opt_out")) == {
        "Newsletter": False,
        "Offers": True,
    }


def test_an_open_costs_one_update_and_a_repeated_open_none(client, sent, events):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    message, _ = sent
    url = f"/t/o/{message.token}"
    with later(), CaptureQueriesContext(connection) as first:
        assert client.get(url, **BROWSER).status_code == 200
    with later(10), CaptureQueriesContext(connection) as again:
        assert client.get(url, **BROWSER).status_code == 200

    writes = [q["sql"] for q in first.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(writes) == 1 and "opened_at" in writes[0]
    # The message lookup only: no session, user or second read of the message.
    assert [q["sql"].split()[0] for q in again.captured_queries] == ["SELECT"]
    message.refresh_from_db()
    assert message.opened_at is not None
