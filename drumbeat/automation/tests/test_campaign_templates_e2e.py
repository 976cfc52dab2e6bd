"""The six campaign templates of docs/product.md#campaign-templates, end to end, through the real
channels.

Emails go over SMTP to a loopback server; opens, clicks and unsubscribes request the URLs found
in the received messages; bounces (RFC 3464 reports) and replies are delivered over SMTP to the
inbound server of `drumbeat inbound-smtp`; the engine runs its one-pass `drumbeat tick`
equivalent under a controlled clock. Each test checks the business effect the card promises.
"""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from django.contrib.contenttypes.models import ContentType
from django.db import connections

from drumbeat.automation import services
from drumbeat.automation.campaign_templates import instantiate
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Participant, Trace
from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.mailing import inbound as inbound_server
from drumbeat.mailing.inbound import make_controller
from drumbeat.mailing.models import (
    EmailBlacklist,
    MailingContact,
    MailingList,
    Message,
    Subscription,
)
from drumbeat.timeline.models import Note, Task

from .fixtures import START, free_port, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
INBOUND = "in.example.org"


# --- the outside world: an SMTP server receiving our mail, mailboxes answering it ------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage

    @property
    def html(self) -> str:
        for part in self.message.walk():
            if part.get_content_type() == "text/html":
                return part.get_content()
        raise AssertionError("no HTML part")

    def links(self) -> list[tuple[str, str]]:
        """(url, text) of every link of the HTML part."""
        found = re.findall(r'<a\b[^>]*?href="([^"]+)"[^>]*>(.*?)</a>', self.html, re.S)
        return [(url, re.sub(r"<[^>]+>|\s+", " ", text).strip()) for url, text in found]

    def link(self, text: str) -> str:
        return next(url for url, label in self.links() if label == text)

    @property
    def pixel(self) -> str:
        return re.findall(r'<img[^>]+src="([^"]+/t/o/[^"]+)"', self.html)[0]


@dataclass
class Mailbox:
    """What the loopback SMTP server received, by recipient."""

    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def subjects(self, address: str) -> list[str]:
        return [str(r.message["Subject"]) for r in self.to(address)]

    def one(self, address: str) -> Received:
        found = self.to(address)
        assert len(found) == 1, f"{len(found)} messages to {address}"
        return found[0]


@pytest.fixture
def mailbox(settings):
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_URL = f"smtp://127.0.0.1:{port}?timeout=5"
    settings.BASE_URL = "http://testserver"
    settings.FROM_EMAIL = "Drumbeat <news@example.org>"
    settings.INBOUND_DOMAIN = INBOUND
    settings.DKIM_DOMAIN = settings.DKIM_SELECTOR = settings.DKIM_KEY_FILE = ""
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def inbound(mailbox, monkeypatch):
    """`drumbeat inbound-smtp` on a loopback port; returns deliver(to, data)."""
    process = inbound_server._process_in_thread

    def process_then_disconnect(*args):
        # The server's worker threads would keep their connection (CONN_MAX_AGE on
        # PostgreSQL) and block dropping the test database.
        try:
            return process(*args)
        finally:
            connections.close_all()

    monkeypatch.setattr(inbound_server, "_process_in_thread", process_then_disconnect)
    port = free_port()
    controller = make_controller("127.0.0.1", port)
    controller.start()

    def deliver(to: str, data: bytes, sender: str = "") -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(sender, [to], data)

    try:
        yield deliver
    finally:
        controller.stop()


REPORTS = {
    "user unknown": ("failed", "5.1.1", "550 5.1.1 <{}>: Recipient address rejected: User unknown"),
    "mailbox full": ("failed", "5.2.2", "552 5.2.2 <{}>: Mailbox full"),
    "delayed": (
        "delayed",
        "4.4.1",
        "connect to mx.example.net[192.0.2.9]:25: Connection timed out",
    ),
}


def bounce_back(deliver, received: Received, reason: str = "user unknown") -> None:
    """The recipient's MTA answers with an RFC 3464 report to the envelope sender."""
    recipient = received.rcpt_tos[0]
    action, status, diagnostic = REPORTS[reason]
    diagnostic = diagnostic.format(recipient)
    report = f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: {received.mail_from}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="REPORT"

--REPORT
Content-Type: text/plain

Your message could not be delivered to {recipient}.

--REPORT
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--REPORT
Content-Type: text/rfc822-headers

From: {received.message["From"]}
To: {recipient}
Subject: {received.message["Subject"]}
Message-ID: {received.message["Message-ID"]}

