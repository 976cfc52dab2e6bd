"""SMTP delivery over one kept-open connection per batch.

4xx replies and lost connections are transient (the message is retried later); 5xx replies
are permanent (the message errors with the server's reply). A connection lost before the end
of DATA is tried once more on a new connection (the server cannot have taken the message).

Once the end of DATA is sent, the server has the whole message and may accept it even if its
reply never comes: a connection lost (or a reply not come within the timeout) at that point is
an `uncertain` delivery, final, never sent again, since a participant must never receive the
same message twice. The message ends as Error "uncertain delivery: …".
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import smtplib
import ssl
from urllib.parse import parse_qs, unquote, urlsplit

from . import UNCERTAIN_DELIVERY, Delivery, Outgoing, TransportConfigError, redact_url

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 30.0


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's verifying TLS context, built once per process: loading the CA store
    takes about 20 ms, which a plain connection (one per batch) must not pay."""
    return ssl.create_default_context()


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}".strip()


def _classified(code: int, message: bytes | str) -> Delivery:
    return Delivery(ok=False, transient=400 <= code < 500, reply=_reply(code, message))


class _NoReplyToData(Exception):
    """The connection failed after the end of DATA was sent, before the server's reply."""


def _data_payload(data: bytes) -> bytes:
    """`data` as sent after DATA (RFC 5321 4.5.2): leading dots doubled, then CRLF.CRLF."""
    quoted = re.sub(rb"(?m)^\.", b"..", data)
    if not quoted.endswith(b"\r\n"):
        quoted += b"\r\n"
    return quoted + b".\r\n"


def _transaction(connection: smtplib.SMTP, outgoing: Outgoing, options: list[str]) -> None:
    """MAIL, RCPT, DATA of one message, like `SMTP.sendmail` but telling apart a connection lost
    after the end of DATA (`_NoReplyToData`) from one lost before it (SMTPServerDisconnected)."""
    if connection.does_esmtp and connection.has_extn("size"):
        options = [*options, f"size={len(outgoing.data)}"]
    code, reply = connection.mail(outgoing.sender, options)
    if code != 250:
        _refused(connection, code)
        raise smtplib.SMTPSenderRefused(code, reply, outgoing.sender)
    code, reply = connection.rcpt(outgoing.recipient)
    if code not in (250, 251):
        _refused(connection, code)
        raise smtplib.SMTPRecipientsRefused({outgoing.recipient: (code, reply)})
    code, reply = connection.docmd("data")
    if code != 354:
        _refused(connection, code)
        raise smtplib.SMTPDataError(code, reply)
    connection.send(_data_payload(outgoing.data))
    try:
        code, reply = connection.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise _NoReplyToData(str(exc) or type(exc).__name__) from exc
    if code != 250:
        _refused(connection, code)
        raise smtplib.SMTPDataError(code, reply)


def _refused(connection: smtplib.SMTP, code: int) -> None:
    """Leave the connection ready for the next message after a refusal (as sendmail does)."""
    if code == 421:  # the server closes the connection
        connection.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        connection.rset()


class SmtpTransport:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.scheme = parts.scheme.lower()
        self.host = parts.hostname or ""
        if not self.host:
            raise TransportConfigError(f"no host in {redact_url(url)!r}")
        self.port = parts.port or {"smtps": 465, "smtp+starttls": 587}.get(self.scheme, 25)
        self.username = unquote(parts.username) if parts.username else ""
        self.password = unquote(parts.password) if parts.password else ""
        query = parse_qs(parts.query)
        self.timeout = float(query.get("timeout", [DEFAULT_TIMEOUT])[0])
        self.connection: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        if self.scheme == "smtps":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=_tls_context()
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        connection.ehlo()
        if self.scheme == "smtp+starttls":
            connection.starttls(context=_tls_context())
            connection.ehlo()
        if self.username:
            connection.login(self.username, self.password)
        return connection

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None

    def send(self, outgoing: Outgoing) -> Delivery:
        for attempt in (1, 2):
            if self.connection is None:
                try:
                    self.connection = self._connect()
                except smtplib.SMTPResponseException as exc:
                    return Delivery(False, True, _reply(exc.smtp_code, exc.smtp_error))
                except (smtplib.SMTPException, OSError) as exc:
                    log.warning("SMTP connection to %s failed: %s", redact_url(self.url), exc)
                    return Delivery(False, True, f"connection failed: {exc}")
            international = not (outgoing.sender + outgoing.recipient).isascii()
            try:
                _transaction(self.connection, outgoing, ["SMTPUTF8"] if international else [])
                return Delivery(ok=True)
            except _NoReplyToData as exc:
                self.connection.close()
                self.connection = None
                log.warning("SMTP reply to DATA lost for message %s: %s", outgoing.message_pk, exc)
                reply = f"{UNCERTAIN_DELIVERY}: no reply after the message was sent ({exc})"
                return Delivery(False, False, reply, uncertain=True)
            except (smtplib.SMTPNotSupportedError, UnicodeError):
                return Delivery(False, False, "the server does not accept international addresses")
            except smtplib.SMTPRecipientsRefused as exc:
                code, message = next(iter(exc.recipients.values()))
                return _classified(code, message)
            except smtplib.SMTPResponseException as exc:  # sender refused, data error, ...
                if exc.smtp_code == 421:  # the server closes the connection
                    self.connection = None
                return _classified(exc.smtp_code, exc.smtp_error)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self.connection = None
                if attempt == 2:
                    return Delivery(False, True, f"connection lost: {exc}")
        return Delivery(False, True, "connection lost")
