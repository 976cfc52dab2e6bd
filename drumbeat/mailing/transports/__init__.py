"""Transports hand finished messages to the outside world. Chosen from a URL
(docs/architecture.md#interfaces):

email (`DRUMBEAT_EMAIL_URL`): `outbox://` (kept in the database, shown at /outbox),
`smtp://[user:pass@]host:port`, `smtp+starttls://…`, `smtps://…` (query: `?timeout=SECONDS`).
SMS (`DRUMBEAT_SMS_URL`): `outbox://`, or `https://TOKEN@gateway.example/path` (HTTP gateway:
JSON POST with `Authorization: Bearer TOKEN`; `http://` for a local gateway).

A transport is a context manager kept open for one batch; `send()` returns a `Delivery` and
never raises for a delivery problem: `transient` failures are retried later, the others are
final. An `uncertain` delivery (the connection was lost after the server had the whole message,
before its answer) is final too: it may have been accepted, and a message is never sent twice.
URLs are never logged with their credentials (`redact_url`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings


@dataclass(frozen=True)
class Outgoing:
    """One finished message: `data` is the RFC 5322 bytes of an email or the text of an SMS."""

    message_pk: int | None
    sender: str  # envelope sender of an email (bounce address); '' for SMS
    recipient: str
    subject: str
    data: bytes
    reference: str = ""  # our token, echoed back by SMS gateways in delivery reports


UNCERTAIN_DELIVERY = "uncertain delivery"


@dataclass(frozen=True)
class Delivery:
    ok: bool
    transient: bool = False
    reply: str = ""  # the server's or gateway's answer on failure
    provider_id: str = ""
    uncertain: bool = False  # maybe accepted: the reply starts with UNCERTAIN_DELIVERY


class Transport(Protocol):
    def __enter__(self) -> Transport: ...
    def __exit__(self, *exc: object) -> None: ...
    def send(self, outgoing: Outgoing) -> Delivery: ...


class TransportConfigError(ValueError):
    pass


def redact_url(url: str) -> str:
    """`url` without its credentials, for logs and error messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, ""))


def get_email_transport(url: str | None = None) -> Transport:
    url = url if url is not None else settings.EMAIL_URL
    scheme = urlsplit(url).scheme.lower()
    if scheme == "outbox":
        from .outbox import OutboxTransport

        return OutboxTransport("email")
    if scheme in {"smtp", "smtp+starttls", "smtps"}:
        from ..circuit import Guarded
        from .smtp import SmtpTransport

        return Guarded("email", SmtpTransport(url))  # a burst of failures pauses the channel
    raise TransportConfigError(f"unsupported email URL {redact_url(url)!r}")


def get_sms_transport(url: str | None = None) -> Transport:
    url = url if url is not None else settings.SMS_URL
    scheme = urlsplit(url).scheme.lower()
    if scheme == "outbox":
        from .outbox import OutboxTransport

        return OutboxTransport("sms")
    if scheme in {"http", "https"}:
        from ..circuit import Guarded
        from .http_sms import HttpSmsTransport

        return Guarded("sms", HttpSmsTransport(url))
    raise TransportConfigError(f"unsupported SMS URL {redact_url(url)!r}")
