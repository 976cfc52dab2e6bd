"""The campaign part of the demo: campaigns with 15 days of history made by the real engine.

`seed_campaigns()` builds three campaigns from the campaign templates
(docs/product.md#campaign-templates) and replays the last
`DAYS` days under `drumbeat.lib.clock.replay`: the clock moves hour by hour and, like the
runner that sleeps until the next due trace, the engine makes its pass (`run_once`: send, run
actions; the filter sync in the day's first pass) whenever work is due; emails go to the
outbox.

Audiences grow during those days, as a marketer's do (`Newcomers`): Belgians sign up for the
newsletter or get its tag, salespeople mark contacts in FR, NL and DE as prospects, new leads
come in — more on weekdays, at the hours people do such things. Each arrives through the
service a form or a user would call (`create_contact`, `add_tags`, `create_lead`), whose
`records_changed` report enrols the record at once in the running campaigns; those present
when a campaign starts (about a third) are enrolled by its start.

The recipients' reactions — opens, clicks, replies and bounces at plausible rates and delays —
are recorded through mailing's own event functions at the moment they happen. The leads
campaign runs its template's experiment (a split: welcome email, a shorter one with a
livelier call to action, or nothing; goal: the lead is won): salespeople win leads day after
day (`Newcomers.win_leads`, through the CRM service), more often those who opened or clicked
a welcome email, so its Results tab compares the branches on real conversions. A happening that
makes work due at once wakes the engine (a pass without the filter sync), as `wakeup.wake()`
does. Every trace, message, click, tag, task and note in the result was written by the engine
and the channels, none around them. A fourth campaign is left New, ready to test. Idempotent
(nothing happens when the demo campaigns exist) and deterministic (fixed-seed generators).
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import connection
from django.utils import timezone

from drumbeat.accounts.models import User
from drumbeat.automation import campaign_templates, services
from drumbeat.automation.engine.execute import next_due_at
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Campaign
from drumbeat.contacts import services as contact_services
from drumbeat.contacts.models import Contact
from drumbeat.crm import services as crm_services
from drumbeat.crm.models import Lead
from drumbeat.demo import DAYS, PRODUCTS, PersonFactory, salespeople
from drumbeat.lib import clock
from drumbeat.mailing import events
from drumbeat.mailing.models import Link, Message

log = logging.getLogger(__name__)

STEP = dt.timedelta(hours=1)
OPEN_RATE = 0.40
CLICK_RATE = 0.11  # of sent messages (a subset of the opens)
REPLY_RATE = 0.03
BOUNCE_RATE = 0.018
# Emails whose call to action draws more clicks than the others (by template name).
CLICK_APPEAL = {"Prioritize Hot leads: short welcome email": 1.8}
# How much likelier a salesperson wins a lead who opened / clicked its welcome email.
WIN_WEIGHT_OPENED, WIN_WEIGHT_CLICKED = 3, 10
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
]


@dataclass(frozen=True)
class DemoCampaign:
    template: str
    name: str
    extra_domain: list
    starts_after: dt.timedelta  # from the beginning of the replayed period
    split: bool = False  # with the template's optional experiment


READERS_COUNTRY, PROSPECT_COUNTRIES = "BE", ["FR", "NL", "DE"]
RUNNING = [
    DemoCampaign(
        "tag_hot_contacts",
        "Tag Hot Contacts: Belgian newsletter readers",
        [["country", "=", READERS_COUNTRY], ["tags.name", "=", "Newsletter"]],
        dt.timedelta(hours=9),
    ),
    DemoCampaign(
        "commercial_prospection",
        "Commercial prospection: prospects in FR, NL and DE",
        [["tags.name", "=", "Prospect"], ["country", "in", PROSPECT_COUNTRIES]],
        dt.timedelta(days=1, hours=10),
    ),
    DemoCampaign(
        "prioritize_hot_leads",
        "Prioritize Hot leads: new leads",
        [["stage.name", "=", "New"]],
        dt.timedelta(days=2, hours=8),
        split=True,
    ),
]
READY = DemoCampaign("welcome_flow", "Welcome Flow", [], dt.timedelta(0))
NAMES = [c.name for c in [*RUNNING, READY]]


Act = Callable[[dt.datetime], int]  # does something at a time; returns how many records


@dataclass(order=True)
class _Happening:
    at: dt.datetime
    seq: int
    kind: str = field(compare=False)  # open | click | reply | bounce, or a newcomer's kind
    act: Act = field(compare=False)


@dataclass
class Replay:
    """The world's side of the replay: reactions and newcomers waiting for their time."""

    rng: random.Random
    end: dt.datetime
    queue: list[_Happening] = field(default_factory=list)
    links: dict[tuple[int | None, int | None], list[Link]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    campaign_ids: list[int] = field(default_factory=list)
    last_message_id: int = 0
    pushed: int = 0
    synced_on: dt.date | None = None
    next_due: dt.datetime | None = None  # asked again when it may have come closer

    def engine_pass(self, at: dt.datetime, woken: bool = False) -> None:
        """The runner's pass at `at` (`drumbeat tick`) — or, when an event woke it, the
        execution of what became due — then the recipients of what it sent decide how they
        will react. The filter sync runs in the first pass of each day only: newcomers are
        enrolled by their services already, so it has little to find, and it is the costly
        part of a pass."""
        day = timezone.localtime(at).date()
        sync = not woken and day != self.synced_on
        if sync:
            self.synced_on = day
        run_once(at, enrol=sync)
        self.react_to_new_messages()
        self.look_for_due_work()

    def look_for_due_work(self) -> None:
        self.next_due = next_due_at()

    def is_due(self, at: dt.datetime) -> bool:
        return self.next_due is not None and self.next_due <= at

    def push(self, at: dt.datetime, kind: str, act: Act) -> None:
        if at <= self.end:
            self.pushed += 1
            heapq.heappush(self.queue, _Happening(at, self.pushed, kind, act))

    def react(self, at: dt.datetime, kind: str, message_id: int) -> None:
        self.push(at, kind, partial(self._record, kind, message_id))

    def react_to_new_messages(self) -> None:
        """Decide, for each message sent since the last call, what its recipient will do."""
        rows = list(
            Message.objects.filter(
                campaign_id__in=self.campaign_ids, pk__gt=self.last_message_id, state="sent"
            )
            .order_by("pk")
            .values_list("pk", "sent_at", "template__name")
        )
        for pk, sent_at, template in rows:
            self.last_message_id = pk
            self._draw(pk, sent_at, CLICK_APPEAL.get(template, 1.0))

    def _draw(self, pk: int, sent_at: dt.datetime, appeal: float = 1.0) -> None:
        rng = self.rng
        if rng.random() < BOUNCE_RATE:
            self.react(sent_at + dt.timedelta(minutes=rng.randint(1, 25)), "bounce", pk)
            return
        if rng.random() >= OPEN_RATE:
            return
        opened = sent_at + self._open_delay()
        conversion = rng.random()
        if conversion < appeal * CLICK_RATE / OPEN_RATE:
            self.react(opened + dt.timedelta(seconds=rng.randint(20, 900)), "click", pk)
        elif conversion < (appeal * CLICK_RATE + REPLY_RATE) / OPEN_RATE:
            self.react(opened, "open", pk)
            self.react(opened + dt.timedelta(minutes=rng.randint(10, 360)), "reply", pk)
        else:
            self.react(opened, "open", pk)

    def _open_delay(self) -> dt.timedelta:
        """Most people open within hours, some the next days."""
        r = self.rng.random()
        if r < 0.5:
            return dt.timedelta(minutes=self.rng.randint(2, 180))
        if r < 0.8:
            return dt.timedelta(minutes=self.rng.randint(180, 24 * 60))
        return dt.timedelta(minutes=self.rng.randint(24 * 60, 4 * 24 * 60))

    def happen_until(self, until: dt.datetime, replayed: clock.ReplayClock) -> None:
        """Make what is due by `until` happen, each at its own time."""
        while self.queue and self.queue[0].at <= until:
            happening = heapq.heappop(self.queue)
            replayed.move_to(happening.at)
            # Work already due waits for the hour's pass; work this makes due at once (a
            # child without delay) wakes the runner.
            waiting = self.is_due(happening.at)
            done = happening.act(happening.at)
            self.counts[happening.kind] = self.counts.get(happening.kind, 0) + done
            if not waiting:
                self.look_for_due_work()
                if self.is_due(happening.at):
                    self.engine_pass(happening.at, woken=True)

    def _record(self, kind: str, pk: int, at: dt.datetime) -> int:
        if kind == "open":
            events.mark_opened([pk], at)
        elif kind == "click":
            link = self._pick_link(pk)
            events.mark_clicked(
                pk,
                at,
                link=link,
                ip=f"192.0.2.{self.rng.randint(1, 254)}",
                user_agent=self.rng.choice(BROWSERS),
            )
        elif kind == "reply":
            events.mark_replied(pk, at)
        else:
            recipient = Message.objects.filter(pk=pk).values_list("recipient", flat=True).first()
            reason = f"smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown"
            events.mark_bounced(pk, at, "hard", reason)
        return 1

    def _pick_link(self, pk: int) -> Link | None:
        template_id, activity_id = Message.objects.filter(pk=pk).values_list(
            "template_id", "activity_id"
        )[0]
        key = (template_id, activity_id)
        if key not in self.links:
            self.links[key] = list(
                Link.objects.filter(template_id=template_id, activity_id=activity_id).order_by("id")
            )
        links = self.links[key]
        if not links:
            return None
        # The call-to-action button gets most clicks; other links the rest.
        return links[0] if len(links) == 1 or self.rng.random() < 0.8 else self.rng.choice(links)


class Newcomers:
    """The people who join the campaigns' audiences during the replay, each through the
    service its real cause would call."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.sellers = salespeople()
        stages = {s.name: s for s in crm_services.ensure_default_stages()}
        self.new_stage, self.won_stage = stages["New"], stages["Won"]
        self.readers = self._contacts_without("Newsletter", [READERS_COUNTRY])
        self.prospects = self._contacts_without("Prospect", PROSPECT_COUNTRIES)
        self.contact_ids = list(
            Contact.objects.filter(active=True).order_by("id").values_list("id", flat=True)
        )
        taken = set(Contact.objects.values_list("email", flat=True))
        taken |= set(Lead.objects.values_list("email", flat=True))
        self.people = PersonFactory(rng, taken)

    def _contacts_without(self, tag: str, countries: list[str]) -> list[int]:
        """Active contacts of `countries` with an address and without `tag`, shuffled."""
        ids = list(
            Contact.objects.filter(active=True, country__in=countries)
            .exclude(email="")
            .exclude(tags__name=tag)
            .order_by("id")
            .values_list("id", flat=True)
        )
        self.rng.shuffle(ids)
        return ids

    def schedule(self, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, str, Act]]:
        """When each newcomer arrives between `start` and `end`: every day, each inflow has
        about its number of sittings (fewer at weekends), at the hours it keeps."""
        rng, planned = self.rng, []
        day, last = timezone.localtime(start).date(), timezone.localtime(end).date()
        while day <= last:
            midnight = timezone.make_aware(dt.datetime.combine(day, dt.time()))
            for inflow in INFLOWS:
                busy = inflow.weekend if day.weekday() >= 5 else 1.0
                for _ in range(round(inflow.sittings * busy * rng.uniform(0.5, 1.5))):
                    hour = rng.choices(range(24), weights=inflow.hours)[0]
                    at = midnight + dt.timedelta(hours=hour, seconds=rng.randrange(3600))
                    people = rng.randint(*inflow.people)
                    for n in [people] if inflow.one_action else [1] * people:
                        if start <= at <= end:
                            planned.append((at, inflow.kind, partial(inflow.arrive, self, n=n)))
                        at += dt.timedelta(seconds=rng.randint(60, 600))
            day += dt.timedelta(days=1)
        return planned

    def sign_up(self, at: dt.datetime, n: int = 1) -> int:
        """Belgian readers subscribe on the website: new contacts with the tag."""
        for _ in range(n):
            p = self.people.make(READERS_COUNTRY)
            contact_services.create_contact(
                name=p.name,
                email=p.email,
                phone=p.phone if self.rng.random() < 0.3 else "",
                country=p.country,
                city=p.city,
                tags=["Newsletter"],
                created_at=at,
            )
        return n

    def tag_readers(self, at: dt.datetime, n: int = 1) -> int:
        """A marketer tags Belgian contacts who asked for the newsletter (at an event, by
        phone, in a reply)."""
        return self._tag(self.readers, n, "Newsletter")

    def find_prospects(self, at: dt.datetime, n: int = 1) -> int:
        """A salesperson enters new prospects met at a fair or on the phone."""
        for _ in range(n):
            p = self.people.make(self.rng.choice(PROSPECT_COUNTRIES))
            contact_services.create_contact(
                name=p.name,
                email=p.email,
                phone=p.phone,
                company_name=p.company,
                country=p.country,
                city=p.city,
                salesperson=self.rng.choice(self.sellers) if self.sellers else None,
                tags=["Prospect"],
                created_at=at,
            )
        return n

    def mark_prospects(self, at: dt.datetime, n: int = 1) -> int:
        """A salesperson tags contacts as prospects."""
        return self._tag(self.prospects, n, "Prospect")

    def _tag(self, pool: list[int], n: int, tag: str) -> int:
        """Tag `n` contacts of `pool` in one action of the contact list."""
        ids = [pool.pop() for _ in range(min(n, len(pool)))]
        if ids:
            contact_services.add_tags(Contact, ids, [tag])
        return len(ids)

    def new_leads(self, at: dt.datetime, n: int = 1) -> int:
        """Leads come in (a web form, a salesperson): stage New, with a salesperson."""
        for _ in range(n):
            self._new_lead(at)
        return n

    def win_leads(self, at: dt.datetime, n: int = 1) -> int:
        """A salesperson marks leads won, more likely those who opened or clicked an email
        (the campaign's goal: each win is a conversion if the lead takes part)."""
        candidates = list(
            Lead.objects.filter(stage=self.new_stage, salesperson__isnull=False, active=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not candidates:
            return 0
        weight = dict.fromkeys(candidates, 1)
        for record_id, clicked in Message.objects.filter(
            record_model="crm.lead", record_id__in=candidates, opened_at__isnull=False
        ).values_list("record_id", "clicked_at"):
            weight[record_id] = max(
                weight[record_id], WIN_WEIGHT_CLICKED if clicked else WIN_WEIGHT_OPENED
            )
        won = set()
        for _ in range(min(n, len(candidates))):
            won.add(self.rng.choices(candidates, weights=[weight[c] for c in candidates])[0])
        crm_services.move_leads_to_stage(sorted(won), self.won_stage)
        return len(won)

    def _new_lead(self, at: dt.datetime) -> None:
        rng = self.rng
        contact = None
        if self.contact_ids and rng.random() < 0.4:
            contact = Contact.objects.get(pk=rng.choice(self.contact_ids))
        if contact is not None:
            name, email, phone, company = (
                contact.name,
                contact.email,
                contact.phone,
                contact.company_name,
            )
            seller = contact.salesperson
        else:
            p = self.people.make()
            name, email, phone, company, seller = p.name, p.email, p.phone, p.company, None
        crm_services.create_lead(
            title=f"{rng.choice(PRODUCTS)} for {company or name}",
            contact=contact,
            contact_name=name,
            email=email,
            phone=phone,
            salesperson=seller or (rng.choice(self.sellers) if self.sellers else None),
            priority=rng.choices([0, 1, 2, 3], weights=[40, 30, 20, 10])[0],
            stage=self.new_stage,
            expected_revenue=Decimal(rng.randrange(500, 80_000, 10)),
            created_at=at,
        )


@dataclass(frozen=True)
class Inflow:
    """People joining the audiences, day after day, in sittings: a visitor filling in a form
    is a sitting of one; a salesperson back from calls enters a few people minutes apart, or
    tags several in one action of the list (`one_action`)."""

    kind: str  # what the summary counts
    arrive: Callable[..., int]  # (newcomers, at, n=people) -> how many joined
    sittings: float  # on an ordinary weekday
    people: tuple[int, int]  # in a sitting
    weekend: float  # a weekend day has this share of the sittings
    hours: list[int]  # weight of each hour of the day (local time)
    one_action: bool = False


# Visitors come from home, morning and evening; marketers and salespeople keep office hours.
HOME = [1, 1, 0, 0, 0, 0, 1, 2, 4, 5, 5, 5, 6, 5, 4, 4, 4, 4, 5, 6, 7, 6, 4, 2]
OFFICE = [0, 0, 0, 0, 0, 0, 0, 0, 3, 6, 7, 6, 2, 4, 6, 6, 5, 3, 1, 0, 0, 0, 0, 0]
INFLOWS = [
    Inflow("new contacts", Newcomers.sign_up, 1.5, (1, 1), 0.8, HOME),
    Inflow("contacts tagged", Newcomers.tag_readers, 1.5, (4, 10), 0.2, OFFICE, True),
    Inflow("new contacts", Newcomers.find_prospects, 1.0, (1, 4), 0.2, OFFICE),
    Inflow("contacts tagged", Newcomers.mark_prospects, 1.5, (4, 10), 0.2, OFFICE, True),
    Inflow("new leads", Newcomers.new_leads, 2.0, (1, 1), 0.4, HOME),
    Inflow("new leads", Newcomers.new_leads, 1.5, (2, 6), 0.1, OFFICE),
    Inflow("leads won", Newcomers.win_leads, 2.5, (1, 2), 0.2, OFFICE, True),
]


@contextmanager
def _in_this_process() -> Iterator[None]:
    """Demo mail never leaves the machine, whatever DRUMBEAT_EMAIL_URL says, and wake-ups stay
    in this process (no Celery task may run the replayed campaigns at the wall-clock time)."""
    saved = settings.EMAIL_URL, settings.SMS_URL, settings.BROKER_URL
    settings.EMAIL_URL = settings.SMS_URL = "outbox://"
    settings.BROKER_URL = ""
    try:
        yield
    finally:
        settings.EMAIL_URL, settings.SMS_URL, settings.BROKER_URL = saved


def _create(demo: DemoCampaign, owner: User | None) -> Campaign:
    campaign = campaign_templates.instantiate(
        demo.template, owner, name=demo.name, split=demo.split
    )
    if demo.extra_domain:
        services.update_campaign(campaign, domain=[*campaign.domain, *demo.extra_domain])
    return campaign


def seed_campaigns(progress: bool = False, now: dt.datetime | None = None) -> dict[str, int]:
    """Create the demo campaigns with their replayed history (once). Returns counts of what
    the replay did (empty when the campaigns already exist). Must run outside a transaction:
    tracking events reach the engine when they commit."""
    if Campaign.objects.filter(name__in=NAMES).exists():
        return {}
    if connection.in_atomic_block:
        log.warning("demo campaigns skipped: their replay cannot run inside a transaction")
        return {}
    say: Callable[[str], None] = (
        (lambda text: print(f"  demo: {text}", flush=True)) if progress else (lambda text: None)
    )
    started = time.monotonic()
    owner = User.objects.filter(username="admin").first()
    end = now or timezone.now()
    # Midnight of the first of the last DAYS days (today included), as the activity charts show.
    start = (end - dt.timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    replay = Replay(random.Random("drumbeat-demo:campaigns"), end)
    newcomers = Newcomers(random.Random("drumbeat-demo:newcomers"))
    for at, kind, act in newcomers.schedule(start, end):
        replay.push(at, kind, act)
    pending = sorted(RUNNING, key=lambda c: c.starts_after)
    say(f"campaigns: replaying the last {DAYS} days with the engine")
    with _in_this_process(), clock.replay(start) as replayed:
        at = start
        while at <= end:
            replay.happen_until(at, replayed)
            replayed.move_to(at)
            while pending and start + pending[0].starts_after <= at:
                demo = pending.pop(0)
                campaign = _create(demo, owner)
                Campaign.objects.filter(pk=campaign.pk).update(created_at=at)
                services.start_campaign(campaign, owner)
                replay.campaign_ids.append(campaign.pk)
                replay.look_for_due_work()
            if replay.is_due(at):  # otherwise the runner sleeps through this hour
                replay.engine_pass(at)
            at += STEP
        replay.happen_until(end, replayed)
        replayed.move_to(end)
        replay.engine_pass(end)
    _create(READY, owner)
    counts = {
        "campaigns": len(replay.campaign_ids) + 1,
        "messages": Message.objects.filter(campaign_id__in=replay.campaign_ids).count(),
        **replay.counts,
    }
    n = replay.counts.get
    say(
        f"campaigns: {counts['campaigns']} campaigns, {counts['messages']} emails, "
        f"{n('open', 0)} opens, {n('click', 0)} clicks, {n('reply', 0)} replies, "
        f"{n('bounce', 0)} bounces; joined meanwhile: {n('new contacts', 0)} new contacts, "
        f"{n('contacts tagged', 0)} contacts tagged, {n('new leads', 0)} new leads; "
        f"{n('leads won', 0)} leads won "
        f"({time.monotonic() - started:.1f} s)"
    )
    return counts