--REPORT--
"""
    deliver(received.mail_from, report.replace("\n", "\r\n").encode())


def reply_to(deliver, received: Received, text: str) -> None:
    """The recipient answers from their mail client (to Reply-To, quoting the Message-ID)."""
    reply = (
        f"From: {received.rcpt_tos[0]}\r\n"
        f"To: {received.message['Reply-To']}\r\n"
        f"Subject: Re: {received.message['Subject']}\r\n"
        f"In-Reply-To: {received.message['Message-ID']}\r\n"
        f"References: {received.message['Message-ID']}\r\n"
        "\r\n"
        f"{text}\r\n"
    )
    deliver(str(received.message["Reply-To"]), reply.encode(), sender=received.rcpt_tos[0])


def visit(client, url: str, method: str = "get", **data):
    """A person's browser following a link of the email."""
    path = url.replace("http://testserver", "")
    return getattr(client, method)(path, data or None, HTTP_USER_AGENT=BROWSER)


def tick_at(clock, at: datetime) -> None:
    clock.move_to(at)
    run_once()


def enrolled(campaign) -> set[int]:
    return set(
        Participant.objects.filter(campaign=campaign, is_test=False).values_list(
            "record_id", flat=True
        )
    )


def tasks_of(record) -> list[Task]:
    ct = ContentType.objects.get_for_model(type(record))
    return list(Task.objects.filter(content_type=ct, object_id=record.pk).order_by("id"))


def notes_of(record) -> list[str]:
    ct = ContentType.objects.get_for_model(type(record))
    return list(
        Note.objects.filter(content_type=ct, object_id=record.pk).values_list("body", flat=True)
    )


def due(at: datetime, days: int = 2) -> date:
    return (at + timedelta(days=days)).date()


@pytest.fixture
def sofia(db):
    user = make_user("sofia")
    user.first_name = "Sofia"
    user.save(update_fields=["first_name"])
    return user


@pytest.fixture
def bob(db):
    return make_user("bob")


# --- Tag Hot Contacts ------------------------------------------------------------------------


def test_tag_hot_contacts_tags_clickers_and_asks_to_check_bounced_addresses(
    clock, bob, sofia, mailbox, inbound, client
):
    ann = Contact.objects.create(name="Ann", email="ann@example.com", salesperson=sofia)
    ben = Contact.objects.create(name="Ben", email="ben@example.com", salesperson=sofia)
    cat = Contact.objects.create(name="Cat", email="cat@example.com", salesperson=sofia)
    nomail = Contact.objects.create(name="Dan", salesperson=sofia)
    EmailBlacklist.objects.create(email="eve@example.com", reason="asked")
    eve = Contact.objects.create(name="Eve", email="eve@example.com")
    campaign = instantiate("tag_hot_contacts", bob)
    services.start_campaign(campaign, bob)
    assert enrolled(campaign) == {ann.pk, ben.pk, cat.pk, eve.pk}
    assert nomail.pk not in enrolled(campaign)

    tick_at(clock, START + 2 * HOUR)
    eve_email = Trace.objects.get(
        participant__record_id=eve.pk, activity__name="Send welcome email"
    )
    assert (eve_email.state, eve_email.reason) == ("cancelled", "blacklisted")
    assert not Message.objects.filter(recipient="eve@example.com", state="sent").exists()
    welcome = mailbox.one("ann@example.com")
    assert welcome.message["Subject"] == "Welcome, Ann!"
    assert "/u/" in welcome.link("Unsubscribe")

    clock.move_to(START + 3 * HOUR)
    assert visit(client, welcome.link("Get started")).status_code == 302
    assert visit(client, mailbox.one("cat@example.com").pixel).status_code == 200
    # A hard bounce blacklists Ben at once; he stays in the campaign for its bounce branch.
    bounce_back(inbound, mailbox.one("ben@example.com"))
    assert Message.objects.get(recipient="ben@example.com").state == "bounced"
    assert EmailBlacklist.objects.filter(email="ben@example.com", active=True).exists()

    tick_at(clock, START + 5 * HOUR)
    hot = {c.name for c in Contact.objects.filter(tags__name="Hot")}
    assert hot == {"Ann"}
    [check] = tasks_of(ben)
    assert (check.kind, check.summary, check.assigned_to, check.done) == (
        "todo",
        "Check email address",
        sofia,
        False,
    )
    assert check.due_date == due(START + 5 * HOUR)
    assert tasks_of(ann) == [] and tasks_of(cat) == []


# --- Welcome Flow ----------------------------------------------------------------------------


