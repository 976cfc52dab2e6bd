"""Send windows (quiet hours) and frequency caps: their text forms, parsed and evaluated.

A window says when a message may reach a person, in that person's local time:

    Mon-Sat 08:00-20:00                 Monday to Saturday, 8 am to 8 pm
    Mon-Fri 09:00-19:00; Sat 10:00-14:00
    08:00-21:00                         every day
    always (or empty)                   no quiet hours

Rules are separated by `;` or `,`; days are Mon…Sun (ranges may wrap, `Fri-Mon`) or `daily`;
times are HH:MM with `24:00` for midnight at the end; the end must come after the start.

A cap says how many messages of one channel a person may receive:

    1/day,3/7days      at most 1 per calendar day and 3 in any 7 consecutive calendar days
    2/week             the same as 2/7days
    none (or empty)    no cap

Days are the person's calendar days; `N/Kdays` counts today and the K-1 days before it.
K is at most 31 (`MAX_CAP_DAYS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_CAP_DAYS = 31
_SPAN = re.compile(
    r"^(?:(?P<days>[a-z]+(?:\s*-\s*[a-z]+)?)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)
_CAP = re.compile(r"^(?P<limit>\d+)\s*/\s*(?P<count>\d+)?\s*(?P<unit>day|days|week|weeks)$")


def _minutes(text: str, rule: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{text!r} in {rule!r} is not a time (HH:MM, 00:00 to 24:00)")
    return hours * 60 + minutes


def _day(name: str, rule: str) -> int:
    key = name.strip()[:3]
    if key not in DAY_NAMES:
        raise ValueError(f"{name.strip()!r} in {rule!r} is not a day (Mon, Tue … Sun)")
    return DAY_NAMES.index(key)


@dataclass(frozen=True)
class SendWindow:
    """When messages may go out, in the recipient's local time. No spans: always open."""

    spans: tuple[tuple[int, int, int], ...] = ()  # (weekday 0=Mon, start minute, end minute)
    text: str = ""

    @property
    def always_open(self) -> bool:
        return not self.spans

    def is_open(self, local: datetime) -> bool:
        if self.always_open:
            return True
        minute = local.hour * 60 + local.minute
        return any(d == local.weekday() and s <= minute < e for d, s, e in self.spans)

    def next_open(self, local: datetime) -> datetime:
        """`local` itself when the window is open then, else the next opening (an aware
        datetime in `local`'s zone; wall-clock times, so a DST change keeps 08:00 at 08:00)."""
        if self.is_open(local):
            return local
        zone: tzinfo | None = local.tzinfo
        minute = local.hour * 60 + local.minute
        for offset in range(8):
            day: date = local.date() + timedelta(days=offset)
            starts = sorted(s for d, s, _ in self.spans if d == day.weekday())
            for start in starts:
                if offset == 0 and start <= minute:
                    continue
                opening = datetime.combine(day, time(start // 60, start % 60), tzinfo=zone)
                return opening
        raise AssertionError("a window with spans opens within a week")

    def __str__(self) -> str:
        return self.text or "always"


def parse_window(text: str | None) -> SendWindow:
    """A SendWindow from its text; ValueError naming the bad part."""
    source = (text or "").strip()
    if source.lower() in {"", "always", "any", "none"}:
        return SendWindow()
    spans: list[tuple[int, int, int]] = []
    for raw in re.split(r"[;,]", source):
        rule = raw.strip().lower()
        if not rule:
            continue
        match = _SPAN.match(rule)
        if not match:
            raise ValueError(
                f"{raw.strip()!r} is not a window rule (write e.g. 'Mon-Sat 08:00-20:00')"
            )
        start, end = _minutes(match["start"], raw), _minutes(match["end"], raw)
        if end <= start:
            raise ValueError(f"in {raw.strip()!r} the end must come after the start")
        days_text = (match["days"] or "daily").replace(" ", "")
        if days_text in {"daily", "everyday", "all"}:
            days = list(range(7))
        elif "-" in days_text:
            first, last = (_day(p, raw) for p in days_text.split("-"))
            days = [(first + i) % 7 for i in range((last - first) % 7 + 1)]
        else:
            days = [_day(days_text, raw)]
        spans += [(d, start, end) for d in days]
    if not spans:
        raise ValueError("the window has no rule")
    return SendWindow(tuple(sorted(set(spans))), source)


@dataclass(frozen=True)
class CapRule:
    limit: int
    days: int


@dataclass(frozen=True)
class Cap:
    """Per-person limits on one channel; no rules: no cap."""

    rules: tuple[CapRule, ...] = ()
    text: str = ""

    @property
    def is_none(self) -> bool:
        return not self.rules

    @property
    def lookback_days(self) -> int:
        return max((r.days for r in self.rules), default=0)

    def fit_day(self, sent_days: list[date], today: date) -> date:
        """The first local day from `today` on which one more message fits every rule, given
        the local days of the messages already counted (`sent_days`, possibly with today
        several times). Counts only fall as days pass, so each rule's first day is found
        from its limit-th most recent message, and the latest of them fits all."""
        fits = today
        recent = sorted((d for d in sent_days if d <= today), reverse=True)
        for rule in self.rules:
            inside = [d for d in recent if d > today - timedelta(days=rule.days)]
            if len(inside) >= rule.limit:
                fits = max(fits, inside[rule.limit - 1] + timedelta(days=rule.days))
        return fits

    def __str__(self) -> str:
        return self.text or "none"


def parse_cap(text: str | None) -> Cap:
    """A Cap from its text; ValueError naming the bad part."""
    source = (text or "").strip()
    if source.lower() in {"", "none", "off"}:
        return Cap()
    rules: list[CapRule] = []
    for raw in re.split(r"[;,]", source):
        rule = raw.strip().lower()
        if not rule:
            continue
        match = _CAP.match(rule)
        if not match:
            raise ValueError(f"{raw.strip()!r} is not a cap (write e.g. '1/day' or '3/7days')")
        limit = int(match["limit"])
        count = int(match["count"] or 1)
        days = count * (7 if match["unit"].startswith("week") else 1)
        if limit < 1:
            raise ValueError(f"in {raw.strip()!r} the number of messages must be at least 1")
        if not 1 <= days <= MAX_CAP_DAYS:
            raise ValueError(f"in {raw.strip()!r} the period must be 1 to {MAX_CAP_DAYS} days")
        rules.append(CapRule(limit, days))
    if not rules:
        raise ValueError("the cap has no rule")
    return Cap(tuple(rules), source)
