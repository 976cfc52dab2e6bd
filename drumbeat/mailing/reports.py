"""What an inbound message says: a delivery report, a complaint, an automatic or a human reply.

`read_report(msg, mail_from)` reads one parsed message (no database) and returns a `Report`:

1. a complaint: an RFC 5965 feedback report (`multipart/report; report-type=feedback-report`
   or a `message/feedback-report` part);
2. a delivery report: RFC 3464 (`message/delivery-status`, or RFC 6533's
   `message/global-delivery-status`): the recipient block with the gravest Action decides:
   `delayed` is a delay, `delivered`/`relayed`/`expanded` a success notice, `failed` a bounce
   classified by `bounce_rules` from its Status, Diagnostic-Code and the human-readable text;
3. a report in a non-standard format (qmail, old Exim and Sendmail, Exchange, Domino …):
   sent by a mailer daemon or titled like one; its text says whether it is a delay or a failure;
4. an automatic reply (RFC 3834 `Auto-Submitted`, `Precedence: auto_reply|bulk|junk`,
   `X-Autoreply`, `X-Autorespond`, `X-Auto-Response-Suppress`, out-of-office subjects in
   several languages);
5. anything else is a human reply.

The report also carries what can match it to a message without a token: the Message-IDs of
the original message it quotes and the addresses it names.
"""

from __future__ import annotations

import email.header
import email.message
import re
from dataclasses import dataclass, field
from html import unescape

from flufl.bounce import all_failures

from drumbeat.lib.normalize import normalize_email

from . import bounce_rules

BOUNCE, DELAY, DELIVERED = "bounce", "delay", "delivered"
COMPLAINT, AUTO_REPLY, REPLY, UNKNOWN = "complaint", "auto_reply", "reply", "unknown"

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_DAEMON = re.compile(
    r"mailer-?daemon|postmaster|mail ?delivery|maildelivery|mail ?administrator|"
    r"nobody@|mail-?router|mdaemon|smtp gateway|no-?reply@.*(?:bounce|dsn)",
    re.I,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status )?notification|delivery (?:has )?failed|"
    r"delivery failure|failure notice|returned mail|mail delivery|non-?deliver|"
    r"could not (?:be )?(?:send|deliver)|couldn't be delivered|delivery problem|"
    r"delayed mail|delivery (?:is )?delayed|mail could not|message not delivered|"
    r"rejected|unzustellbar|non remis|non recapitabile|no se puede entregar|"
    r"onbestelbaar|returned to sender|DELIVERY FAILURE|warning: could not send",
    re.I,
)
_DELAY_TEXT = re.compile(
    r"will (?:continue to |keep )?(?:re)?try|(?:has|have) not (?:yet )?been delivered|"
    r"not yet been delivered|delivery (?:has been |is |was )?delayed|still trying|"
    r"delivery (?:attempts )?will continue|is being retried|retry (?:will|until)|"
    r"temporarily deferred|delayed mail|\(delay\)|warning: could not send|"
    r"will be (?:re)?tried|deferred",
    re.I,
)
_QUOTE_START = re.compile(
    r"^(?:-{2,} ?(?:This is a copy of|Below this line is a copy|Original message|"
    r"Begin forwarded|The header of the original|Returned message|Forwarded message|"
    r"Unsent message below|original message follows)|"
    r"\s*-+\s*(?:original|returned) (?:message|mail|headers)|"
    r"Original message headers:|"
    r"\s*------ ?This is a copy)",
    re.I | re.M,
)
_AUTO_SUBJECT = re.compile(
    r"^(?:auto(?:matic|matische|matisch|matique|mática|matica|mático)?[- ]?"
    r"(?:reply|response|respuesta|antwort|antwoord|risposta|resposta|réponse|svar|odpowied)|"
    r"automatic reply|automatische antwort|automatisch antwoord|réponse automatique|"
    r"respuesta automática|risposta automatica|resposta automática|autosvar|"
    r"automaattinen vastaus|odpowiedź automatyczna|automatická odpověď|"
    r"out of (?:the )?office|ooo\b|on vacation|vacation|away from (?:the )?office|"
    r"abwesenheitsnotiz|abwesend|absence|absent|fuori sede|fuera de la oficina|"
    r"ausente|afwezig|afwezigheid|niet aanwezig|frånvaro|fravær|poissa|"
    r"automatické odpovědi|自動応答|自動返信|自动回复|автоответ|"
    r"i am (?:currently )?(?:out|away))",
    re.I,
)
_AUTO_PREFIX = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?")


