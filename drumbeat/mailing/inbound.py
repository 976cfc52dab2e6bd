"""Inbound mail: bounces and replies (`drumbeat inbound-smtp`, SPEC §8.5).

Mail reaches us at addresses of DRUMBEAT_INBOUND_DOMAIN carrying a message token:
`bounce+<token>@` (our Return-Path: delivery status notifications), `reply+<token>@` (our
Reply-To), `unsubscribe+<token>@` (the mailto of List-Unsubscribe). Without a token, a DSN is
matched by the original Message-ID it quotes (or the failed address, via flufl.bounce) and a
reply by its In-Reply-To / References. Hard or soft: RFC 3464 Status 5.x.x is hard, 4.x.x (or
Action: delayed) soft. Oversized, unparseable or unmatched mail is dropped with a log line;
the SMTP answer is 250 anyway, so that nobody bounces a bounce back at us.
"""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import logging
import re
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connections
from flufl.bounce import all_failures

from drumbeat.lib import clock
from drumbeat.lib.normalize import normalize_email

from . import events, services
from .models import Message
from .tokens import is_valid_token

log = logging.getLogger(__name__)

MAX_SIZE = 10 * 1024 * 1024
_TOKEN_ADDRESS = re.compile(r"^(bounce|reply|unsubscribe)\+([0-9a-f]{32})@(.+)$", re.I)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass
class InboundResult:
    kind: str  # bounce | reply | unsubscribe | dropped
    message_ids: list[int] = field(default_factory=list)
    reason: str = ""


def _tokens(rcpt_tos: list[str]) -> dict[str, list[str]]:
    """Valid tokens by purpose (bounce/reply/unsubscribe) among the recipients."""
    domain = (settings.INBOUND_DOMAIN or "").lower()
    found: dict[str, list[str]] = {}
    for address in rcpt_tos:
        match = _TOKEN_ADDRESS.match(address.strip().strip("<>"))
        if not match:
            continue
        purpose, token, at_domain = match.group(1).lower(), match.group(2).lower(), match.group(3)
        if domain and at_domain.lower() != domain:
            continue
        if is_valid_token(token):
            found.setdefault(purpose, []).append(token)
    return found


def _delivery_status(msg: email.message.Message) -> tuple[str, str]:
    """(kind, reason) read from an RFC 3464 message/delivery-status part; ('', '') if none."""
    kind, reason = "", ""
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks:
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip()
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
            if not action and not status:
                continue
            if status.startswith("5") or (action == "failed" and not status):
                return "hard", diagnostic or f"status {status or action}"
            if action in {"failed", "delayed"} or status.startswith("4"):
                kind, reason = "soft", diagnostic or f"status {status or action}"
    return kind, reason


def _quoted_message_ids(msg: email.message.Message) -> set[str]:
    """Message-IDs of the original message quoted in a DSN (rfc822 or rfc822-headers part)."""
    ids: set[str] = set()
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if inner is not None and inner.get("Message-ID"):
                ids.update(_MESSAGE_ID.findall(str(inner["Message-ID"])))
        elif content_type == "text/rfc822-headers":
            headers = email.message_from_string(
                part.get_payload(decode=True).decode("utf-8", "replace")
            )
            ids.update(_MESSAGE_ID.findall(str(headers.get("Message-ID", ""))))
    return ids


def _is_report(msg: email.message.Message) -> bool:
    return msg.get_content_type() == "multipart/report" or any(
        p.get_content_type() == "message/delivery-status" for p in msg.walk()
    )


def _bounce_kind(msg: email.message.Message) -> tuple[str, str, set[str]]:
    """(kind, reason, failed addresses) of a bounce; kind '' when it is not one."""
    kind, reason = _delivery_status(msg)
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # flufl's detectors on odd input
        temporary, permanent = set(), set()
    addresses = {
        normalize_email(a.decode() if isinstance(a, bytes) else str(a))
        for a in (*temporary, *permanent)
    }
    if not kind:
        if permanent:
            kind, reason = "hard", "permanent failure"
        elif temporary:
            kind, reason = "soft", "temporary failure"
    return kind, reason, addresses


