"""How a delivery failure is classified: one ordered table of rules, read top to bottom.

A failure is described by what the report gives: the RFC 3463 enhanced status code (`5.1.1`),
the SMTP reply code (`550`) and the diagnostic text in the receiving server's own words.
`classify(status, code, text)` returns a `Verdict`: the kind and a category.

Kinds:
- `hard`: the address or domain does not exist or no longer accepts mail (suppressed at once);
- `soft`: anything else that failed on the recipient's side (mailbox full, message too big,
  expired after retries, temporary and network errors), suppressed only after repeats;
- `block`: the receiving server refused the *sender* (policy, reputation, blacklists, spam or
  virus filters, SPF/DKIM/DMARC, rate limits, relaying denied): the recipient did nothing and
  is never suppressed for it.

Order of evidence: the wording rules (`TEXT_RULES`) come first because enhanced codes are often
generic (`5.0.0`) or misused (Office 365 answers `5.4.1` for an unknown recipient); then the
enhanced status code (`STATUS_RULES`, most specific prefix wins), then the SMTP reply code
(`REPLY_RULES`). A temporary code (4xx / 4.x.x) never makes a failure hard: a hard wording under
a temporary code is soft. What nothing explains is `soft`/`other`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HARD, SOFT, BLOCK = "hard", "soft", "block"
CATEGORIES = (
    "user_unknown",
    "no_domain",
    "mailbox_full",
    "too_big",
    "expired",
    "policy",
    "spam",
    "auth",
    "rate_limited",
    "network",
    "other",
)


@dataclass(frozen=True)
class Verdict:
    kind: str  # hard | soft | block
    category: str
    rule: str  # which rule decided: "text:<name>", "status:<code>", "reply:<code>", "default"


@dataclass(frozen=True)
class TextRule:
    name: str
    kind: str
    category: str
    pattern: re.Pattern[str]


def _rule(name: str, kind: str, category: str, *wordings: str) -> TextRule:
    return TextRule(name, kind, category, re.compile("|".join(wordings), re.I))


# Ordered: the first rule whose wording appears in the diagnostic text decides. Sender-side
# refusals come before "no such user" wordings because a block notice often says "rejected"
# and names the recipient; reputation and blacklists before spam (a reputation block says it
# protects users "from spam"); specific reasons (full, too big, expired) before generic ones.
TEXT_RULES: tuple[TextRule, ...] = (
    _rule(
        "auth",
        BLOCK,
        "auth",
        r"\bSPF\b",
        r"\bDKIM\b",
        r"\bDMARC\b",
        r"sender policy framework",
        r"not authenticated",
        r"authentication (?:check )?fail",
        r"unauthenticated (?:e-?mail|mail|message|sender)",
        r"is unauthenticated",
        r"failed? (?:the )?(?:sender )?authentication",
        r"sender (?:address )?(?:is )?not (?:verified|authori[sz]ed)",
        r"reverse (?:DNS|lookup|hostname)",
        r"\bPTR\b",
        r"client host \S* ?(?:name|address) (?:lookup|does not resolve)",
        r"cannot find your hostname",
        r"sender verify failed",
        r"domain of sender address \S+ does not exist",
    ),
    _rule(
        "rate_limited",
        BLOCK,
        "rate_limited",
        r"rate[- ]limit",
        r"too many (?:messages|mails|emails|connections|recipients|concurrent|sessions)",
        r"unusual rate",
        r"(?:sending|message|connection) rate",
        r"throttl",
        r"exceeded (?:the )?(?:max(?:imum)? )?(?:number of )?(?:messages|connections|rcpts)",
        r"temporarily deferred due to",
        r"\bTS0[1-4]\b",
        r"mail flood",
        r"receiving mail at a rate",
        r"too fast",
    ),
    _rule(
        "blacklist",
        BLOCK,
        "policy",
        r"black[- ]?list",
        r"block[- ]?list",
        r"deny[- ]?list",
        r"\bRBL\b",
        r"\bDNSBL\b",
        r"spamhaus",
        r"spamcop",
        r"barracuda ?(?:reputation|central)",
        r"sorbs",
        r"\bUCEPROTECT",
        r"(?<!not )\blisted (?:at|on|in|by)\b",
        r"is listed",
        r"reputation",
        r"blocked (?:using|by|because|due to|for)",
        r"\(BL\)",
        r"banned",
        r"\bon our block",
        r"poor (?:sending )?reputation",
        r"\bS3150\b",
        r"\bAS\(\d+\)",
        r"\bRP-00\d\b",
        r"\bRL-00\d\b",
        r"\bPH\d{2}\b",
        r"client host rejected",
        r"access denied\W+(?:banned|ip|sending)",
        r"connection refused by",
        r"not allowed to send",
        r"\bIB\d{3}\b",
    ),
    _rule(
        "spam",
        BLOCK,
        "spam",
        r"\bspam(?!haus|cop)",
        r"\bjunk (?:mail|e-?mail)",
        r"unsolicited",
        r"\bUBE\b",
        r"\bvirus",
        r"malware",
        r"infected",
        (
            r"(?:message|content) (?:was |is )?(?:rejected|flagged|blocked) (?:as|due to) (?:s"
            r"uspicious|content)"
        ),
        r"content (?:filter|rejected|policy)",
        r"suspicious (?:content|message|link|url)",
        r"phish",
        r"bulk mail",
        r"high probability of being",
        r"\bMCSI\b",
        r"message (?:looks|appears) (?:like|to be)",
    ),
    _rule(
        "relay",
        BLOCK,
        "policy",
        r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed))",
        r"not permitted to relay",
        r"unable to relay",
        r"we do not relay",
        r"relay not permitted",
        r"no relaying",
        r"not (?:a )?(?:valid )?relay",
        r"relaying (?:mail )?(?:to \S+ )?(?:is )?(?:prohibited|denied)",
        r"open relay",
    ),
    _rule(
        "sender_policy",
        BLOCK,
        "policy",
        r"sender address rejected",
        r"sender (?:is )?(?:rejected|denied|blocked)",
        r"(?:message|mail) (?:not accepted|rejected) for policy reasons",
        r"policy (?:violation|reasons|rejection|restriction)",
        r"administrative prohibition",
        r"prohibited by administrator",
        r"\bEOD\b.*(?:restrict|policy)",
        r"rejected by (?:the )?recipient(?:'s)? (?:domain|server|system)? ?(?:policy|rules)",
        r"does not accept mail from",
        r"not accept(?:ing)? (?:mail|messages|e-?mail) from",
        r"unauthori[sz]ed",
        r"not authori[sz]ed",
        r"\bdenied by policy",
        r"envelope blocked",
        r"header (?:error|rejected)",
        r"sending (?:domain|address|ip) (?:is )?(?:not|rejected|blocked)",
        r"anti-?spoof",
        r"security polic(?:y|ies)",
        r"sender was rejected",
        r"badmailfrom",
        r"\bblocked\b",
        r"tls (?:is )?required",
        r"must use (?:tls|starttls|encryption)",
    ),
    _rule(
        "mailbox_full",
        SOFT,
        "mailbox_full",
        (
            r"(?:mail ?box|mail folder|inbox|account|disk|storage|user)(?:'s)? ?(?:is |has )?"
            r"(?:over|exceed\w*) (?:the |its |their )?(?:quota|storage|size|limit)"
        ),
        r"over ?quota",
        r"quota (?:exceeded|full|limit)",
        r"exceed(?:s|ed)? (?:the )?(?:storage|disk|mailbox|quota)",
        r"(?:mail ?box|inbox|mail folder|mailfolder|storage|disk)(?: is)? full",
        r"full mail ?box",
        r"insufficient (?:system )?storage",
        r"not enough (?:disk )?space",
        r"out of (?:storage|disk)",
        r"storage (?:allocation|limit)",
        r"mailbox (?:size|storage) limit",
        r"user (?:has )?(?:too many|exceeded)",
        r"has reached (?:its|the|their) (?:storage|quota|limit)",
        r"mailbox (?:is )?at capacity",
        r"(?:message|mail) ?box (?:would exceed|exceeds)",
    ),
    _rule(
        "too_big",
        SOFT,
        "too_big",
        (
            r"(?:message|mail|e-?mail|data) (?:is )?(?:too (?:big|large|long)|size exceeds|exc"
            r"eeds (?:the )?(?:max(?:imum)?|size|message size))"
        ),
        r"(?:message|mail) (?:size|length) (?:exceeds|limit|too)",
        r"size limit",
        r"message file too big",
        r"exceeds (?:the )?(?:max(?:imum)? )?(?:allowed |message )?size",
        r"too large",
        r"maximum (?:message )?size",
    ),
    _rule(
        "expired",
        SOFT,
        "expired",
        r"retry (?:timeout|time) (?:exceeded|expired)",
        r"(?:delivery )?time ?(?:out|limit) (?:exceeded|expired)",
        r"(?:message |delivery )?expired",
        r"could not be delivered (?:with)?in (?:\d+|the)",
        r"has been (?:in the queue|queued) (?:too long|for)",
        r"maximum (?:time|number of delivery attempts)",
        r"too (?:long|old) in (?:the )?queue",
        r"retry (?:period|limit)",
        r"I'm not going to try again",
        r"unable to deliver (?:this|your) message (?:for|after) \d+",
    ),
    _rule(
        "suspended",
        SOFT,
        "other",
        r"suspended",
        r"temporarily (?:disabled|unavailable|locked|blocked)",
        r"greylist",
        r"grey-?listed",
        r"try (?:again )?later",
    ),
    _rule(
        "no_domain",
        HARD,
        "no_domain",
        r"host (?:or domain name )?(?:not found|unknown)",
        r"domain (?:name )?(?:not found|does not exist|unknown|is not valid|invalid|lookup failed)",
        r"unknown (?:host|domain)",
        r"no such (?:domain|host)",
        r"name service error",
        r"NXDOMAIN",
        r"no (?:valid )?(?:MX|mail exchanger|DNS) (?:record|host|entry|for)",
        r"MX (?:record )?(?:lookup failed|not found|points to)",
        r"null MX",
        r"does not accept (?:e-?)?mail(?! from)",
        r"domain (?:is )?not (?:configured|hosted|served|accepting|accept)",
        r"not our customer",
        r"couldn't find any host named",
        r"no mail(?:box)? (?:server|host) for",
        r"unrouteable (?:mail )?(?:domain|address)",
        r"MX records point to non-existent hosts",
        r"no route found to domain",
        r"domain \S+ does not exist",
        r"DomainNonexistent",
        r"this domain is not hosted here",
        r"address domain not found",
        r"recipient domain (?:must exist|does not exist|unknown)",
        r"unroutable address",
        r"no route to (?:host|domain) (?:found )?for",
        r"unable to route to domain",
    ),
    _rule(
        "user_unknown",
        HARD,
        "user_unknown",
        r"user (?:name |account )?(?:is )?unknown",
        r"unknown (?:user|recipient|local[- ]?part|mailbox|address|account|alias)",
        r"no such (?:user|recipient|mailbox|address|account|person|local user|e-?mail)",
        (
            r"(?:user|recipient|mailbox|address|account|e-?mail address|addressee)(?: \S+)? (?"
            r":does not|doesn't|dose not|does no longer) exist"
        ),
        (
            r"(?:user|recipient|mailbox|address|account|addressee) (?:\S+ )?(?:is )?(?:not fou"
            r"nd|unavailable|invalid|not known|not valid|not listed|inactive|disabled|deactiva"
            r"ted|not exist|unkn?own)"
        ),
        r"invalid (?:recipient|user|mailbox|address|account|e-?mail)",
        (
            r"(?:recipient|user|mailbox|address|account) (?:rejected|not accepted)(?:: (?:user"
            r"|access denied|unknown))?"
        ),
        (
            r"recipient address rejected: (?:access denied|undeliverable address|user unknown|"
            r"unknown|invalid)"
        ),
        r"not (?:a )?(?:valid|known) (?:user|recipient|mailbox|address)",
        r"not listed in",
        (
            r"account (?:has been |is )?(?:disabled|deactivated|closed|removed|terminated|dele"
            r"ted|inactive|expired|discontinued)"
        ),
        (
            r"mailbox (?:has been |is )?(?:disabled|deactivated|closed|removed|deleted|inactiv"
            r"e|locked|not available|unavailable)"
        ),
        r"(?:no longer|not) (?:valid|active|in use|exists?)\b",
        r"(?:has|have) (?:been )?(?:moved|left|deleted)",
        r"no mailbox (?:here|for|by that name)",
        r"no (?:such|valid) (?:recipient|address|recipients)",
        r"unable to find (?:the )?(?:recipient|user|mailbox)",
        r"(?:user|mailbox|recipient) (?:\S+ )?not (?:here|local)",
        r"sorry, no mailbox here",
        r"does not have (?:a|an) (?:account|mailbox)",
        r"address (?:is )?(?:not )?(?:deliverable|undeliverable)",
        r"bad destination (?:mailbox|address)",
        r"destination (?:address|mailbox) (?:unknown|invalid)",
        r"not (?:a )?(?:recogni[sz]ed|known) (?:address|recipient)",
        r"undeliverable address",
        r"mailbox unavailable",
        r"requested action not taken: mailbox",
        r"no such address",
        r"address rejected",
        r"couldn't be found",
        r"could not be found",
        r"recipient not found",
        r"wasn't found",
        r"is not a valid mailbox",
        r"(?:does not|doesn't) have an? (?:\S+ )?account",
        r"no longer accepts (?:e-?)?mail",
        r"address(?:es)? (?:were|was|is) unknown",
    ),
    _rule(
        "network",
        SOFT,
        "network",
        r"connection (?:timed out|refused|reset|lost|closed)",
        r"timed out while",
        r"lost connection",
        r"no route to host",
        r"network (?:is )?unreachable",
        r"could not connect",
        r"unable to connect",
        r"conversation with \S+ timed out",
        r"hop count exceeded",
        r"mail loop",
        r"routing loop",
        r"temporary (?:DNS|lookup) (?:failure|error)",
        r"SERVFAIL",
    ),
)

# Enhanced status codes (RFC 3463 and its registry): class and subject.detail prefix.
# `None` kind: the class decides (5 → the listed permanent kind, 4 → soft).
STATUS_RULES: dict[str, tuple[str, str]] = {
    "1.0": (SOFT, "other"),
    "1.1": (HARD, "user_unknown"),
    "1.2": (HARD, "no_domain"),
    "1.3": (HARD, "user_unknown"),
    "1.4": (SOFT, "other"),
    "1.6": (HARD, "user_unknown"),
    "1.7": (BLOCK, "policy"),
    "1.8": (BLOCK, "policy"),
    "1.10": (HARD, "no_domain"),
    "2.0": (SOFT, "other"),
    "2.1": (HARD, "user_unknown"),
    "2.2": (SOFT, "mailbox_full"),
    "2.3": (SOFT, "too_big"),
    "2.4": (SOFT, "other"),
    "3.0": (SOFT, "other"),
    "3.1": (SOFT, "mailbox_full"),
    "3.4": (SOFT, "too_big"),
    "4": (SOFT, "network"),
    "4.1": (SOFT, "network"),
    "4.2": (SOFT, "network"),
    "4.3": (SOFT, "network"),
    "4.4": (HARD, "no_domain"),
    "4.5": (SOFT, "network"),
    "4.6": (SOFT, "network"),
    "4.7": (SOFT, "expired"),
    "5": (SOFT, "other"),
    "6": (SOFT, "other"),
    "7": (BLOCK, "policy"),
    "7.1": (BLOCK, "policy"),
    "7.8": (BLOCK, "auth"),
    "7.9": (BLOCK, "auth"),
    "7.13": (HARD, "user_unknown"),
    "7.20": (BLOCK, "auth"),
    "7.21": (BLOCK, "auth"),
    "7.22": (BLOCK, "auth"),
    "7.23": (BLOCK, "auth"),
    "7.24": (BLOCK, "auth"),
    "7.25": (BLOCK, "auth"),
    "7.26": (BLOCK, "auth"),
    "7.27": (HARD, "no_domain"),
    "7.28": (BLOCK, "rate_limited"),
}

# SMTP reply codes (RFC 5321, RFC 7504) when no enhanced code says more.
REPLY_RULES: dict[int, tuple[str, str]] = {
    421: (SOFT, "network"),
    450: (SOFT, "other"),
    451: (SOFT, "other"),
    452: (SOFT, "mailbox_full"),
    521: (HARD, "no_domain"),
    550: (SOFT, "other"),
    551: (HARD, "user_unknown"),
    552: (SOFT, "mailbox_full"),
    553: (SOFT, "other"),
    554: (SOFT, "other"),
    556: (HARD, "no_domain"),
}

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_REPLY = re.compile(r"(?<![\d.#-])([245]\d\d)(?=[ -]|$)", re.M)


def find_status(text: str) -> str:
    """The first enhanced status code (RFC 3463) in `text` ('' when none)."""
    for match in _STATUS.finditer(text or ""):
        return ".".join(match.groups())
    return ""


def find_reply_code(text: str) -> int | None:
    """The first 4xx/5xx SMTP reply code in `text` (None when none)."""
    for match in _REPLY.finditer(text or ""):
        code = int(match.group(1))
        if 400 <= code < 600:
            return code
    return None


def match_text(text: str) -> TextRule | None:
    for rule in TEXT_RULES:
        if rule.pattern.search(text or ""):
            return rule
    return None


def classify(status: str = "", code: int | None = None, text: str = "") -> Verdict:
    """The kind and category of one failure, from the best evidence available."""
    status = status or find_status(text)
    code = code or find_reply_code(text)
    temporary = status.startswith("4") or (not status and code is not None and code < 500)
    verdict = _by_text(text) or _by_status(status) or _by_reply(code)
    if verdict is None:
        return Verdict(SOFT, "other", "default")
    if verdict.kind == HARD and temporary:
        return Verdict(SOFT, verdict.category, verdict.rule)
    return verdict


def _by_text(text: str) -> Verdict | None:
    rule = match_text(text)
    return Verdict(rule.kind, rule.category, f"text:{rule.name}") if rule else None


def _by_status(status: str) -> Verdict | None:
    if not status or status[0] not in "45":
        return None
    _, subject, detail = status.split(".")
    for key in (f"{subject}.{detail}", subject):
        if key in STATUS_RULES:
            kind, category = STATUS_RULES[key]
            return Verdict(kind, category, f"status:{status}")
    return None


def _by_reply(code: int | None) -> Verdict | None:
    if code in REPLY_RULES:
        kind, category = REPLY_RULES[code]
        return Verdict(kind, category, f"reply:{code}")
    return None
