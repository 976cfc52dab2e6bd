"""Sending email and SMS in batches (docs/product.md#sending-rules). The engine's contract:

    send_emails(template, recipients, *, campaign_id, activity_id, render_fields, campaign_name)
    send_sms(template, recipients, *, campaign_id, activity_id, render_fields)
        -> {trace_id: SendResult}
    recover_interrupted(trace_ids) -> {trace_id: SendResult}

Per batch, with a constant number of queries: the rules cancel recipients in order
(blacklisted, missing, invalid, duplicate for this activity); the others get a `Message` row
(state outgoing, unique Message-ID, signed token) inserted and COMMITTED before the transport
is called, so a crash leaves evidence instead of a silent double send. A trace whose message
is `deferred` (transient failure) is retried with the same message; one already `sent` is not
sent again. A record that fails to render errors alone; the batch goes on.

The engine passes the lease of its claim as `guard` (a `SendGuard`): the batch asks it before
each send and writes its messages only for the traces it still holds, so a worker that lost its
batch to another (frozen, cut off) neither sends nor writes for it any more.
"""

from __future__ import annotations

import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import models, transaction
from django.db.models import F

from drumbeat.lib import clock
from drumbeat.lib.normalize import is_valid_email, normalize_email, normalize_phone

from . import journal, mime, rendering, shortlinks
from .bulk import insert_rows, text_set
from .models import EmailBlacklist, Link, Message, PhoneBlacklist, Template
from .tokens import make_token
from .transports import (
    UNCERTAIN_DELIVERY,
    Delivery,
    Outgoing,
    get_email_transport,
    get_sms_transport,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE_DELAY = timedelta(minutes=5)
LIVE_STATES = (
    Message.State.OUTGOING,
    Message.State.DEFERRED,
    Message.State.SENT,
    Message.State.BOUNCED,
)


@dataclass(frozen=True)
class Recipient:
    trace_id: int  # the exactly-once key (Message.trace_id is unique)
    record: models.Model  # the target record, render context
    address: str  # raw value of the target's email_field / phone_field
    is_test: bool = False


class SendGuard(Protocol):
    """What the holder of a batch's traces offers (the engine's lease, automation/engine/
    leases.py): `may_send()` before each send; `holding(trace_ids)`, a transaction in which to
    write about the traces it still holds; `lost` once it may neither send nor write."""

    @property
    def lost(self) -> bool: ...

    def may_send(self) -> bool: ...

    def holding(self, trace_ids: Iterable[int]) -> AbstractContextManager[set[int]]: ...


class _Unguarded:
    """A send outside any claim (a test email from the template editor)."""

    lost = False

    def may_send(self) -> bool:
        return True

    @contextmanager
    def holding(self, trace_ids: Iterable[int]) -> Iterator[set[int]]:
        with transaction.atomic():
            yield set(trace_ids)


@dataclass(frozen=True)
class SendResult:
    status: str  # "sent" | "cancelled" | "error" | "retry"
    reason: str = ""  # "blacklisted", "missing email", "invalid email", "duplicate", reply…
    message_id: int | None = None  # mailing.Message pk when a row exists
    retry_at: datetime | None = None  # for "retry" (transient failure)


# --- URLs and identifiers -------------------------------------------------------------------


def public_url(path: str) -> str:
    return f"{settings.BASE_URL}{path}"


def message_urls(token: str, link_codes: list[str]) -> rendering.MessageUrls:
    return rendering.MessageUrls(
        token=token,
        link_urls=[public_url(f"/r/{code}/{token}") for code in link_codes],
        unsubscribe_url=public_url(f"/u/{token}"),
        view_online_url=public_url(f"/v/{token}"),
        open_pixel_url=public_url(f"/t/o/{token}"),
        stop_url=public_url(f"/sms/stop/{token}"),
    )


def message_id_domain() -> str:
    return settings.INBOUND_DOMAIN or mime.domain_of(settings.FROM_EMAIL) or "drumbeat.localhost"


def make_message_id(token: str) -> str:
    return f"<{token}.{secrets.token_hex(4)}@{message_id_domain()}>"


def link_rows(
    template: Template,
    links: list[tuple[str, str]],
    campaign_id: int | None,
    activity_id: int | None,
) -> dict[str, tuple[str, int]]:
    """(code, id) of each tracked link of `template` for this activity, by URL. The Link rows
    are created once (a unique constraint settles concurrent batches)."""
    if not links:
        return {}
    urls = [url for url, _ in links]

    def existing() -> dict[str, tuple[str, int]]:
        rows = Link.objects.filter(template=template, activity_id=activity_id, url__in=urls)
        return {url: (code, pk) for url, code, pk in rows.values_list("url", "code", "pk")}

    found = existing()
    missing = [
        Link(
            url=url,
            title=title,
            code=secrets.token_urlsafe(6),
            template=template,
            campaign_id=campaign_id,
            activity_id=activity_id,
        )
        for url, title in links
        if url not in found
    ]
    if missing:
        Link.objects.bulk_create(missing, ignore_conflicts=True)
        found = existing()
    return found


def ensure_links(
    template: Template,
    links: list[tuple[str, str]],
    campaign_id: int | None,
    activity_id: int | None,
) -> list[str]:
    """Codes of the tracked links of `template` for this activity, by marker index."""
    rows = link_rows(template, links, campaign_id, activity_id)
    return [rows[url][0] for url, _ in links]


# --- Rules ----------------------------------------------------------------------------------


@dataclass
class _Planned:
    recipient: Recipient
    address: str  # normalised
    message: Message
    payload: Any = None  # RenderedEmail or SMS text


def _retry_delay(attempts: int) -> timedelta:
    return RETRY_BASE_DELAY * (3 ** max(0, attempts - 1))


def _result_of(message: Message) -> SendResult:
    state = message.state
    if state in (Message.State.SENT, Message.State.BOUNCED):
        return SendResult("sent", message_id=message.pk)
    if state == Message.State.CANCELLED:
        return SendResult("cancelled", message.failure_reason, message.pk)
    if state == Message.State.DEFERRED:
        return SendResult("retry", message.failure_reason, message.pk, message.retry_at)
    if state == Message.State.OUTGOING:
        return SendResult("error", "interrupted", message.pk)
    return SendResult("error", message.failure_reason, message.pk)


class _Channel(ABC):
    """What differs between email and SMS in a batch."""

    kind: str
    missing_reason: str
    invalid_reason: str

    @abstractmethod
    def normalize(self, raw: str) -> str: ...

    @abstractmethod
    def is_valid(self, normalized: str) -> bool: ...

    @abstractmethod
    def blacklisted(self, addresses: list[str]) -> set[str]:
        """The active blacklist entries among the normalised `addresses` (one query)."""


class _EmailChannel(_Channel):
    kind = Message.Channel.EMAIL
    missing_reason = "missing email"
    invalid_reason = "invalid email"

    def normalize(self, raw: str) -> str:
        return normalize_email(raw)

    def is_valid(self, normalized: str) -> bool:
        return is_valid_email(normalized)

    def blacklisted(self, addresses: list[str]) -> set[str]:
        rows = EmailBlacklist.objects.filter(email__in=addresses, active=True)
        return set(rows.values_list("email", flat=True))


class _SmsChannel(_Channel):
    kind = Message.Channel.SMS
    missing_reason = "missing phone"
    invalid_reason = "invalid phone"

    def normalize(self, raw: str) -> str:
        return normalize_phone(raw) or (raw or "").strip()

    def is_valid(self, normalized: str) -> bool:
        return normalized.startswith("+") and normalize_phone(normalized) == normalized

    def blacklisted(self, addresses: list[str]) -> set[str]:
        rows = PhoneBlacklist.objects.filter(number__in=addresses, active=True)
        return set(rows.values_list("number", flat=True))


def _apply_rules(
    channel: _Channel, recipients: list[Recipient], activity_id: int | None
) -> tuple[list[tuple[Recipient, str]], dict[int, SendResult]]:
    """(accepted recipients with normalised address, cancellations) in the order of
    docs/product.md#sending-rules."""
    normalized = [(r, channel.normalize(r.address)) for r in recipients]
    blacklisted = channel.blacklisted([a for _, a in normalized if a])
    already: set[str] = set()
    if activity_id is not None:
        candidates = [a for r, a in normalized if a and not r.is_test]
        if candidates:
            rows = Message.objects.filter(
                activity_id=activity_id,
                channel=channel.kind,
                recipient__in=candidates,
                state__in=LIVE_STATES,
                is_test=False,
            )
            already = set(rows.values_list("recipient", flat=True))
    accepted: list[tuple[Recipient, str]] = []
    cancelled: dict[int, SendResult] = {}
    for recipient, address in normalized:
        if address and address in blacklisted:
            reason = "blacklisted"
        elif not address:
            reason = channel.missing_reason
        elif not channel.is_valid(address):
            reason = channel.invalid_reason
        elif not recipient.is_test and address in already:
            reason = "duplicate"
        else:
            reason = ""
        if reason:
            cancelled[recipient.trace_id] = SendResult("cancelled", reason)
            continue
        if not recipient.is_test:
            already.add(address)
        accepted.append((recipient, address))
    return accepted, cancelled


# --- The batch ------------------------------------------------------------------------------


def _split_existing(
    recipients: list[Recipient],
) -> tuple[list[Recipient], list[tuple[Recipient, Message]], dict[int, SendResult]]:
    trace_ids = [r.trace_id for r in recipients if r.trace_id is not None]
    existing = {m.trace_id: m for m in Message.objects.filter(trace_id__in=trace_ids)}
    fresh, retry, done = [], [], {}
    for recipient in recipients:
        message = existing.get(recipient.trace_id)
        if message is None:
            fresh.append(recipient)
        elif message.state == Message.State.DEFERRED:
            retry.append((recipient, message))
        else:
            done[recipient.trace_id] = _result_of(message)
    return fresh, retry, done


def _send_batch(
    channel: _Channel,
    template: Template,
    recipients: Iterable[Recipient],
    campaign_id: int | None,
    activity_id: int | None,
    render_fields: rendering.RenderFields,
    campaign_name: str = "",
    guard: SendGuard | None = None,
) -> dict[int, SendResult]:
    guard = guard or _Unguarded()
    recipients = list(recipients)
    if not recipients:
        return {}
    fresh, retry, results = _split_existing(recipients)
    accepted, cancelled = _apply_rules(channel, fresh, activity_id)
    results.update(cancelled)
    if not accepted and not retry:
        return results

    try:
        if channel.kind == Message.Channel.EMAIL:
            compiled: Any = rendering.compile_email(template, render_fields)
        else:
            compiled = rendering.compile_sms(template, render_fields)
    except rendering.RenderError as exc:
        for recipient, _ in accepted:
            results[recipient.trace_id] = SendResult("error", f"template: {exc}")
        for recipient, message in retry:
            results[recipient.trace_id] = SendResult("error", f"template: {exc}", message.pk)
        with guard.holding(r.trace_id for r, _ in retry):
            if not guard.lost:
                Message.objects.filter(pk__in=[m.pk for _, m in retry]).update(
                    state=Message.State.ERROR,
                    failure_reason=f"template: {exc}"[:2000],
                    retry_at=None,
                )
        return results
    codes: list[str] = []
    sms_links: shortlinks.SmsLinks | None = None
    if channel.kind == Message.Channel.EMAIL:
        codes = ensure_links(template, compiled.links, campaign_id, activity_id)
    else:  # short links, and only where they are no longer than the URL
        tracked = [link for link in compiled.links if shortlinks.is_tracked(link[0])]
        rows = link_rows(template, tracked, campaign_id, activity_id)
        sms_links = shortlinks.SmsLinks(compiled.links, {u: pk for u, (_, pk) in rows.items()})
    rendering.prefetch_records(
        [r.record for r, _ in accepted] + [r.record for r, _ in retry], compiled.prefetch
    )

    now = clock.now()
    planned: list[_Planned] = []
    for recipient, address in accepted:
        token = make_token()
        message = Message(
            channel=channel.kind,
            template=template,
            trace_id=recipient.trace_id,
            campaign_id=campaign_id,
            activity_id=activity_id,
            record_model=recipient.record._meta.label_lower,
            record_id=recipient.record.pk,
            is_test=recipient.is_test,
            recipient=address,
            message_id=make_message_id(token),
            token=token,
            state=Message.State.OUTGOING,
            created_at=now,
        )
        planned.append(_Planned(recipient, address, message))
    for recipient, message in retry:
        planned.append(_Planned(recipient, message.recipient, message))

    if sms_links is not None:
        sms_links.assign([p.message for p in planned])
    for item in planned:
        urls = message_urls(item.message.token, codes)
        if sms_links is not None:
            urls = replace(urls, link_urls=sms_links.urls_for(item.message.token))
        try:
            if channel.kind == Message.Channel.EMAIL:
                item.payload = rendering.render_email(
                    compiled, item.recipient.record, render_fields, urls
                )
                item.message.subject = item.payload.subject
            else:
                item.payload = rendering.render_sms(
                    compiled, item.recipient.record, render_fields, urls
                )
        except rendering.RenderError as exc:
            item.message.state = Message.State.ERROR
            item.message.failure_reason = str(exc)

    new_rows = [p.message for p in planned if p.message.pk is None]
    retried = [p.message for p in planned if p.message.pk is not None]
    with guard.holding(p.recipient.trace_id for p in planned):
        if guard.lost:  # the batch was taken over before anything was sent
            return results
        # One INSERT and one SELECT of the new ids (by their unique token), whatever the size.
        insert_rows(Message, new_rows)
        if new_rows:
            ids = dict(
                Message.objects.filter(token__in=text_set(m.token for m in new_rows)).values_list(
                    "token", "pk"
                )
            )
            for message in new_rows:
                message.pk = ids[message.token]
                message._state.adding = False
        for message in retried:
            if message.state == Message.State.DEFERRED:
                message.state = Message.State.OUTGOING
        Message.objects.bulk_update(retried, ["state", "failure_reason", "subject"], batch_size=200)
        if sms_links is not None:
            sms_links.save([p.message for p in planned if p.message.state != Message.State.ERROR])
        sendable = [p for p in planned if p.message.state == Message.State.OUTGOING]
        # The journal lists the batch BEFORE its messages are committed as outgoing: a death
        # after the commit finds them in it (never started: sent again), one before it leaves
        # neither. Written after the commit, a death in between made the whole batch
        # "interrupted" (in no journal), never sent.
        sent_journal = journal.Journal([p.message.pk for p in sendable])

    for item in planned:
        if item.message.state == Message.State.ERROR:
            results[item.recipient.trace_id] = SendResult(
                "error", item.message.failure_reason, item.message.pk
            )
    stream = stream_headers(campaign_id, activity_id, campaign_name)
    deliveries = _deliver(channel, template, sendable, sent_journal, stream, guard)
    results.update(_record_deliveries(sendable[: len(deliveries)], deliveries, guard))
    # Kept when anything above raised or the lease was lost: the recovery reads it.
    sent_journal.close(keep=guard.lost)
    return results


def _email_envelope(template: Template, message: Message) -> tuple[str, str, dict[str, str]]:
    """(envelope sender, reply-to, extra headers) of one email. The envelope sender is the
    VERP bounce address when there is an inbound domain; the receiving server records it as
    Return-Path (a sender writes no Return-Path header, RFC 5321 §4.4)."""
    inbound = settings.INBOUND_DOMAIN
    sender = template.email_from or settings.FROM_EMAIL
    if inbound:
        envelope_from = f"bounce+{message.token}@{inbound}"
        unsubscribe_mailto = f"mailto:unsubscribe+{message.token}@{inbound}"
    else:
        envelope_from = mime.address_of(sender)
        unsubscribe_mailto = f"mailto:{envelope_from}?subject=unsubscribe%20{message.token}"
    reply_to = template.reply_to or (f"reply+{message.token}@{inbound}" if inbound else "")
    headers = {
        "List-Unsubscribe": (
            f"<{unsubscribe_mailto}>, <{public_url(f'/u/{message.token}/one-click')}>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return envelope_from, reply_to, headers


def stream_headers(
    campaign_id: int | None, activity_id: int | None, campaign_name: str
) -> dict[str, str]:
    """The headers naming a campaign's mail stream: `List-Id` (RFC 2919; mail clients filter
    on it) and `Feedback-ID` (campaign:activity:sender, read by Gmail's feedback loop). None
    for mail outside campaigns (a test email from the template editor)."""
    if campaign_id is None:
        return {}
    identifier = f"campaign-{campaign_id}.list-id.{message_id_domain()}"
    activity = f"a{activity_id}" if activity_id is not None else ""
    return {
        "List-Id": mime.list_id(campaign_name, identifier),
        "Feedback-ID": f"c{campaign_id}:{activity}:{settings.FEEDBACK_SENDER_ID}",
    }


def _deliver(
    channel: _Channel,
    template: Template,
    planned: list[_Planned],
    sent_journal: journal.Journal,
    stream: dict[str, str],
    guard: SendGuard,
) -> list[Delivery]:
    """One Delivery per message of `planned` sent, in order; fewer when `guard` stops the
    batch (the lease was lost)."""
    if not planned:
        return []
    try:
        transport = (
            get_email_transport() if channel.kind == Message.Channel.EMAIL else get_sms_transport()
        )
    except ValueError as exc:  # TransportConfigError, or a malformed port
        return [Delivery(False, False, f"transport: {exc}")] * len(planned)
    deliveries: list[Delivery] = []
    if channel.kind == Message.Channel.EMAIL:
        dkim_key = mime.configured_dkim_key()
        sender = template.email_from or settings.FROM_EMAIL
        date = clock.now()
        with transport:
            for item in planned:
                message = item.message
                envelope_from, reply_to, headers = _email_envelope(template, message)
                headers.update(stream)
                rendered = item.payload
                to = message.recipient
                data = mime.build_email(
                    sender=sender,
                    to=to,
                    subject=rendered.subject,
                    html=rendered.html,
                    text=rendered.text,
                    message_id=message.message_id,
                    date=date,
                    reply_to=reply_to,
                    headers=headers,
                    dkim_key=dkim_key,
                )
                outgoing = Outgoing(message.pk, envelope_from, to, rendered.subject, data)
                delivery = _send_one(transport, outgoing, sent_journal, guard)
                if delivery is None:
                    break
                deliveries.append(delivery)
    else:
        with transport:
            for item in planned:
                message = item.message
                outgoing = Outgoing(
                    message.pk,
                    "",
                    message.recipient,
                    "",
                    item.payload.encode("utf-8"),
                    reference=message.token,
                )
                delivery = _send_one(transport, outgoing, sent_journal, guard)
                if delivery is None:
                    break
                deliveries.append(delivery)
    return deliveries


def _send_one(
    transport: Any, outgoing: Outgoing, sent_journal: journal.Journal, guard: SendGuard
) -> Delivery | None:
    """Hand one message to the transport; None (not sent) when the lease is lost."""
    sent_journal.started(outgoing.message_pk)
    # The lease is asked after the journal says "started": a recovery reading the journal
    # from then on never sends this message again, whatever happens between here and the send.
    if not guard.may_send():
        sent_journal.released(outgoing.message_pk)
        return None
    delivery = transport.send(outgoing)
    sent_journal.finished(outgoing.message_pk, delivery.ok, delivery.uncertain)
    return delivery


def _record_deliveries(
    planned: list[_Planned], deliveries: list[Delivery], guard: SendGuard
) -> dict[int, SendResult]:
    now = clock.now()
    results: dict[int, SendResult] = {}
    sent_ids: list[int] = []
    failed: list[Message] = []
    for item, delivery in zip(planned, deliveries, strict=True):
        message, trace_id = item.message, item.recipient.trace_id
        if delivery.ok:
            sent_ids.append(message.pk)
            results[trace_id] = SendResult("sent", message_id=message.pk)
            continue
        message.attempts += 1
        message.failure_reason = delivery.reply[:2000]
        if delivery.transient and message.attempts < MAX_ATTEMPTS:
            message.state = Message.State.DEFERRED
            message.retry_at = now + _retry_delay(message.attempts)
            results[trace_id] = SendResult(
                "retry", message.failure_reason, message.pk, message.retry_at
            )
        else:
            message.state = Message.State.ERROR
            message.retry_at = None
            results[trace_id] = SendResult("error", message.failure_reason, message.pk)
        failed.append(message)
    with guard.holding(item.recipient.trace_id for item in planned):
        if guard.lost:
            return results  # the new holder settles these messages from the journal
        if sent_ids:
            Message.objects.filter(pk__in=sent_ids).update(
                state=Message.State.SENT,
                sent_at=now,
                attempts=F("attempts") + 1,
                retry_at=None,
                failure_reason="",
            )
        if failed:
            Message.objects.bulk_update(
                failed, ["state", "attempts", "failure_reason", "retry_at"], batch_size=200
            )
    if failed:
        log.info("%d of %d messages not delivered", len(failed), len(planned))
    return results


# --- Public contract ------------------------------------------------------------------------


def send_emails(
    template: Template,
    recipients: Iterable[Recipient],
    *,
    campaign_id: int | None,
    activity_id: int | None,
    render_fields: rendering.RenderFields,
    campaign_name: str = "",
    guard: SendGuard | None = None,
) -> dict[int, SendResult]:
    """Send `template` to each recipient; returns a SendResult per trace_id (none for those
    left unsent when `guard` stopped the batch). `campaign_name` is the phrase of the List-Id
    header."""
    return _send_batch(
        _EmailChannel(),
        template,
        recipients,
        campaign_id,
        activity_id,
        render_fields,
        campaign_name,
        guard,
    )


def send_sms(
    template: Template,
    recipients: Iterable[Recipient],
    *,
    campaign_id: int | None,
    activity_id: int | None,
    render_fields: rendering.RenderFields,
    guard: SendGuard | None = None,
) -> dict[int, SendResult]:
    """Send the SMS `template` to each recipient; returns a SendResult per trace_id."""
    return _send_batch(
        _SmsChannel(), template, recipients, campaign_id, activity_id, render_fields, guard=guard
    )


def recover_interrupted(trace_ids: Iterable[int]) -> dict[int, SendResult]:
    """What became of traces whose send may have been interrupted (a crash, or a transport
    that raised mid-batch). A sent message → "sent". A message left `outgoing` is looked up
    in the send journals (journal.py): accepted by the server → marked sent, "sent"; never
    started, or refused → deferred for a new attempt now, "retry"; started with no outcome,
    or in no journal here → marked error "interrupted" (it may or may not have left: never
    sent again); the connection lost once the server had the whole message → marked error
    "uncertain delivery". No message → absent from the answer."""
    trace_ids = list(trace_ids)
    messages = list(Message.objects.filter(trace_id__in=trace_ids))
    outgoing = [m for m in messages if m.state == Message.State.OUTGOING]
    if outgoing:
        _resolve_outgoing(outgoing)
    return {message.trace_id: _result_of(message) for message in messages}


def _resolve_outgoing(outgoing: list[Message]) -> None:
    """Settle `outgoing` messages from the journals (three UPDATEs), in place too."""
    reading = journal.read_all()
    now = clock.now()
    by_fate: dict[str, list[Message]] = {}
    for message in outgoing:
        fate = reading.fates.get(message.pk, journal.STARTED)
        by_fate.setdefault(fate, []).append(message)
    accepted = by_fate.get(journal.ACCEPTED, [])
    again = by_fate.get(journal.PLANNED, []) + by_fate.get(journal.FAILED, [])
    interrupted = by_fate.get(journal.STARTED, [])
    uncertain = by_fate.get(journal.UNCERTAIN, [])
    with transaction.atomic():
        still = Message.objects.filter(state=Message.State.OUTGOING)
        still.filter(pk__in=[m.pk for m in accepted]).update(
            state=Message.State.SENT, sent_at=now, attempts=F("attempts") + 1
        )
        still.filter(pk__in=[m.pk for m in again]).update(
            state=Message.State.DEFERRED, retry_at=now, failure_reason=""
        )
        still.filter(pk__in=[m.pk for m in interrupted]).update(
            state=Message.State.ERROR, failure_reason="interrupted"
        )
        still.filter(pk__in=[m.pk for m in uncertain]).update(
            state=Message.State.ERROR, failure_reason=UNCERTAIN_DELIVERY
        )
    for message in accepted:
        message.state, message.sent_at = Message.State.SENT, now
    for message in again:
        message.state, message.retry_at, message.failure_reason = Message.State.DEFERRED, now, ""
    for message in interrupted:
        message.state, message.failure_reason = Message.State.ERROR, "interrupted"
    for message in uncertain:
        message.state, message.failure_reason = Message.State.ERROR, UNCERTAIN_DELIVERY
    if reading.files:
        mentioned = set().union(*reading.files.values())
        unresolved = set(
            Message.objects.filter(
                pk__in=list(mentioned), state=Message.State.OUTGOING
            ).values_list("pk", flat=True)
        )
        journal.forget(reading, unresolved)
    if accepted or again:
        log.info(
            "recovered %d interrupted sends from the journal: %d sent, %d to send again",
            len(accepted) + len(again),
            len(accepted),
            len(again),
        )


def send_test_email(
    template: Template,
    record: models.Model,
    to_address: str,
    render_fields: rendering.RenderFields,
) -> SendResult:
    """The template editor's "send a test email": rendered for `record`, sent to `to_address`
    (a test message outside any campaign; tracked like the others)."""
    if not is_valid_email(normalize_email(to_address)):
        return SendResult("cancelled", "invalid email")
    recipient = Recipient(trace_id=None, record=record, address=to_address, is_test=True)  # type: ignore[arg-type]
    results = _send_batch(_EmailChannel(), template, [recipient], None, None, render_fields)
    return results[None]  # type: ignore[index]
