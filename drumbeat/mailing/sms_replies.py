"""What people text to our numbers (the gateway's inbound SMS webhook, sms_webhook.py).

The keywords follow the CTIA / carrier convention, read case-, accent- and space-insensitively
(" Stop. " and "arrêt" count): STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, ARRET and HALT
blacklist the number (phone blacklist, reason "opted out by SMS reply (STOP)") and report it
like the stop page does; START and UNSTOP lift its blacklisting; HELP asks for the help text.
Anything else is a reply, kept with the latest SMS sent to that number: SMS has no reply
trigger, so no campaign reacts to it.

Each one is kept (`InboundSms`) and answered with the text the gateway sends back to the person
(DRUMBEAT_SMS_STOP_REPLY, _START_REPLY, _HELP_REPLY; a reply gets no answer). The gateway's
message id makes it idempotent (`WebhookEvent`, source "sms-in"): a repeated delivery changes
nothing and gets the same answer.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from drumbeat.lib import clock, hooks
from drumbeat.lib.normalize import normalize_phone

from . import audience
from .models import InboundSms, Message, WebhookEvent
from .services import report_unsubscribe

SOURCE = "sms-in"  # WebhookEvent.source of inbound SMS
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET", "HALT"})
OPT_IN = frozenset({"START", "UNSTOP"})
HELP = frozenset({"HELP"})


@dataclass(frozen=True)
class IncomingSms:
    provider_id: str  # the gateway's message id
    sender: str  # the person's number, as the gateway gives it
    recipient: str  # our number
    text: str


@dataclass(frozen=True)
class Answer:
    kind: str  # InboundSms.Kind
    reply: str  # for the gateway to send back; '' for none
    duplicate: bool = False  # the id was received before: nothing changed


def keyword(text: str) -> str:
    """`text` as a keyword: upper case, no accents, no spaces, no final full stop or !."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c) and not c.isspace())
    return plain.rstrip(".!").upper()


def kind_of(text: str) -> str:
    word = keyword(text)
    if word in OPT_OUT:
        return InboundSms.Kind.STOP
    if word in OPT_IN:
        return InboundSms.Kind.START
    if word in HELP:
        return InboundSms.Kind.HELP
    return InboundSms.Kind.REPLY


def reply_for(kind: str) -> str:
    return {
        InboundSms.Kind.STOP: settings.SMS_STOP_REPLY,
        InboundSms.Kind.START: settings.SMS_START_REPLY,
        InboundSms.Kind.HELP: settings.SMS_HELP_REPLY,
    }.get(kind, "")


def sender_number(raw: str) -> str:
    """The E.164 form of a sender's number; '' when it is not a phone number. Gateways that
    leave out the + of international numbers (`447700900123`) are read as international."""
    raw = (raw or "").strip()
    if raw.isdigit() and len(raw) > 10:
        number = normalize_phone(f"+{raw}")
        if number:
            return number
    return normalize_phone(raw)


def receive_sms(sms: IncomingSms) -> Answer:
    """Act on one inbound SMS (see the module docstring); ValidationError names a sender that
    is not a phone number, with nothing changed."""
    number = sender_number(sms.sender)
    if not number:
        raise ValidationError({"from": f"{sms.sender[:32]!r} is not a phone number"})
    kind = kind_of(sms.text)
    with transaction.atomic():
        event, created = WebhookEvent.objects.get_or_create(
            source=SOURCE, event_id=sms.provider_id, defaults={"kind": kind}
        )
        if not created:
            return Answer(event.kind, reply_for(event.kind), duplicate=True)
        message = (
            Message.objects.filter(
                channel=Message.Channel.SMS, recipient=number, sent_at__isnull=False
            )
            .order_by("-sent_at", "-id")
            .first()
        )
        InboundSms.objects.create(
            provider_id=sms.provider_id,
            sender=number,
            recipient=sms.recipient[:32],
            text=sms.text,
            kind=kind,
            message=message,
            received_at=clock.now(),
        )
        if kind == InboundSms.Kind.STOP:
            reason = f"opted out by SMS reply ({keyword(sms.text)})"
            audience.blacklist_phones([number], reason)
            _report_opt_out(number, message, reason)
        elif kind == InboundSms.Kind.START:
            audience.unblacklist_phones([number], f"opted in by SMS reply ({keyword(sms.text)})")
    return Answer(kind, reply_for(kind))


def _report_opt_out(number: str, message: Message | None, reason: str) -> None:
    """Tell the listeners (`contact.unsubscribed` webhooks) once committed."""
    if message is not None:
        transaction.on_commit(lambda: report_unsubscribe(message, reason))
        return
    event = hooks.Unsubscribed(channel="sms", address=number, at=clock.now(), reason=reason)
    transaction.on_commit(lambda: hooks.unsubscribed(event))
