"""The corpus of real-world inbound mail in tests/bounces/: delivery reports of many MTAs,
feedback-loop complaints, automatic and human replies, with the expected outcome of each
(expected.csv: file, the address it is sent to, the kind, the bounce category).

The samples are written as each MTA writes them; addresses are placeholders filled in for the
message the test really sent: %RECIPIENT%, %MESSAGE_ID%, %BOUNCE_ADDRESS% (its VERP address)
and %TO_ADDRESS% (where the sample is delivered).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent / "bounces"
BOUNCE_KINDS = {"hard", "soft", "block"}


@dataclass(frozen=True)
class Sample:
    name: str
    to: str  # bounce | reply | unsubscribe | fbl | abuse
    kind: str  # hard | soft | block | delay | delivered | complaint | auto_reply | reply | …
    category: str

    @property
    def text(self) -> str:
        return (CORPUS / f"{self.name}.eml").read_text(encoding="utf-8")

    def address(self, token: str, domain: str = "in.example.org") -> str:
        if self.to in {"fbl", "abuse"}:
            return f"{self.to}@{domain}"
        return f"{self.to}+{token}@{domain}"

    def filled(self, recipient: str, message_id: str, token: str) -> bytes:
        """The sample for one sent message, with CRLF line ends."""
        text = (
            self.text.replace("%RECIPIENT%", recipient)
            .replace("%MESSAGE_ID%", message_id)
            .replace("%BOUNCE_ADDRESS%", f"bounce+{token}@in.example.org")
            .replace("%TO_ADDRESS%", self.address(token))
        )
        return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")

    def mail_from(self, data: bytes) -> str:
        """The envelope sender: the sample's Return-Path ('' for the null sender)."""
        match = re.search(rb"^Return-Path:\s*<([^>]*)>", data, re.I | re.M)
        return match.group(1).decode() if match else ""


def samples() -> list[Sample]:
    with (CORPUS / "expected.csv").open(encoding="utf-8") as rows:
        return [
            Sample(row["file"], row["to"], row["kind"], row["category"])
            for row in csv.DictReader(rows)
        ]
