"""Inbound mail: bounces, complaints and replies (`drumbeat inbound-smtp`).

Mail reaches us at addresses of DRUMBEAT_INBOUND_DOMAIN carrying a message token:
`bounce+<token>@` (the envelope sender of our mail, VERP: delivery reports and most automatic
replies), `reply+<token>@` (our Reply-To), `unsubscribe+<token>@` (the mailto of
List-Unsubscribe); feedback loops send complaints to any address of the domain (`fbl@`,
`abuse@`). The token identifies the message; the content (`reports.read_report`) only says
what happened: a bounce (hard, soft or block, classified by `bounce_rules`), a delay, a
delivered notice, a complaint, an automatic reply, a human reply. Every message addressed to a
valid token leaves an `InboundEvent` on its message, whatever its content (mail we cannot read
is recorded as `unknown`).

Without a token, a report is matched by the Message-ID of the original it quotes, else by the
failed (or complaining) address: the latest email sent to it; a reply by its In-Reply-To /
References. Unmatched mail is dropped with a log line; the SMTP answer is 250 anyway, so that
nobody bounces a bounce back at us.
"""

from __future__ import annotations

import asyncio
import email
import email.message
import logging
import re
import ssl
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connections, transaction

from drumbeat.lib import clock

from . import events, reports, services
from .models import InboundEvent, Message
from .tokens import is_valid_token

log = logging.getLogger(__name__)

MAX_LINE = 1_000_000  # bytes in one line of a message (RFC 5322 says 998; reports exceed it)
_TOKEN_ADDRESS = re.compile(r"^(bounce|reply|unsubscribe)\+([0-9a-f]{32})@(.+)$", re.I)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass
class InboundResult:
    # bounce | delay | delivered | complaint | auto_reply | reply | unsubscribe | unknown | dropped
    kind: str
    message_ids: list[int] = field(default_factory=list)
    reason: str = ""


def max_bytes() -> int:
    return int(getattr(settings, "INBOUND_MAX_BYTES", 10 * 1024 * 1024))


def _tokens(rcpt_tos: list[str]) -> dict[str, str]:
    """Valid tokens among the recipients, each with its purpose (bounce/reply/unsubscribe)."""
    domain = (settings.INBOUND_DOMAIN or "").lower()
    found: dict[str, str] = {}
    for address in rcpt_tos:
        match = _TOKEN_ADDRESS.match(address.strip().strip("<>"))
        if not match:
            continue
        purpose, token, at_domain = match.group(1).lower(), match.group(2).lower(), match.group(3)
        if domain and at_domain.lower() != domain:
            continue
        if is_valid_token(token):
            found.setdefault(token, purpose)
    return found


def process_inbound(rcpt_tos: list[str], data: bytes, mail_from: str = "") -> InboundResult:
    """Read one inbound message and apply what it means; never raises for bad mail."""
    tokens = _tokens(rcpt_tos)
    by_token = {
        pk: tokens[token]
        for pk, token in Message.objects.filter(token__in=list(tokens)).values_list("pk", "token")
    }
    now = clock.now()
    if len(data) > max_bytes():
        return _unreadable(by_token, now, f"{len(data)} bytes, over the {max_bytes()} limit")
    try:
        msg = email.message_from_bytes(data)
        if not msg.keys():
            raise ValueError("no headers")
    except Exception as exc:
        return _unreadable(by_token, now, f"unparseable ({exc})")
    try:
        report = reports.read_report(msg, mail_from)
    except Exception as exc:  # a malformed part must not lose the mail: record it as unknown
        log.warning("inbound mail not understood: %s", exc)
        report = reports.Report(reports.UNKNOWN, diagnostic=f"not understood: {exc}"[:300])
    targets = list(by_token) or _match(report, msg)
    if not targets:
        log.info(
            "inbound mail dropped: a %s matching no message (from %s)", report.kind, report.sender
        )
        return InboundResult("dropped", reason=f"unmatched {report.kind}")
    return _apply(report, targets, by_token, msg, now)


def _unreadable(by_token: dict[int, str], now, why: str) -> InboundResult:
    if not by_token:
        log.warning("inbound mail dropped: %s", why)
        return InboundResult("dropped", reason=why)
    events.record_inbound_events(
        [InboundEvent(message_id=pk, kind="unknown", at=now, diagnostic=why) for pk in by_token]
    )
    log.warning("inbound mail not readable, recorded as unknown: %s", why)
    return InboundResult("unknown", sorted(by_token), why)


def _match(report: reports.Report, msg: email.message.Message) -> list[int]:
    """Messages a report or reply without a token is about."""
    if report.kind in {reports.REPLY, reports.AUTO_REPLY, reports.UNKNOWN}:
        referenced = _MESSAGE_ID.findall(
            f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}"
        )
        rows = Message.objects.filter(message_id__in=referenced) if referenced else None
        return list(rows.values_list("pk", flat=True)) if rows is not None else []
    if report.quoted_ids:
        found = list(
            Message.objects.filter(message_id__in=report.quoted_ids).values_list("pk", flat=True)
        )
        if found:
            return found
    if not report.addresses:
        return []
    # The latest email sent to each address named by the report.
    latest: dict[str, int] = {}
    rows = (
        Message.objects.filter(
            channel=Message.Channel.EMAIL,
            recipient__in=report.addresses,
            state__in=[Message.State.SENT, Message.State.BOUNCED],
        )
        .order_by("recipient", "-sent_at", "-pk")
        .values_list("recipient", "pk")
    )
    for recipient, pk in rows:
        latest.setdefault(recipient, pk)
    return list(latest.values())


