"""The campaign part of the demo: campaigns with 15 days of history made by the real engine.

`seed_campaigns()` builds three campaigns from the templates of SPEC §7 and replays the last
`DAYS` days under `drumbeat.lib.clock.replay`: the clock moves hour by hour and, like the
runner that sleeps until the next due trace, the engine makes its pass (`run_once`: enrol,
send, run actions) whenever work is due; emails go to the outbox. The recipients' reactions —
opens, clicks, replies and bounces at plausible rates and delays — are recorded through
mailing's own event functions at the moment they happen, and a reaction that makes a child due
at once wakes the engine (a pass without the filter sync), as `runner.wake()` does. Every
trace, message, click, tag, task and note in the result was written by the engine and the
channels, none around them. A fourth campaign is left New, ready to test. Idempotent (nothing
happens when the demo campaigns exist) and deterministic (reactions draw from a fixed-seed
generator).
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

from django.conf import settings
from django.db import connection
from django.utils import timezone

from drumbeat.accounts.models import User
from drumbeat.automation import campaign_templates, services
from drumbeat.automation.engine.execute import next_due_at
from drumbeat.automation.engine.runner import run_once
from drumbeat.automation.models import Campaign
from drumbeat.lib import clock
from drumbeat.mailing import events
from drumbeat.mailing.models import Link, Message

log = logging.getLogger(__name__)

DAYS = 15
STEP = dt.timedelta(hours=1)
OPEN_RATE = 0.40
CLICK_RATE = 0.11  # of sent messages (a subset of the opens)
REPLY_RATE = 0.02
BOUNCE_RATE = 0.018
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


RUNNING = [
    DemoCampaign(
        "tag_hot_contacts",
        "Tag Hot Contacts: Belgian newsletter readers",
        [["country", "=", "BE"], ["tags.name", "=", "Newsletter"]],
        dt.timedelta(hours=9),
    ),
    DemoCampaign(
        "commercial_prospection",
        "Commercial prospection: prospects in FR, NL and DE",
        [["tags.name", "=", "Prospect"], ["country", "in", ["FR", "NL", "DE"]]],
        dt.timedelta(days=3, hours=10),
    ),
    DemoCampaign(
        "prioritize_hot_leads",
        "Prioritize Hot leads: new leads",
        [["stage.name", "=", "New"]],
        dt.timedelta(days=7, hours=8),
    ),
]
READY = DemoCampaign("welcome_flow", "Welcome Flow", [], dt.timedelta(0))
NAMES = [c.name for c in [*RUNNING, READY]]


@dataclass(order=True)
class _Reaction:
    at: dt.datetime
    seq: int
    kind: str = field(compare=False)  # open | click | reply | bounce
    message_id: int = field(compare=False)


@dataclass
class Replay:
    """The recipients' side of the replay: reactions waiting for their time."""

    rng: random.Random
    end: dt.datetime
    queue: list[_Reaction] = field(default_factory=list)
    links: dict[tuple[int | None, int | None], list[Link]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    campaign_ids: list[int] = field(default_factory=list)
    last_message_id: int = 0
    pushed: int = 0

    def engine_pass(self, at: dt.datetime, woken: bool = False) -> None:
        """The runner's pass at `at` (`drumbeat tick`) — or, when an event woke it, the
        execution of what became due — then the recipients of what it sent decide how they
        will react."""
        run_once(at, enrol=not woken)
        self.react_to_new_messages()

    def push(self, at: dt.datetime, kind: str, message_id: int) -> None:
        if at <= self.end:
            self.pushed += 1
            heapq.heappush(self.queue, _Reaction(at, self.pushed, kind, message_id))

    def react_to_new_messages(self) -> None:
        """Decide, for each message sent since the last call, what its recipient will do."""
        rows = list(
            Message.objects.filter(
                campaign_id__in=self.campaign_ids, pk__gt=self.last_message_id, state="sent"
            )
            .order_by("pk")
            .values_list("pk", "sent_at")
        )
        for pk, sent_at in rows:
            self.last_message_id = pk
            self._draw(pk, sent_at)

    def _draw(self, pk: int, sent_at: dt.datetime) -> None:
        rng = self.rng
        if rng.random() < BOUNCE_RATE:
            self.push(sent_at + dt.timedelta(minutes=rng.randint(1, 25)), "bounce", pk)
            return
        if rng.random() >= OPEN_RATE:
            return
        opened = sent_at + self._open_delay()
        conversion = rng.random()
        if conversion < CLICK_RATE / OPEN_RATE:
            self.push(opened + dt.timedelta(seconds=rng.randint(20, 900)), "click", pk)
        elif conversion < (CLICK_RATE + REPLY_RATE) / OPEN_RATE:
            self.push(opened, "open", pk)
            self.push(opened + dt.timedelta(minutes=rng.randint(10, 360)), "reply", pk)
        else:
            self.push(opened, "open", pk)

    def _open_delay(self) -> dt.timedelta:
        """Most people open within hours, some the next days."""
        r = self.rng.random()
        if r < 0.5:
            return dt.timedelta(minutes=self.rng.randint(2, 180))
        if r < 0.8:
            return dt.timedelta(minutes=self.rng.randint(180, 24 * 60))
        return dt.timedelta(minutes=self.rng.randint(24 * 60, 4 * 24 * 60))

    def happen_until(self, until: dt.datetime, replayed: clock.ReplayClock) -> None:
        """Record the reactions due by `until`, each at its own time."""
        while self.queue and self.queue[0].at <= until:
            reaction = heapq.heappop(self.queue)
            replayed.move_to(reaction.at)
            self._record(reaction)
            self.counts[reaction.kind] = self.counts.get(reaction.kind, 0) + 1
            if _is_due(reaction.at):  # a child with no delay: the runner is woken at once
                self.engine_pass(reaction.at, woken=True)

    def _record(self, reaction: _Reaction) -> None:
        pk, at = reaction.message_id, reaction.at
        if reaction.kind == "open":
            events.mark_opened([pk], at)
        elif reaction.kind == "click":
            link = self._pick_link(pk)
            events.mark_clicked(
                pk,
                at,
                link=link,
                ip=f"192.0.2.{self.rng.randint(1, 254)}",
                user_agent=self.rng.choice(BROWSERS),
            )
        elif reaction.kind == "reply":
            events.mark_replied(pk, at)
        else:
            recipient = Message.objects.filter(pk=pk).values_list("recipient", flat=True).first()
            reason = f"smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown"
            events.mark_bounced(pk, at, "hard", reason)

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


def _is_due(at: dt.datetime) -> bool:
    due = next_due_at()
    return due is not None and due <= at


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
    campaign = campaign_templates.instantiate(demo.template, owner, name=demo.name)
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
            if _is_due(at):  # otherwise the runner sleeps through this hour
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
    say(
        "campaigns: {campaigns} campaigns, {messages} emails, {o} opens, {c} clicks, "
        "{r} replies, {b} bounces in {s:.1f} s".format(
            **counts,
            o=replay.counts.get("open", 0),
            c=replay.counts.get("click", 0),
            r=replay.counts.get("reply", 0),
            b=replay.counts.get("bounce", 0),
            s=time.monotonic() - started,
        )
    )
    return counts
