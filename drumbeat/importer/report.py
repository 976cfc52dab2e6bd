"""The options of an import and its report: rows created, updated, subscribed, kept, and the
problems of the rows not imported, each with its line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .columns import BLACKLIST_KINDS, NOUNS


@dataclass
class ImportOptions:
    list_name: str | None = None
    update_existing: bool = False
    all_or_nothing: bool = False
    progress: bool = False  # tqdm bars on stderr for large files
    # called as on_progress(phase, done, total) every few thousand rows; phase is
    # "checking" or "importing" (for a web page showing the import's progress)
    on_progress: Callable[[str, int, int], None] | None = None


@dataclass(frozen=True)
class Problem:
    line: int  # physical line of the file where the row starts (header = 1)
    reason: str


@dataclass
class ImportReport:
    kind: str
    path: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    subscribed: int = 0
    unchanged: int = 0  # existing mailing contacts only subscribed; blacklist entries kept
    reactivated: int = 0  # blacklists: lifted entries made active again (part of `updated`)
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None  # fatal: nothing imported
    aborted: bool = False  # all-or-nothing and some rows were bad

    @property
    def ok(self) -> bool:
        """True when every row was imported."""
        return self.error is None and not self.problems

    @property
    def imported(self) -> int:
        return self.created + self.updated

    def summary(self) -> str:
        name = Path(self.path).name
        if self.error:
            return f"Cannot import {name}: {self.error} Nothing was imported."
        if self.aborted:
            return (
                f"Nothing imported from {name}: {len(self.problems)} of {self.rows:,} rows "
                "have problems (--all-or-nothing)."
            )
        noun = NOUNS.get(self.kind, self.kind.replace("-", " "))
        text = f"Imported {name}: {self.created:,} {noun} created, {self.updated:,} updated"
        if self.reactivated:
            text += f" ({self.reactivated:,} reactivated)"
        if self.unchanged:
            text += f", {self.unchanged:,} already " + (
                "blacklisted" if self.kind in BLACKLIST_KINDS else "present"
            )
        if self.subscribed:
            text += f", {self.subscribed:,} subscriptions added"
        if self.problems:
            text += f"; {len(self.problems):,} of {self.rows:,} rows not imported (see below)"
        return text + "."


class ImportFailed(Exception):
    """A problem with the whole file: nothing is imported."""


class RowError(Exception):
    """A problem with one row; the message is the reason shown to the user."""