@dataclass
class Report:
    kind: str  # bounce | delay | delivered | complaint | auto_reply | reply | unknown
    bounce_kind: str = ""  # hard | soft | block (bounces; a delay's would-be kind is not kept)
    category: str = ""
    status: str = ""
    smtp_code: int | None = None
    diagnostic: str = ""
    rule: str = ""
    addresses: set[str] = field(default_factory=set)  # failed / complained recipients
    quoted_ids: set[str] = field(default_factory=set)  # Message-IDs of the original
    sender: str = ""
    subject: str = ""


def read_report(msg: email.message.Message, mail_from: str = "") -> Report:
    """What `msg` (delivered with envelope sender `mail_from`) reports."""
    sender, subject = _header(msg, "From"), _header(msg, "Subject")
    report = (
        _feedback_report(msg)
        or _delivery_status(msg)
        or _plain_bounce(msg, mail_from, sender, subject)
        or _auto_reply(msg, subject)
        or Report(REPLY)
    )
    report.sender, report.subject = sender[:254], subject[:255]
    if report.kind in {BOUNCE, DELAY, DELIVERED, COMPLAINT}:
        report.quoted_ids |= quoted_message_ids(msg)
    return report


def _header(msg: email.message.Message, name: str) -> str:
    """A header's text, RFC 2047 encoded words and raw UTF-8 decoded ('' when absent)."""
    value = msg.get(name, "")
    if not value:
        return ""
    try:
        parts = email.header.decode_header(value)
    except Exception:  # a malformed encoded word: keep the header as it came
        parts = [(str(value), None)]
    text = "".join(_decoded_text(chunk, charset) for chunk, charset in parts)
    return " ".join(text.split())


def _decoded_text(chunk: bytes | str, charset: str | None) -> str:
    if isinstance(chunk, str):
        return chunk
    if not charset or charset == "unknown-8bit":
        charset = "utf-8"
    try:
        return chunk.decode(charset, "replace")
    except LookupError:
        return chunk.decode("utf-8", "replace")


# --- complaints ----------------------------------------------------------------------------


def _feedback_report(msg: email.message.Message) -> Report | None:
    part = _first_part(msg, "message/feedback-report")
    is_arf = (
        msg.get_content_type() == "multipart/report"
        and str(msg.get_param("report-type", "")).lower() == "feedback-report"
    )
    if part is None and not is_arf:
        return None
    fields = _fields_of(part) if part is not None else {}
    report = Report(COMPLAINT, category="spam")
    feedback = fields.get("feedback-type", "abuse")
    agent = fields.get("user-agent", "")
    report.diagnostic = f"Feedback-Type: {feedback}" + (f" ({agent})" if agent else "")
    for name in ("original-rcpt-to", "removal-recipient"):
        report.addresses |= _addresses(fields.get(name, ""))
    original = _original_headers(msg)
    if original is not None and not report.addresses:
        report.addresses |= _addresses(str(original.get("To", "")))
    return report


# --- RFC 3464 delivery status notifications ---------------------------------------------------

_ACTION_WEIGHT = {"failed": 3, "delayed": 2, "delivered": 1, "relayed": 1, "expanded": 1}


