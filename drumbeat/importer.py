"""CSV import of contacts, leads, event registrations, mailing contacts and blacklists.

`drumbeat import KIND FILE.csv` and the web UI's import page call `import_csv(kind, path,
options)`, which returns an `ImportReport`. The file is read as UTF-8 (with or without BOM);
the delimiter is a comma, semicolon or tab (guessed from the header line). Line 1 is the
header; columns are matched by name, ignoring case, spaces and punctuation, with aliases
("E-mail", "Mobile", "Company", ...): see `COLUMNS`.

Rules:
- Every row is checked before anything is written: emails must be valid (stored lower-cased),
  phones are stored in E.164 (read in the row's country when they have no +prefix), countries
  are ISO codes or English names, salespersons are usernames or user emails, events are event
  names, stages are stage names; required: a name (contacts, registrations), a title (leads),
  an email (mailing contacts), an event (registrations).
- A bad row is reported with its line number in the file (the header is line 1) and the
  reason; the valid rows are imported, all in one transaction. With `all_or_nothing`, nothing is
  imported when any row is bad.
- Deduplication on the normalised email: contacts and mailing contacts by email, leads by email
  and title, registrations by event and email. With `update_existing` a row matching an
  existing record updates the columns present in the file (tags are added, never removed);
  without it such a row is not imported and is reported ("already exists"). A repeated row
  within the file is reported too (or, with `update_existing`, the later one wins). Rows
  without an email are never deduplicated.
- Mailing contacts are subscribed to `list_name` (created when missing) and to the lists of a
  "List" column; an existing mailing contact is subscribed even without `update_existing`
  (its fields are then left alone). Existing opt-outs are kept.
- Leads and registrations are linked to the contact with the same email.
- Blacklists (`blacklist-emails`: Email, Reason; `blacklist-phones`: Number, Country,
  Reason): addresses are normalised, numbers stored in E.164 (read in the row's country when
  they have no +prefix). A new entry is created, an inactive (lifted) one is reactivated with
  the row's reason, an active one is left alone (with `update_existing`, its reason is
  replaced when the row gives one). An empty reason becomes "imported from FILE".
- A cell that a Drumbeat export neutralised against formula injection (lib/csvsafe.py: a
  quote before a leading `=`, `+`, `-`, `@`, tab or carriage return) is read back as the value
  it stands for, `'=SUM(A1)` as `=SUM(A1)` and `'+15551234567` as `+15551234567`; a quote
  before anything else is kept. Values are stored as given: exports neutralise them again.
- A fatal problem (unreadable file, bad encoding, missing or unknown column, empty file) is
  reported in `report.error`; nothing is written.

Speed: rows are parsed and checked in Python with lookups pre-loaded in a few queries, then
written with `bulk_create` in one transaction; 100,000 contacts take seconds on SQLite.
After commit, the created and updated ids are reported through `hooks.records_changed`.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone
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
from drumbeat.crm.models import Lead, Stage
from drumbeat.crm.services import (
    DEFAULT_STAGES,
    clean_priority,
    clean_revenue,
    ensure_default_stages,
)
from drumbeat.events.models import Event, Registration
from drumbeat.events.services import clean_state
from drumbeat.lib import csvsafe, hooks
from drumbeat.lib.timezones import clean_time_zone, derive_zone
from drumbeat.mailing.models import (
    EmailBlacklist,
    MailingContact,
    MailingList,
    PhoneBlacklist,
    Subscription,
)

BLACKLIST_KINDS = ("blacklist-emails", "blacklist-phones")
KINDS = ("contacts", "leads", "registrations", "mailing-contacts", *BLACKLIST_KINDS)
PROGRESS_MIN_ROWS = 2000
PROGRESS_EVERY = 5000
LOOKUP_CHUNK = 5000
# Ids per `records_changed` report: the listeners pass them as one query parameter (engine
# id_set), so this bounds the length of one enrolment transaction, not SQL limits; each
# report costs the campaigns a few statements and a commit whatever its size.
REPORT_CHUNK = 50_000
WRITE_BATCH = 5000

# field -> accepted header names (compared after lower-casing and dropping non-alphanumerics)
_PERSON = {
    "email": ["email", "e-mail", "email address", "e-mail address", "mail"],
    "phone": ["phone", "mobile", "mobile phone", "phone number", "telephone", "tel", "gsm"],
    "country": ["country", "country code"],
    "time_zone": ["time zone", "timezone", "tz"],
}
COLUMNS: dict[str, dict[str, list[str]]] = {
    "contacts": {
        "name": ["name", "full name", "contact name", "contact"],
        **_PERSON,
        "company_name": ["company", "company name", "organization", "organisation"],
        "city": ["city", "town"],
        "tags": ["tags", "tag", "labels"],
        "salesperson": ["salesperson", "sales person", "user", "owner", "assigned to"],
    },
    "leads": {
        "title": ["title", "lead", "opportunity", "subject", "name"],
        "contact_name": ["contact name", "contact", "customer"],
        **_PERSON,
        "salesperson": ["salesperson", "sales person", "user", "owner", "assigned to"],
        "priority": ["priority"],
        "stage": ["stage"],
        "tags": ["tags", "tag", "labels"],
        "expected_revenue": ["expected revenue", "revenue", "amount"],
    },
    "registrations": {
        "event": ["event", "event name"],
        "name": ["name", "attendee", "attendee name", "full name"],
        **_PERSON,
        "state": ["state", "status"],
    },
    "mailing-contacts": {
        "name": ["name", "full name", "contact name"],
        **_PERSON,
        "company_name": ["company", "company name", "organization", "organisation"],
        "tags": ["tags", "tag", "labels"],
        "lists": ["list", "lists", "mailing list", "mailing lists"],
    },
    "blacklist-emails": {
        "email": _PERSON["email"],
        "reason": ["reason", "comment", "note", "why"],
    },
    "blacklist-phones": {
        "number": ["number", *_PERSON["phone"]],
        "country": _PERSON["country"],
        "reason": ["reason", "comment", "note", "why"],
    },
}
REQUIRED = {
    "contacts": ["name"],
    "leads": ["title"],
    "registrations": ["event", "name"],
    "mailing-contacts": ["email"],
    "blacklist-emails": ["email"],
    "blacklist-phones": ["number"],
}
MODELS: dict[str, type[models.Model]] = {
    "contacts": Contact,
    "leads": Lead,
    "registrations": Registration,
    "mailing-contacts": MailingContact,
    "blacklist-emails": EmailBlacklist,
    "blacklist-phones": PhoneBlacklist,
}
NOUNS = {"blacklist-emails": "blacklisted emails", "blacklist-phones": "blacklisted numbers"}
# the header's field name -> the model field written
STORED_AS = {"salesperson": "salesperson_id", "stage": "stage_id", "event": "event_id"}
FIELD_TITLES = {"company_name": "Company", "expected_revenue": "Expected revenue"}


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


def import_csv(kind: str, path: str | Path, options: ImportOptions | None = None) -> ImportReport:
    """Import `path` as records of `kind` (one of KINDS); never raises for bad input."""
    options = options or ImportOptions()
    report = ImportReport(kind=kind, path=str(path))
    try:
        if kind not in KINDS:
            raise ImportFailed(f"unknown kind {kind!r} (use one of {', '.join(KINDS)}).")
        if options.list_name is not None and kind != "mailing-contacts":
            raise ImportFailed("--list applies to mailing-contacts only.")
        if options.list_name is not None and not options.list_name.strip():
            raise ImportFailed("the list name is empty.")
        header, rows, total = _read(Path(path))
        columns = _map_header(kind, header)
        runner = _BlacklistImporter if kind in BLACKLIST_KINDS else _Importer
        runner(kind, columns, options, report).run(rows, total)
    except ImportFailed as exc:
        report.error = str(exc)
        report.created = report.updated = report.subscribed = report.unchanged = 0
        report.reactivated = 0
    return report


# --- reading -----------------------------------------------------------------------------------


def _read(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]], int]:
    """Header, an iterator of (line, cells) and the number of lines, or ImportFailed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportFailed(f"no such file: {path}.")
    except OSError as exc:
        raise ImportFailed(f"cannot read the file ({exc.strerror}).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFailed(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}). "
            "Save it as 'CSV UTF-8' and try again."
        )
    if not text.strip():
        raise ImportFailed("the file is empty.")
    if "\x00" in text:
        raise ImportFailed("the file contains NUL bytes; it is not a CSV text file.")
    first_line = text.split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFailed(f"line {start}: the CSV is malformed ({exc}).")
            if any(c.strip() for c in cells):
                yield start, cells

    iterator = rows()
    first = next(iterator, None)
    if first is None:
        raise ImportFailed("the file is empty.")
    line, header = first
    if line != 1:
        raise ImportFailed("line 1 must be the header naming the columns, but it is blank.")
    return header, iterator, text.count("\n") + (0 if text.endswith("\n") else 1)