def test_welcome_flow_blacklists_bounced_addresses_only(clock, bob, mailbox, inbound):
    MailingContact.objects.create(name="Ann", email="ann@example.com")
    MailingContact.objects.create(name="Ben", email="Ben@Example.com")
    campaign = instantiate("welcome_flow", bob)
    services.start_campaign(campaign, bob)

    tick_at(clock, START + 2 * HOUR)
    offer = mailbox.one("ann@example.com")
    assert offer.message["Subject"] == "Your 10% welcome discount is inside"
    assert "WELCOME10" in offer.html

    clock.move_to(START + 3 * HOUR)
    # A soft bounce: the suppression policy waits for five; the flow's own branch does not.
    bounce_back(inbound, mailbox.one("ben@example.com"), "mailbox full")
    tick_at(clock, START + 4 * HOUR)
    assert not EmailBlacklist.objects.filter(email="ben@example.com").exists()  # after 2 hours

    tick_at(clock, START + 5 * HOUR)
    blacklisted = set(EmailBlacklist.objects.filter(active=True).values_list("email", flat=True))
    assert blacklisted == {"ben@example.com"}


def test_welcome_flow_does_not_blacklist_on_a_delay_notice(clock, bob, mailbox, inbound):
    MailingContact.objects.create(name="Ben", email="ben@example.com")
    campaign = instantiate("welcome_flow", bob)
    services.start_campaign(campaign, bob)
    tick_at(clock, START + 2 * HOUR)

    clock.move_to(START + 3 * HOUR)
    bounce_back(inbound, mailbox.one("ben@example.com"), "delayed")
    tick_at(clock, START + 6 * HOUR)

    assert not EmailBlacklist.objects.exists()
    message = Message.objects.get(recipient="ben@example.com")
    assert (message.state, message.bounced_at) == ("sent", None)
    assert list(message.inbound_events.values_list("kind", "status")) == [("delay", "4.4.1")]
    blacklist_step = Trace.objects.get(activity__name="Blacklist bounced address")
    assert (blacklist_step.state, blacklist_step.scheduled_at) == ("scheduled", None)


# --- Double Opt-in ---------------------------------------------------------------------------


def test_double_optin_confirms_newsletter_subscribers_who_click_confirm(
    clock, bob, mailbox, client
):
    newsletter = MailingList.objects.create(name="Newsletter")
    customers = MailingList.objects.create(name="Customers")
    ann = MailingContact.objects.create(name="Ann", email="ann@example.com")
    ben = MailingContact.objects.create(name="Ben", email="ben@example.com")
    cat = MailingContact.objects.create(name="Cat", email="cat@example.com")
    dan = MailingContact.objects.create(name="Dan", email="dan@example.com")
    Subscription.objects.create(contact=ann, list=newsletter)
    Subscription.objects.create(contact=ben, list=newsletter)
    Subscription.objects.create(contact=cat, list=customers)
    Subscription.objects.create(contact=dan, list=newsletter, opt_out=True)
    campaign = instantiate("double_optin", bob)
    services.start_campaign(campaign, bob)
    assert enrolled(campaign) == {ann.pk, ben.pk}

    tick_at(clock, START + HOUR)
    assert sorted(r.rcpt_tos[0] for r in mailbox.received) == ["ann@example.com", "ben@example.com"]
    confirmation = mailbox.one("ann@example.com")
    tracked = [url for url, _ in confirmation.links() if "/r/" in url]
    assert [text for url, text in confirmation.links() if "/r/" in url] == ["Confirm"]
    assert len(tracked) == 1

    clock.move_to(START + 2 * HOUR)
    assert visit(client, confirmation.link("Confirm")).status_code == 302
    run_once()  # the runner's pass right after the click: delay 0
    confirmed = MailingList.objects.get(name="Confirmed contacts")
    assert set(confirmed.contacts.values_list("name", flat=True)) == {"Ann"}

    unsubscribe = mailbox.one("ben@example.com").link("Unsubscribe")
    assert visit(client, unsubscribe).status_code == 200
    assert visit(client, unsubscribe, "post", action="unsubscribe").status_code == 200
    tick_at(clock, START + 3 * DAY)
    assert set(confirmed.contacts.values_list("name", flat=True)) == {"Ann"}
    assert Subscription.objects.get(contact=ben, list=newsletter).opt_out
    assert Participant.objects.get(campaign=campaign, record_id=ben.pk).state == "removed"


# --- Commercial prospection ------------------------------------------------------------------