def _delivery_status(msg: email.message.Message) -> Report | None:
    part = _first_part(msg, "message/delivery-status", "message/global-delivery-status")
    if part is None:
        return None
    blocks = _status_blocks(part)
    recipients = [b for b in blocks if b.get("action") or b.get("status")]
    if not recipients:
        return None
    block = max(recipients, key=lambda b: _ACTION_WEIGHT.get(_action(b), 0))
    action = _action(block)
    status = bounce_rules.find_status(block.get("status", ""))
    diagnostic = _diagnostic(block.get("diagnostic-code", ""))
    human = human_text(msg)
    if not action:  # no Action field: the text tells a delay from a failure
        action = "delayed" if _DELAY_TEXT.search(human) else "failed"
    addresses = set()
    for b in recipients:
        addresses |= _addresses(b.get("final-recipient", "") or b.get("original-recipient", ""))
    if action in {"delivered", "relayed", "expanded"}:
        return Report(DELIVERED, status=status, diagnostic=diagnostic, addresses=addresses)
    verdict, code, evidence = _classify(status, [diagnostic, human])
    if action == "failed" and status.startswith("4") and verdict.kind != bounce_rules.BLOCK:
        # A temporary failure reported as final: the MTA gave up retrying.
        verdict = bounce_rules.Verdict(bounce_rules.SOFT, "expired", f"gave-up:{status}")
    kind = DELAY if action == "delayed" else BOUNCE
    return Report(
        kind,
        bounce_kind=verdict.kind if kind == BOUNCE else "",
        category=verdict.category,
        status=status or bounce_rules.find_status(evidence),
        smtp_code=code,
        diagnostic=diagnostic or _excerpt(evidence or human),
        rule=verdict.rule,
        addresses=addresses,
    )


def _action(block: dict[str, str]) -> str:
    action = block.get("action", "").split("(")[0].strip().lower()
    if not action:
        status = block.get("status", "")
        action = "failed" if status.startswith("5") else ""
    return action


def _diagnostic(value: str) -> str:
    """A Diagnostic-Code without its type (`smtp; 550 …` → `550 …`)."""
    value = " ".join(value.split())
    head, sep, rest = value.partition(";")
    if sep and head.strip().lower() in {"smtp", "x-unix", "x-postfix", "x-local", "x-exim"}:
        return rest.strip()
    if sep and re.fullmatch(r"[\w-]+", head.strip()):
        return rest.strip()
    return value