def _report_changed(label: str, ids: list[int]) -> None:
    """Tell the campaigns, in chunks of REPORT_CHUNK."""
    for start in range(0, len(ids), REPORT_CHUNK):
        hooks.records_changed(label, ids[start : start + REPORT_CHUNK])


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _title(name: str) -> str:
    return FIELD_TITLES.get(name, name.replace("_", " ").capitalize())


def _map_header(kind: str, header: list[str]) -> list[str | None]:
    """The field of each column; ImportFailed naming unknown, repeated or missing columns."""
    aliases = {_key(a): f for f, names in COLUMNS[kind].items() for a in names}
    columns: list[str | None] = []
    unknown, seen = [], {}
    for name in header:
        if not name.strip():
            columns.append(None)  # an unnamed column must be empty (checked per row)
            continue
        found = aliases.get(_key(name))
        if found is None:
            unknown.append(name.strip())
        elif found in seen:
            raise ImportFailed(
                f"line 1: columns {seen[found]!r} and {name.strip()!r} both give the "
                f"{_title(found).lower()}."
            )
        else:
            seen[found] = name.strip()
        columns.append(found)
    accepted = ", ".join(_title(f) for f in COLUMNS[kind])
    if unknown:
        quoted = ", ".join(repr(u) for u in unknown)
        raise ImportFailed(
            f"line 1: unknown column{'s' if len(unknown) > 1 else ''} {quoted}. The first line "
            f"must be a header; columns accepted for {kind}: {accepted}."
        )
    missing = [f for f in REQUIRED[kind] if f not in seen]
    if missing:
        raise ImportFailed(
            f"line 1: the header has no {' or '.join(_title(f) for f in missing)} column "
            f"(required). Columns accepted for {kind}: {accepted}."
        )
    return columns


