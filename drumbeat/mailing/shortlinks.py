"""Tracked links of SMS: `/s/<code>`, one short code per message and link.

An SMS is paid by the character, so its tracked link is never longer than the URL the author
wrote: `DRUMBEAT_BASE_URL` + `/s/` + 8 letters and digits, a random code stored per message
and link (`ShortLink`) that names both at once. A URL shorter than that is sent as written,
untracked. Email keeps its `/r/<link>/<token>` links.

A click on `/s/<code>` is the click of that message on that link: `tracking.track_short_click`
resolves the code and records it exactly like `/r/<link>/<token>`.
"""

from __future__ import annotations

import re
import secrets
import string

from django.conf import settings

from .bulk import insert_rows, text_set
from .models import Message, ShortLink

CODE_LENGTH = 8  # 62^8 ≈ 2.2e14 codes
ALPHABET = string.ascii_letters + string.digits  # no punctuation a phone might cut a link at
_CODE_RE = re.compile(f"[0-9A-Za-z]{{{CODE_LENGTH}}}")
PLACEHOLDER_CODE = "X" * CODE_LENGTH  # stands for a code in previews and counts


def short_url(code: str) -> str:
    return f"{settings.BASE_URL}/s/{code}"


def is_tracked(url: str) -> bool:
    """Whether a link to `url` is tracked: only when its short form is no longer."""
    return len(short_url(PLACEHOLDER_CODE)) <= len(url)


def sent_form(url: str) -> str:
    """`url` as an SMS carries it, a placeholder standing for the code (previews, counts)."""
    return short_url(PLACEHOLDER_CODE) if is_tracked(url) else url


def is_valid_code(code: str) -> bool:
    return bool(_CODE_RE.fullmatch(code))


def new_codes(count: int) -> list[str]:
    """`count` random codes that no ShortLink has (one SELECT, rarely more)."""
    codes: list[str] = []
    while len(codes) < count:
        fresh = {
            "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            for _ in range(count - len(codes))
        } - set(codes)
        taken = set(
            ShortLink.objects.filter(code__in=text_set(fresh)).values_list("code", flat=True)
        )
        codes += sorted(fresh - taken)
    return codes


def resolve(code: str) -> tuple[str, str] | None:
    """(link code, message token) of a short code; None for an unknown or malformed one."""
    if not is_valid_code(code):
        return None
    row = ShortLink.objects.filter(code=code).values_list("link__code", "message__token")[:1]
    return tuple(row[0]) if row else None  # type: ignore[return-value]


class SmsLinks:
    """The tracked links of one SMS batch. `links` are the template's links by marker index;
    `link_ids` the Link row of each URL that is tracked (URLs shorter than their short form
    have none). Codes are keyed by message token, known before the message rows are inserted.
    """

    def __init__(self, links: list[tuple[str, str]], link_ids: dict[str, int]) -> None:
        self.urls = [url for url, _ in links]
        self.tracked = {i: link_ids[url] for i, url in enumerate(self.urls) if url in link_ids}
        self.codes: dict[tuple[str, int], str] = {}  # (message token, marker index) -> code
        self.new: set[tuple[str, int]] = set()

    def assign(self, messages: list[Message]) -> None:
        """Give each message a code per tracked link: the one an earlier attempt gave it
        (a deferred message sent again), else a new one. Two SELECTs at most."""
        if not self.tracked or not messages:
            return
        token_of = {m.pk: m.token for m in messages if m.pk is not None}
        index_of = {link_id: i for i, link_id in self.tracked.items()}
        if token_of:
            rows = ShortLink.objects.filter(
                message_id__in=list(token_of), link_id__in=list(index_of)
            ).values_list("message_id", "link_id", "code")
            for message_id, link_id, code in rows:
                self.codes[(token_of[message_id], index_of[link_id])] = code
        wanted = [(m.token, i) for m in messages for i in self.tracked]
        wanted = [key for key in wanted if key not in self.codes]
        for key, code in zip(wanted, new_codes(len(wanted)), strict=True):
            self.codes[key] = code
            self.new.add(key)

    def urls_for(self, token: str) -> list[str]:
        """The link URLs of one message by marker index: short when tracked, else as written."""
        return [
            short_url(self.codes[(token, i)]) if i in self.tracked else url
            for i, url in enumerate(self.urls)
        ]

    def save(self, messages: list[Message]) -> None:
        """Insert the new codes of `messages`, whose rows exist now (one INSERT)."""
        rows = [
            ShortLink(code=self.codes[(m.token, i)], message_id=m.pk, link_id=link_id)
            for m in messages
            for i, link_id in self.tracked.items()
            if (m.token, i) in self.new
        ]
        insert_rows(ShortLink, rows)