def _apply(
    report: reports.Report,
    targets: list[int],
    by_token: dict[int, str],
    msg: email.message.Message,
    now,
) -> InboundResult:
    kind, reason = report.kind, report.diagnostic
    with transaction.atomic():
        if kind == reports.BOUNCE:
            events.mark_bounced_many(
                targets, now, report.bounce_kind, report.diagnostic, report.category
            )
            reason = f"{report.bounce_kind}/{report.category}: {report.diagnostic}"
        elif kind == reports.DELIVERED:
            events.mark_delivered(targets, now)
        elif kind == reports.COMPLAINT:
            events.mark_complained_many(targets, now)
        elif kind == reports.REPLY:
            kind = _reply_or_unsubscribe(targets, by_token, msg, now)
        events.record_inbound_events([_event(report, kind, pk, now) for pk in targets])
    return InboundResult(kind, sorted(targets), reason)


def _reply_or_unsubscribe(
    targets: list[int], by_token: dict[int, str], msg: email.message.Message, now
) -> str:
    """A human message: to `unsubscribe+` it unsubscribes (and is a reply too when it answers
    our message); to `reply+` or `bounce+` (or without a token) it is a reply."""
    unsubscribing = [pk for pk in targets if by_token.get(pk) == "unsubscribe"]
    if not unsubscribing:
        events.mark_replied_many(targets, now)
        return reports.REPLY
    messages = list(Message.objects.filter(pk__in=unsubscribing))
    for message in messages:
        services.unsubscribe_message(message, "unsubscribed by email")
    referenced = set(
        _MESSAGE_ID.findall(f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}")
    )
    answered = [m.pk for m in messages if m.message_id in referenced]
    replied = [pk for pk in targets if pk not in unsubscribing] + answered
    if replied:
        events.mark_replied_many(replied, now)
    return "unsubscribe"


def _event(report: reports.Report, kind: str, message_id: int, now) -> InboundEvent:
    return InboundEvent(
        message_id=message_id,
        kind=kind,
        at=now,
        bounce_kind=report.bounce_kind,
        category=report.category,
        status=report.status,
        smtp_code=report.smtp_code,
        diagnostic=report.diagnostic,
        sender=report.sender,
        subject=report.subject,
    )


# --- The SMTP server ------------------------------------------------------------------------


class InboundHandler:
    """aiosmtpd handler: accepts mail for the inbound domain, processes it in a thread."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        domain = (settings.INBOUND_DOMAIN or "").lower()
        if domain and not address.lower().rstrip(">").endswith("@" + domain):
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        data = envelope.original_content or b""
        rcpt_tos, mail_from = list(envelope.rcpt_tos), envelope.mail_from or ""
        if await asyncio.to_thread(_process_in_thread, rcpt_tos, data, mail_from):
            return "250 OK"
        # Our failure (the database is down …): the sending server keeps the mail and retries.
        return "451 4.3.0 Temporary failure processing the message, try again later"


def _process_in_thread(rcpt_tos: list[str], data: bytes, mail_from: str = "") -> bool:
    """Process one message; False when processing failed (the mail was not recorded)."""
    close_old_connections()
    try:
        result = process_inbound(rcpt_tos, data, mail_from)
        log.info("inbound mail: %s %s %s", result.kind, result.message_ids, result.reason)
        return True
    except Exception:
        log.exception("inbound mail not processed: answered 451 for a retry")
        return False
    finally:
        # Pool threads outlive the message: do not leave their connections idle for
        # CONN_MAX_AGE (they would block dropping a database, and hold server slots).
        connections.close_all()


def tls_context() -> ssl.SSLContext | None:
    """The STARTTLS context from DRUMBEAT_INBOUND_TLS_CERT/KEY (None: no STARTTLS)."""
    cert, key = settings.INBOUND_TLS_CERT, settings.INBOUND_TLS_KEY
    if not cert or not key:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def make_controller(host: str, port: int):
    """The aiosmtpd server: lines up to MAX_LINE bytes, messages up to
    DRUMBEAT_INBOUND_MAX_BYTES, STARTTLS offered when a certificate is configured."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class InboundSMTP(SMTP):
        line_length_limit = MAX_LINE

    class InboundController(Controller):
        def factory(self):
            return InboundSMTP(self.handler, **self.SMTP_kwargs)

    context = tls_context()
    return InboundController(
        InboundHandler(),
        hostname=host,
        port=port,
        data_size_limit=max_bytes(),
        server_hostname=settings.INBOUND_DOMAIN or None,
        tls_context=context,
        require_starttls=False,
    )


def serve_inbound(host: str, port: int) -> None:
    """Run the inbound SMTP server until interrupted."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    controller = make_controller(host, port)
    controller.start()
    print(f"Drumbeat inbound SMTP listening on {host}:{port}", flush=True)
    try:
        threading.Event().wait()
    finally:
        controller.stop()
