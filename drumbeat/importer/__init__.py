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

from pathlib import Path

from .blacklists import BlacklistImporter
from .columns import BLACKLIST_KINDS, COLUMNS, KINDS, REQUIRED
from .reading import header_fields, read_file
from .records import RecordImporter
from .report import ImportFailed, ImportOptions, ImportReport, Problem

__all__ = [
    "BLACKLIST_KINDS",
    "COLUMNS",
    "KINDS",
    "REQUIRED",
    "ImportFailed",
    "ImportOptions",
    "ImportReport",
    "Problem",
    "import_csv",
]


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
        header, rows, total = read_file(Path(path))
        columns = header_fields(kind, header)
        runner = BlacklistImporter if kind in BLACKLIST_KINDS else RecordImporter
        runner(kind, columns, options, report).run(rows, total)
    except ImportFailed as exc:
        report.error = str(exc)
        report.created = report.updated = report.subscribed = report.unchanged = 0
        report.reactivated = 0
    return report