def test_commercial_prospection_follows_up_on_clicks_silence_and_replies(
    clock, bob, sofia, mailbox, inbound, client
):
    ann = Contact.objects.create(name="Ann", email="ann@example.com", salesperson=sofia)
    ben = Contact.objects.create(name="Ben", email="ben@example.com", salesperson=sofia)
    cat = Contact.objects.create(name="Cat", email="cat@example.com", salesperson=sofia)
    campaign = instantiate("commercial_prospection", bob)
    services.start_campaign(campaign, bob)

    tick_at(clock, START + HOUR)
    offer = "Your free copy of our new catalog"
    assert mailbox.subjects("ann@example.com") == [offer]
    clock.move_to(START + 2 * HOUR)
    visit(client, mailbox.one("ann@example.com").link("Get the free catalog"))
    clock.move_to(START + 3 * HOUR)
    reply_to(inbound, mailbox.one("cat@example.com"), "Interesting, can someone call me?")

    tick_at(clock, START + 4 * HOUR)
    assert notes_of(cat) == ["Cat is interested"]
    [call] = tasks_of(cat)
    assert (call.kind, call.assigned_to, call.due_date) == ("call", sofia, due(START + 4 * HOUR))
    assert notes_of(ann) == notes_of(ben) == [] and tasks_of(ann) == tasks_of(ben) == []

    tick_at(clock, START + 2 * HOUR + 3 * DAY - timedelta(minutes=1))
    assert mailbox.subjects("ann@example.com") == [offer]
    tick_at(clock, START + 2 * HOUR + 3 * DAY)
    assert mailbox.subjects("ann@example.com") == [offer, "Become a partner, Ann"]

    tick_at(clock, START + HOUR + 7 * DAY)
    assert mailbox.subjects("ben@example.com") == [offer, "Did you see our catalog?"]
    assert mailbox.subjects("ann@example.com") == [offer, "Become a partner, Ann"]
    assert mailbox.subjects("cat@example.com") == [offer]


# --- Schedule Calls --------------------------------------------------------------------------


def test_schedule_calls_plans_a_call_for_leads_of_existing_contacts(clock, bob, sofia):
    contact = Contact.objects.create(name="Ann", email="ann@example.com", salesperson=sofia)
    lead = Lead.objects.create(
        title="Pilot", contact=contact, email="ann@example.com", salesperson=sofia
    )
    no_seller = Lead.objects.create(title="Audit", contact=contact, email="ann@example.com")
    no_contact = Lead.objects.create(title="Training", email="zed@example.com", salesperson=sofia)
    campaign = instantiate("schedule_calls", bob)
    services.start_campaign(campaign, bob)
    assert enrolled(campaign) == {lead.pk}

    tick_at(clock, START + HOUR)
    assert tasks_of(lead) == []
    tick_at(clock, START + 2 * HOUR)
    [call] = tasks_of(lead)
    assert (call.kind, call.assigned_to, call.due_date) == ("call", sofia, due(START + 2 * HOUR))
    assert tasks_of(no_seller) == [] and tasks_of(no_contact) == []


# --- Prioritize Hot leads --------------------------------------------------------------------


def test_prioritize_hot_leads_raises_openers_and_lowers_the_silent(
    clock, bob, sofia, mailbox, client
):
    def lead(title: str, email: str, seller=sofia) -> Lead:
        return Lead.objects.create(
            title=title, contact_name=title, email=email, salesperson=seller, priority=1
        )

    _quick, silent, late = (
        lead("Ann", "ann@example.com"),
        lead("Ben", "ben@example.com"),
        lead("Cat", "cat@example.com"),
    )
    orphan = lead("Dan", "dan@example.com", seller=None)
    campaign = instantiate("prioritize_hot_leads", bob)
    services.start_campaign(campaign, bob)
    assert orphan.pk not in enrolled(campaign)

    tick_at(clock, START + HOUR)
    welcome = mailbox.one("ann@example.com")
    assert welcome.message["Subject"] == "Thanks for reaching out, Ann"
    assert re.search(r"Sofia\s+will take care of it personally", welcome.html)

    clock.move_to(START + 2 * HOUR)
    assert visit(client, welcome.pixel).status_code == 200
    run_once()

    def priorities() -> dict[str, int]:
        return dict(Lead.objects.values_list("title", "priority"))

    assert priorities() == {"Ann": 3, "Ben": 1, "Cat": 1, "Dan": 1}
    tick_at(clock, START + 7 * HOUR)
    assert priorities() == {"Ann": 3, "Ben": 0, "Cat": 0, "Dan": 1}

    clock.move_to(START + 10 * HOUR)
    visit(client, mailbox.one("cat@example.com").pixel)
    run_once()
    assert priorities() == {"Ann": 3, "Ben": 0, "Cat": 3, "Dan": 1}
    assert silent.pk in enrolled(campaign) and late.pk in enrolled(campaign)