# --- checking and writing ----------------------------------------------------------------------


def _cells(columns: list[str | None], cells: list[str]) -> dict[str, str]:
    """field -> stripped value of one row; RowError for values outside the named columns."""
    if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
        raise RowError(f"{len(cells)} values but the header has {len(columns)} columns")
    raw: dict[str, str] = {}
    for name, cell in zip(columns, cells, strict=False):
        if name is None:
            if cell.strip():
                raise RowError("a value stands in a column without a header")
            continue
        raw[name] = csvsafe.unquote(cell.strip()).strip()
    return raw


def _update_rows(model: type[models.Model], rows: list[tuple[dict[str, Any], int]]) -> None:
    """UPDATE rows given as (field -> value, id): one statement per group of rows with the same
    fields, run with executemany (Django's bulk_update builds CASE expressions that grow with
    the batch)."""
    groups: dict[tuple[str, ...], list[tuple[dict[str, Any], int]]] = {}
    for values, pk in rows:
        groups.setdefault(tuple(sorted(values)), []).append((values, pk))
    meta = model._meta
    for names, members in groups.items():
        fields = [meta.get_field(n) for n in names]
        assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
        sql = (
            f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {assignments} "
            f"WHERE {connection.ops.quote_name(meta.pk.column)} = %s"
        )
        params = [
            [
                f.get_db_prep_save(values[f.name if f.name in values else f.attname], connection)
                for f in fields
            ]
            + [pk]
            for values, pk in members
        ]
        with connection.cursor() as cursor:
            for start in range(0, len(params), WRITE_BATCH):
                cursor.executemany(sql, params[start : start + WRITE_BATCH])


@dataclass
class _Row:
    line: int
    values: dict[str, Any]  # model field -> cleaned value (only columns present in the file)
    tags: list[str]
    lists: list[str]
    key: Any  # dedupe key, None when the row has no email
    existing_id: int | None = None


class _Importer:
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
        checked: list[_Row] = []
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

    def _check(self, line: int, cells: list[str]) -> _Row:
        raw = _cells(self.columns, cells)
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
                errors.append(f"missing {_title(name).lower()}")
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
                    errors.append(f"{_title(name).lower()} is longer than {limit} characters")
        if errors:
            raise RowError("; ".join(dict.fromkeys(errors)))
        tags = split_tag_names(raw.get("tags", ""))
        if any(len(t) > 64 for t in tags):
            raise RowError("a tag is longer than 64 characters")
        lists = split_tag_names(raw.get("lists", ""))
        return _Row(line, values, tags, lists, self._dedupe_key(values))

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
    def _dedupe(self, rows: list[_Row]) -> list[_Row]:
        existing = self._existing_keys({r.key for r in rows if r.key is not None})
        first_line: dict[Any, _Row] = {}
        kept: list[_Row] = []
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

    def _write(self, rows: list[_Row], show: bool) -> None:
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
            transaction.on_commit(lambda: _report_changed(label, ids))

    def _place_in_time(self, rows: list[_Row]) -> None:
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

    def _resolve_stages(self, rows: list[_Row]) -> None:
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

    def _contact_links(self, rows: list[_Row]) -> dict[str, int]:
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

    def _update(self, rows: list[_Row]) -> None:
        rows = [r for r in rows if r.values]
        _update_rows(
            self.model, [(r.values, r.existing_id) for r in rows if r.existing_id is not None]
        )
        self.report.updated = len(rows)

    def _add_tags(self, rows: list[_Row]) -> None:
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

    def _subscribe(self, rows: list[_Row]) -> None:
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


class _BlacklistImporter:
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
        raw = _cells(self.columns, cells)
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
            _update_rows(self.model, changes)
        self.report.created, self.report.updated = len(new), len(changes)
        if self.options.on_progress:
            self.options.on_progress("importing", len(entries), len(entries))
