"""The text of an SMS as the network carries it: its encoding and segments, the opt-out footer.

This is the one place that counts SMS: the template editor (the count under the text and on
the preview), the templates API (`sms_count`) and sending (the gateway is told the count) all
call `count`.

GSM 03.38: a text made only of the GSM-7 basic character set costs one septet a character, the
extension characters (`^{}\\[~]|€` and form feed) two (an escape, then the character). One
character outside both switches the whole message to UCS-2, which counts UTF-16 code units (an
emoji outside the Basic Multilingual Plane is two). A single SMS holds 160 septets or 70 units;
a longer text is sent in segments of 153 septets or 67 units (the rest of each is the header
that joins them again), and a two-septet character or a surrogate pair is never split between
two segments.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7, UCS2 = "GSM-7", "UCS-2"
SINGLE = {GSM7: 160, UCS2: 70}  # septets or UTF-16 units of a message sent whole
PER_SEGMENT = {GSM7: 153, UCS2: 67}  # of each segment of a longer one


@dataclass(frozen=True)
class SmsCount:
    characters: int  # as a person counts them
    encoding: str  # GSM-7 or UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int  # SMS billed; 0 for an empty text

    def describe(self) -> str:
        plural = "" if self.segments == 1 else "s"
        return (
            f"{self.characters} character{'' if self.characters == 1 else 's'} · "
            f"{self.segments} segment{plural} ({self.encoding})"
        )


def _costs(text: str) -> tuple[str, list[int]]:
    """The encoding of `text` and what each of its characters costs in it."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        return GSM7, [1 if c in GSM7_BASIC else 2 for c in text]
    return UCS2, [2 if ord(c) > 0xFFFF else 1 for c in text]


def count(text: str) -> SmsCount:
    """What `text` costs when sent as it is."""
    encoding, costs = _costs(text)
    units = sum(costs)
    if units == 0:
        segments = 0
    elif units <= SINGLE[encoding]:
        segments = 1
    else:
        segments, room = 1, PER_SEGMENT[encoding]
        for cost in costs:  # a character that does not fit whole opens the next segment
            if cost > room:
                segments, room = segments + 1, PER_SEGMENT[encoding]
            room -= cost
    return SmsCount(len(text), encoding, units, segments)


def optout_footer() -> str:
    """The line added under SMS templates that ask for it (DRUMBEAT_SMS_OPTOUT_FOOTER)."""
    return settings.SMS_OPTOUT_FOOTER


def with_footer(text: str, footer: str) -> str:
    """`text` with the opt-out footer on a line of its own (nothing added for no footer)."""
    return f"{text}\n{footer}" if footer else text
