"""Importing contacts, leads, event registrations and mailing contacts: every row checked
(lookups pre-loaded), duplicates found, then the valid rows written in one transaction."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from tqdm import tqdm

from drumbeat.accounts.models import User
from drumbeat.contacts.models import Contact, Tag
from drumbeat.contacts.services import (
    clean_country,
    clean_email,
    clean_phone,
    get_or_create_tags,
    split_tag_names,
)
from drumbeat.crm.models import Stage
from drumbeat.crm.services import (
    DEFAULT_STAGES,
    clean_priority,
    clean_revenue,
    ensure_default_stages,
)
from drumbeat.events.models import Event, Registration
from drumbeat.events.services import clean_state
from drumbeat.lib.timezones import clean_time_zone, derive_zone
from drumbeat.mailing.models import MailingList, Subscription

from .columns import MODELS, REQUIRED, STORED_AS, title
from .reading import row_cells
from .report import ImportFailed, ImportOptions, ImportReport, Problem, RowError
from .writing import (
    LOOKUP_CHUNK,
    PROGRESS_EVERY,
    PROGRESS_MIN_ROWS,
    WRITE_BATCH,
    report_changed,
    update_rows,
)


@dataclass
class Row:
    line: int
    values: dict[str, Any]  # model field -> cleaned value (only columns present in the file)
    tags: list[str]
    lists: list[str]
    key: Any  # dedupe key, None when the row has no email
    existing_id: int | None = None


class RecordImporter:
    def __init__(
        self, kind: str, columns: list[str | None], options: ImportOptions, report: ImportReport
    ) -> None:
        self.kind, self.columns, self.options, self.report = kind, columns, options, report
        self.model = MODELS[kind]
        self.present = {c for c in columns if c}
        self.countries: dict[str, str] = {}
        self.users = self._load_users() if "salesperson" in self.present else {}
        self.stages = self._load_by_name(Stage) if "stage" in self.present else {}
        self.stage_names = list(Stage.objects.values_list("name", flat=True)) if self.stages else []
        self.events = self._load_by_name(Event) if "event" in self.present else {}
        self.max_lengths = {
            f.name: f.max_length
            for f in self.model._meta.concrete_fields
            if isinstance(f, models.CharField)
        }

    # lookups, loaded once
    @staticmethod
    def _load_users() -> dict[str, int]:
        users: dict[str, int] = {}
        for pk, username, email in User.objects.values_list("id", "username", "email"):
            if email:
                users.setdefault(email.strip().lower(), pk)
            users[username.lower()] = pk
        return users

    @staticmethod
    def _load_by_name(model: type[models.Model]) -> dict[str, int]:
        return {n.strip().lower(): pk for pk, n in model.objects.values_list("id", "name")}

    def run(self, rows: Iterable[tuple[int, list[str]]], total: int) -> None:
        show = self.options.progress and total >= PROGRESS_MIN_ROWS
        bar = tqdm(
            total=total - 1, desc="Checking", unit=" rows", file=sys.stderr, disable=not show
        )
        checked: list[Row] = []
        with bar:
            for line, cells in rows:
                self.report.rows += 1
                try:
                    checked.append(self._check(line, cells))
                except RowError as exc:
                    self.report.problems.append(Problem(line, str(exc)))
                bar.update(1)
                if self.options.on_progress and self.report.rows % PROGRESS_EVERY == 0:
                    self.options.on_progress("checking", self.report.rows, total - 1)
        if self.report.rows == 0:
            raise ImportFailed("the file has a header but no rows.")
        checked = self._dedupe(checked)
        if self.report.problems and self.options.all_or_nothing:
            self.report.aborted = True
            return
        self.report.problems.sort(key=lambda p: p.line)
        self._write(checked, show)

    def _check(self, line: int, cells: list[str]) -> Row:
        raw = row_cells(self.columns, cells)
        errors: list[str] = []
        values: dict[str, Any] = {}

        def attempt(name: str, clean: Callable[[str], Any]) -> None:
            if name in raw:
                try:
                    values[STORED_AS.get(name, name)] = clean(raw[name])
                except (ValueError, RowError) as exc:
                    errors.append(str(exc))

        for name in REQUIRED[self.kind]:
            if not raw.get(name):
                errors.append(f"missing {title(name).lower()}")
        attempt("country", self._country)
        for name in raw:
            if name in {"country", "tags", "lists"}:
                continue
            if name == "phone":
                attempt("phone", lambda v: clean_phone(v, values.get("country") or ""))
            elif name == "email":
                attempt("email", clean_email)
            elif name in self.CLEANERS:
                attempt(name, getattr(self, self.CLEANERS[name]))
            else:
                values[name] = raw[name]
        if not errors:
            for name, value in values.items():
                limit = self.max_lengths.get(name)
                if limit and isinstance(value, str) and len(value) > limit:
                    errors.append(f"{title(name).lower()} is longer than {limit} characters")
        if errors:
            raise RowError("; ".join(dict.fromkeys(errors)))
        tags = split_tag_names(raw.get("tags", ""))
        if any(len(t) > 64 for t in tags):
            raise RowError("a tag is longer than 64 characters")
        lists = split_tag_names(raw.get("lists", ""))
        return Row(line, values, tags, lists, self._dedupe_key(values))

    CLEANERS = {
        "salesperson": "_salesperson",
        "priority": "_priority",
        "expected_revenue": "_revenue",
        "stage": "_stage",
        "event": "_event",
        "state": "_state",
        "time_zone": "_time_zone",
    }

    def _country(self, value: str) -> str:
        if value not in self.countries:
            self.countries[value] = clean_country(value)
        return self.countries[value]

    def _salesperson(self, value: str) -> int | None:
        if not value:
            return None
        pk = self.users.get(value.lower())
        if pk is None:
            raise RowError(f"unknown salesperson {value!r} (use a username or user email)")
        return pk

    def _stage(self, value: str) -> str | None:
        """The stage's name, lower-cased; turned into its id when writing (`_stage_ids`)."""
        if not value:
            return None
        known = self.stages or {n.lower(): 0 for n, _, _ in DEFAULT_STAGES}
        if value.lower() not in known:
            names = self.stage_names or [n for n, _, _ in DEFAULT_STAGES]
            raise RowError(f"unknown stage {value!r} (stages: {', '.join(names)})")
        return value.lower()

    def _event(self, value: str) -> int | None:
        pk = self.events.get(value.lower())
        if pk is None and value:
            raise RowError(f"unknown event {value!r}")
        return pk

    @staticmethod
    def _time_zone(value: str) -> str:
        return clean_time_zone(value)

    @staticmethod
    def _priority(value: str) -> int:
        return clean_priority(value) if value else 0

    @staticmethod
    def _revenue(value: str) -> Decimal:
        return clean_revenue(value)

    @staticmethod
    def _state(value: str) -> str:
        return clean_state(value) if value else Registration.State.CONFIRMED

    def _dedupe_key(self, values: dict[str, Any]) -> Any:
        email = values.get("email")
        if not email:
            return None
        if self.kind == "leads":
            return (email, values.get("title", "").lower())
        if self.kind == "registrations":
            return (values.get("event_id"), email)
        return email

    # deduplication against the file itself and the database
    def _dedupe(self, rows: list[Row]) -> list[Row]:
        existing = self._existing_keys({r.key for r in rows if r.key is not None})
        first_line: dict[Any, Row] = {}
        kept: list[Row] = []
        noun = {"contacts": "contact", "leads": "lead", "mailing-contacts": "mailing contact"}
        for row in rows:
            if row.key is None:
                kept.append(row)
                continue
            earlier = first_line.get(row.key)
            if earlier is not None:
                if self.options.update_existing:
                    earlier.values.update(row.values)
                    earlier.tags += [t for t in row.tags if t not in earlier.tags]
                    earlier.lists += [n for n in row.lists if n not in earlier.lists]
                    continue
                self.report.problems.append(
                    Problem(row.line, f"same {self._key_text()} as line {earlier.line}")
                )
                continue
            first_line[row.key] = row
            row.existing_id = existing.get(row.key)
            if row.existing_id is not None and not self.options.update_existing:
                subscribes = self.kind == "mailing-contacts" and (
                    row.lists or self.options.list_name
                )
                if not subscribes:
                    what = noun.get(self.kind, "registration")
                    self.report.problems.append(
                        Problem(
                            row.line,
                            f"a {what} with this {self._key_text()} already exists "
                            "(use --update-existing to update it)",
                        )
                    )
                    continue
                row.values = {}  # subscribe only, leave its fields alone
                row.tags = []
                self.report.unchanged += 1
            kept.append(row)
        return kept

    def _key_text(self) -> str:
        return {"leads": "email and title", "registrations": "event and email"}.get(
            self.kind, "email"
        )

    def _existing_keys(self, keys: set[Any]) -> dict[Any, int]:
        emails = sorted({k[1] if self.kind == "registrations" else k for k in keys} - {None})
        if self.kind == "leads":
            emails = sorted({k[0] for k in keys})
        found: dict[Any, int] = {}
        fields = {
            "contacts": ("email",),
            "mailing-contacts": ("email",),
            "leads": ("email", "title"),
            "registrations": ("event_id", "email"),
        }[self.kind]
        for start in range(0, len(emails), LOOKUP_CHUNK):
            chunk = emails[start : start + LOOKUP_CHUNK]
            qs = self.model.objects.filter(email__in=chunk).order_by("-id")
            for pk, *values in qs.values_list("id", *fields):
                if self.kind == "leads":
                    found[(values[0], values[1].lower())] = pk
                elif self.kind == "registrations":
                    found[(values[0], values[1])] = pk
                else:
                    found[values[0]] = pk
        return found

    def _write(self, rows: list[Row], show: bool) -> None:
        new = [r for r in rows if r.existing_id is None]
        old = [r for r in rows if r.existing_id is not None]
        bar = tqdm(
            total=len(rows), desc="Importing", unit=" rows", file=sys.stderr, disable=not show
        )
        self._place_in_time(rows)
        with bar, transaction.atomic():
            contact_links = self._contact_links(new + old)
            self._resolve_stages(rows)
            objects = []
            for row in new:
                values = dict(row.values)
                if contact_links and row.key is not None:
                    values.setdefault("contact_id", contact_links.get(row.values.get("email")))
                objects.append(self.model(**values))
            for start in range(0, len(objects), WRITE_BATCH):
                batch = objects[start : start + WRITE_BATCH]
                self.model.objects.bulk_create(batch)
                bar.update(len(batch))
                if self.options.on_progress:
                    self.options.on_progress("importing", start + len(batch), len(rows))
            for row, obj in zip(new, objects, strict=True):
                row.existing_id = obj.pk
            self.report.created = len(new)
            self._update(old)
            bar.update(len(old))
            self._add_tags(rows)
            self._subscribe(rows)
            ids = [r.existing_id for r in rows]
            label = self.model._meta.label_lower
            transaction.on_commit(lambda: report_changed(label, ids))

    def _place_in_time(self, rows: list[Row]) -> None:
        """Rows without a time zone get the one derived from their phone and country: new
        rows always, updated rows when the file gives a phone or country."""
        for row in rows:
            values = row.values
            if values.get("time_zone"):
                continue
            if row.existing_id is None or {"phone", "country"} & set(values):
                values["time_zone"] = derive_zone(
                    values.get("phone") or "", values.get("country") or ""
                )

    def _resolve_stages(self, rows: list[Row]) -> None:
        """Stage names -> ids (the default stages are created on a fresh database)."""
        if self.kind != "leads":
            return
        ids = {s.name.lower(): s.pk for s in ensure_default_stages()}
        first = next(iter(ids.values()))
        for row in rows:
            name = row.values.pop("stage_id", None)
            if name:
                row.values["stage_id"] = ids[name]
            elif row.existing_id is None:
                row.values["stage_id"] = first  # an empty stage never clears an existing one

    def _contact_links(self, rows: list[Row]) -> dict[str, int]:
        """Normalised email -> contact id, for leads and registrations."""
        if self.kind not in {"leads", "registrations"}:
            return {}
        emails = sorted({r.values["email"] for r in rows if r.values.get("email")})
        found: dict[str, int] = {}
        for start in range(0, len(emails), LOOKUP_CHUNK):
            chunk = emails[start : start + LOOKUP_CHUNK]
            qs = Contact.objects.filter(email__in=chunk).order_by("-id")
            found.update(qs.values_list("email", "id"))
        return found

    def _update(self, rows: list[Row]) -> None:
        rows = [r for r in rows if r.values]
        update_rows(
            self.model, [(r.values, r.existing_id) for r in rows if r.existing_id is not None]
        )
        self.report.updated = len(rows)

    def _add_tags(self, rows: list[Row]) -> None:
        if "tags" not in self.present:
            return
        names = {t for r in rows for t in r.tags}
        if not names:
            return
        tag_ids = {t.name.lower(): t.pk for t in self._tags(names)}
        through = self.model.tags.through
        source = f"{self.model._meta.model_name}_id"
        links = {(r.existing_id, tag_ids[t.lower()]) for r in rows for t in r.tags}
        objects = [through(**{source: rid, "tag_id": tid}) for rid, tid in links]
        through.objects.bulk_create(objects, batch_size=WRITE_BATCH, ignore_conflicts=True)

    @staticmethod
    def _tags(names: set[str]) -> list[Tag]:
        """Existing tags matched case-insensitively, the others created."""
        by_lower = {t.name.lower(): t for t in Tag.objects.all()}
        missing = {n for n in names if n.lower() not in by_lower}
        return list(by_lower.values()) + get_or_create_tags(
            {n.lower(): n for n in missing}.values()
        )

    def _subscribe(self, rows: list[Row]) -> None:
        if self.kind != "mailing-contacts":
            return
        wanted = {n for r in rows for n in r.lists}
        if self.options.list_name:
            wanted.add(self.options.list_name.strip())
        if not wanted:
            return
        lists = {ml.name.lower(): ml for ml in MailingList.objects.all()}
        for name in sorted(wanted):
            if name.lower() not in lists:
                lists[name.lower()] = MailingList.objects.create(name=name[:128])
        pairs = set()
        for row in rows:
            names = list(row.lists)
            if self.options.list_name:
                names.append(self.options.list_name.strip())
            pairs |= {(row.existing_id, lists[n.lower()].pk) for n in names}
        contact_ids = sorted({c for c, _ in pairs})
        existing = set()
        for start in range(0, len(contact_ids), LOOKUP_CHUNK):
            chunk = contact_ids[start : start + LOOKUP_CHUNK]
            existing |= set(
                Subscription.objects.filter(contact_id__in=chunk).values_list(
                    "contact_id", "list_id"
                )
            )
        new = [Subscription(contact_id=c, list_id=ml) for c, ml in pairs - existing]
        Subscription.objects.bulk_create(new, batch_size=WRITE_BATCH, ignore_conflicts=True)
        self.report.subscribed = len(new)