def process_inbound(rcpt_tos: list[str], data: bytes) -> InboundResult:
    """Read one inbound message and apply what it means; never raises for bad mail."""
    if len(data) > MAX_SIZE:
        log.warning("inbound mail dropped: %d bytes is over the %d limit", len(data), MAX_SIZE)
        return InboundResult("dropped", reason="too large")
    try:
        msg = email.message_from_bytes(data)
        if not msg.keys():
            raise ValueError("no headers")
    except Exception as exc:
        log.warning("inbound mail dropped: unparseable (%s)", exc)
        return InboundResult("dropped", reason="unparseable")
    tokens = _tokens(rcpt_tos)
    now = clock.now()

    if tokens.get("bounce") or _is_report(msg):
        kind, reason, addresses = _bounce_kind(msg)
        if kind:
            messages = _bounced_messages(tokens.get("bounce", []), msg, addresses)
            for message_pk in messages:
                events.mark_bounced(message_pk, now, kind, reason)
            if messages:
                return InboundResult("bounce", messages, f"{kind}: {reason}")
        log.info("inbound mail dropped: a report or bounce matching no message (%s)", kind)
        return InboundResult("dropped", reason="unmatched bounce")

    if str(msg.get("Auto-Submitted", "no")).strip().lower() not in {"", "no"}:
        log.info("inbound mail dropped: automatic reply (%s)", msg.get("Auto-Submitted"))
        return InboundResult("dropped", reason="automatic reply")

    if tokens.get("unsubscribe"):
        found = list(Message.objects.filter(token__in=tokens["unsubscribe"]))
        for message in found:
            services.unsubscribe_message(message, "unsubscribed by email")
        if found:
            return InboundResult("unsubscribe", [m.pk for m in found])

    reply_ids = set(
        Message.objects.filter(token__in=tokens.get("reply", [])).values_list("pk", flat=True)
    )
    if not reply_ids:
        referenced = _MESSAGE_ID.findall(
            f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}"
        )
        if referenced:
            reply_ids = set(
                Message.objects.filter(message_id__in=referenced).values_list("pk", flat=True)
            )
    if reply_ids:
        marked = events.mark_replied_many(reply_ids, now)
        return InboundResult("reply", sorted(marked))
    log.info("inbound mail dropped: no token and no known Message-ID (from %s)", msg.get("From"))
    return InboundResult("dropped", reason="unmatched")


def _bounced_messages(
    tokens: list[str], msg: email.message.Message, addresses: set[str]
) -> list[int]:
    if tokens:
        found = list(Message.objects.filter(token__in=tokens).values_list("pk", flat=True))
        if found:
            return found
    quoted = _quoted_message_ids(msg)
    if quoted:
        found = list(Message.objects.filter(message_id__in=quoted).values_list("pk", flat=True))
        if found:
            return found
    if addresses:
        # The latest sent email to each failed address.
        latest: dict[str, int] = {}
        rows = (
            Message.objects.filter(
                channel=Message.Channel.EMAIL,
                recipient__in=addresses,
                state__in=[Message.State.SENT, Message.State.BOUNCED],
            )
            .order_by("recipient", "-sent_at", "-pk")
            .values_list("recipient", "pk")
        )
        for recipient, pk in rows:
            latest.setdefault(recipient, pk)
        return list(latest.values())
    return []


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
        await asyncio.to_thread(_process_in_thread, list(envelope.rcpt_tos), data)
        return "250 OK"


def _process_in_thread(rcpt_tos: list[str], data: bytes) -> None:
    close_old_connections()
    try:
        result = process_inbound(rcpt_tos, data)
        log.info("inbound mail: %s %s %s", result.kind, result.message_ids, result.reason)
    except Exception:
        log.exception("inbound mail dropped: processing failed")
    finally:
        # Pool threads outlive the message: do not leave their connections idle for
        # CONN_MAX_AGE (they would block dropping a database, and hold server slots).
        connections.close_all()


def make_controller(host: str, port: int):
    from aiosmtpd.controller import Controller

    return Controller(
        InboundHandler(),
        hostname=host,
        port=port,
        data_size_limit=MAX_SIZE,
        server_hostname=settings.INBOUND_DOMAIN or None,
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
