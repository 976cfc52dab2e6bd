"""Importing blacklist entries (emails or phone numbers): new ones created, lifted ones
reactivated, active ones kept."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from drumbeat.contacts.services import clean_country, clean_email, clean_phone

from .columns import MODELS, REQUIRED
from .reading import row_cells
from .report import ImportFailed, ImportOptions, ImportReport, Problem, RowError
from .writing import LOOKUP_CHUNK, PROGRESS_EVERY, WRITE_BATCH, update_rows


class BlacklistImporter:
    """Blacklist entries: new ones created, lifted ones reactivated, active ones kept."""

    def __init__(
        self, kind: str, columns: list[str | None], options: ImportOptions, report: ImportReport
    ) -> None:
        self.columns, self.options, self.report = columns, options, report
        self.model = MODELS[kind]
        self.key = REQUIRED[kind][0]  # email | number
        self.default_reason = f"imported from {Path(report.path).name}"[:200]
        self.countries: dict[str, str] = {}

    def run(self, rows: Iterable[tuple[int, list[str]]], total: int) -> None:
        entries: dict[str, tuple[int, str]] = {}  # normalised value -> (line, reason)
        for line, cells in rows:
            self.report.rows += 1
            try:
                value, reason = self._check(cells)
            except RowError as exc:
                self.report.problems.append(Problem(line, str(exc)))
                continue
            earlier = entries.get(value)
            if earlier is not None and not self.options.update_existing:
                self.report.problems.append(Problem(line, f"same {self.key} as line {earlier[0]}"))
                continue
            if earlier is not None:  # with update_existing the later row's reason wins
                entries[value] = (earlier[0], reason or earlier[1])
            else:
                entries[value] = (line, reason)
            if self.options.on_progress and self.report.rows % PROGRESS_EVERY == 0:
                self.options.on_progress("checking", self.report.rows, total - 1)
        if self.report.rows == 0:
            raise ImportFailed("the file has a header but no rows.")
        if self.report.problems and self.options.all_or_nothing:
            self.report.aborted = True
            return
        self.report.problems.sort(key=lambda p: p.line)
        self._write(entries)

    def _check(self, cells: list[str]) -> tuple[str, str]:
        raw = row_cells(self.columns, cells)
        if not raw.get(self.key):
            raise RowError(f"missing {self.key}")
        try:
            if self.key == "email":
                value = clean_email(raw["email"])
            else:
                country = raw.get("country", "")
                if country not in self.countries:
                    self.countries[country] = clean_country(country)
                value = clean_phone(raw["number"], self.countries[country])
        except ValueError as exc:
            raise RowError(str(exc)) from None
        reason = raw.get("reason", "")
        if len(reason) > 200:
            raise RowError("reason is longer than 200 characters")
        return value, reason

    def _write(self, entries: dict[str, tuple[int, str]]) -> None:
        values = sorted(entries)
        existing: dict[str, tuple[int, bool]] = {}
        for start in range(0, len(values), LOOKUP_CHUNK):
            chunk = values[start : start + LOOKUP_CHUNK]
            rows = self.model.objects.filter(**{f"{self.key}__in": chunk})
            existing.update((v, (pk, a)) for pk, v, a in rows.values_list("id", self.key, "active"))
        now = timezone.now()
        new, changes = [], []
        for value, (_, reason) in entries.items():
            found = existing.get(value)
            if found is None:
                new.append(self.model(**{self.key: value}, reason=reason or self.default_reason))
            elif not found[1]:
                changes.append(
                    (
                        {
                            "active": True,
                            "reason": reason or self.default_reason,
                            "updated_at": now,
                        },
                        found[0],
                    )
                )
                self.report.reactivated += 1
            elif reason and self.options.update_existing:
                changes.append(({"reason": reason, "updated_at": now}, found[0]))
            else:
                self.report.unchanged += 1
        with transaction.atomic():
            self.model.objects.bulk_create(new, batch_size=WRITE_BATCH)
            update_rows(self.model, changes)
        self.report.created, self.report.updated = len(new), len(changes)
        if self.options.on_progress:
            self.options.on_progress("importing", len(entries), len(entries))