def _status_blocks(part: email.message.Message) -> list[dict[str, str]]:
    """The field blocks (per-message, then per-recipient) of a delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [{k.lower(): str(v) for k, v in block.items()} for block in payload]
    raw = part.get_payload(decode=True) or b""
    return _parse_blocks(raw.decode("utf-8", "replace"))


def _parse_blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text):
        fields: dict[str, str] = {}
        last = ""
        for line in chunk.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                last = name.strip().lower()
                fields[last] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _fields_of(part: email.message.Message) -> dict[str, str]:
    fields: dict[str, str] = {}
    for block in _status_blocks(part):
        for name, value in block.items():
            fields.setdefault(name, value)
    return fields


# --- non-standard bounces ---------------------------------------------------------------------


def looks_like_bounce(msg: email.message.Message, mail_from: str, sender: str, subject: str):
    null_sender = mail_from.strip("<> ") == ""
    return bool(
        _DAEMON.search(sender)
        or _BOUNCE_SUBJECT.search(subject)
        or (null_sender and not _is_auto_reply(msg, subject) and _first_failure(msg))
    )


def _first_failure(msg: email.message.Message) -> bool:
    text = human_text(msg)
    return bool(bounce_rules.find_status(text) or bounce_rules.match_text(text))


def _plain_bounce(
    msg: email.message.Message, mail_from: str, sender: str, subject: str
) -> Report | None:
    if not looks_like_bounce(msg, mail_from, sender, subject):
        return None
    human = human_text(msg)
    verdict, code, evidence = _classify("", [human])
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # flufl's detectors on odd input
        temporary, permanent = set(), set()
    addresses = {
        normalize_email(a.decode() if isinstance(a, bytes) else str(a))
        for a in (*temporary, *permanent)
    }
    delayed = bool(_DELAY_TEXT.search(subject) or _DELAY_TEXT.search(human))
    kind = DELAY if delayed else BOUNCE
    return Report(
        kind,
        bounce_kind=verdict.kind if kind == BOUNCE else "",
        category=verdict.category,
        status=bounce_rules.find_status(evidence),
        smtp_code=code,
        diagnostic=_excerpt(evidence or human),
        rule=verdict.rule,
        addresses=addresses,
    )


def _classify(status: str, texts: list[str]) -> tuple[bounce_rules.Verdict, int | None, str]:
    """The verdict from the first text whose wording a rule knows (else from the codes),
    the SMTP reply code, and the paragraph that gave the evidence."""
    for text in texts:
        for paragraph in _paragraphs(text):
            if bounce_rules.match_text(paragraph):
                code = bounce_rules.find_reply_code(paragraph)
                found = status or bounce_rules.find_status(paragraph)
                return bounce_rules.classify(found, code, paragraph), code, paragraph
    for text in texts:
        for paragraph in _paragraphs(text):
            found = status or bounce_rules.find_status(paragraph)
            code = bounce_rules.find_reply_code(paragraph)
            if found or code:
                return bounce_rules.classify(found, code, ""), code, paragraph
    return bounce_rules.classify(status, None, ""), None, ""


def _paragraphs(text: str) -> list[str]:
    return [p for p in (" ".join(c.split()) for c in re.split(r"\n\s*\n", text or "")) if p]


def _excerpt(text: str, limit: int = 1000) -> str:
    return " ".join(text.split())[:limit]


# --- automatic replies ------------------------------------------------------------------------


def _is_auto_reply(msg: email.message.Message, subject: str) -> bool:
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if _header(msg, "Precedence").lower() in {"auto_reply", "bulk", "junk"}:
        return True
    if _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond"):
        return True
    if _header(msg, "X-Auto-Response-Suppress") or _header(msg, "X-Autogenerated"):
        return True
    if _header(msg, "X-Mailer").lower().startswith("vacation"):
        return True
    return bool(_AUTO_SUBJECT.search(_AUTO_PREFIX.sub("", subject)))


def _auto_reply(msg: email.message.Message, subject: str) -> Report | None:
    if not _is_auto_reply(msg, subject):
        return None
    reason = _header(msg, "Auto-Submitted") or _header(msg, "Precedence") or subject
    return Report(AUTO_REPLY, diagnostic=reason[:300])


# --- parts ------------------------------------------------------------------------------------


def _first_part(msg: email.message.Message, *types: str) -> email.message.Message | None:
    for part in msg.walk():
        if part.get_content_type() in types:
            return part
    return None


def _walk_own(msg: email.message.Message):
    """The parts of `msg` itself, not those of a message it quotes (message/rfc822)."""
    yield msg
    if msg.get_content_type() in {"message/rfc822", "text/rfc822-headers"}:
        return
    payload = msg.get_payload()
    if msg.is_multipart() and isinstance(payload, list):
        for part in payload:
            if part.get_content_type() == "message/rfc822":
                continue
            yield from _walk_own(part)


def human_text(msg: email.message.Message) -> str:
    """The report's own text (plain, else HTML stripped), without the quoted original."""
    plain, html = [], []
    for part in _walk_own(msg):
        content_type = part.get_content_type()
        if content_type not in {"text/plain", "text/html"} or part.is_multipart():
            continue
        if part is not msg and part.get_content_disposition() == "attachment":
            continue
        text = _decoded(part)
        (plain if content_type == "text/plain" else html).append(text)
    text = "\n\n".join(plain) if plain else _strip_html("\n".join(html))
    quote = _QUOTE_START.search(text)
    return text[: quote.start()] if quote else text


def _decoded(part: email.message.Message) -> str:
    raw = part.get_payload(decode=True)
    if raw is None:
        raw = str(part.get_payload()).encode("utf-8", "replace")
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _strip_html(html: str) -> str:
    html = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    html = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</h\d>", "\n\n", html)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _original_headers(msg: email.message.Message) -> email.message.Message | None:
    """The quoted original message's headers (message/rfc822 or text/rfc822-headers)."""
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        elif content_type == "text/rfc822-headers":
            raw = part.get_payload(decode=True) or b""
            return email.message_from_string(raw.decode("utf-8", "replace").lstrip())
    return None


def quoted_message_ids(msg: email.message.Message) -> set[str]:
    """Message-IDs of the original message a report quotes (its own part, or its text)."""
    original = _original_headers(msg)
    ids: set[str] = set()
    if original is not None:
        ids.update(_MESSAGE_ID.findall(str(original.get("Message-ID", ""))))
    if not ids:
        # Inline quotes (qmail, Exim, Exchange): a "Message-ID:" line in the body.
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                for line in re.findall(r"(?im)^\s*Message-ID:\s*(<[^<>\s]+>)", _decoded(part)):
                    ids.add(line)
    return ids


def _addresses(text: str) -> set[str]:
    return {normalize_email(a) for a in _ADDRESS.findall(text or "")}
