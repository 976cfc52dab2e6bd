"""CSV import (drumbeat/importer/): header mapping, per-row problems, dedupe, lists."""

import csv
from pathlib import Path

import pytest

from drumbeat.accounts.models import User
from drumbeat.contacts.models import Contact
from drumbeat.crm.models import Lead
from drumbeat.events.models import Event, Registration
from drumbeat.importer import ImportOptions, import_csv
from drumbeat.lib import hooks
from drumbeat.mailing.models import MailingContact, MailingList, Subscription

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


@pytest.fixture
def changed():
    """Records reported through hooks.records_changed, as (label, ids) pairs."""
    seen: list[tuple[str, list[int]]] = []

    def listener(label: str, ids: list[int]) -> None:
        seen.append((label, ids))

    hooks._records_listeners.append(listener)
    yield seen
    hooks._records_listeners.remove(listener)


def thousand_rows_with_three_bad(tmp_path: Path) -> Path:
    rows = [["Name", "Email", "Phone", "Country"]]
    for i in range(1000):
        rows.append([f"Person {i}", f"person{i}@example.com", f"+32470{i:06d}", "BE"])
    rows[10][1] = "broken@@example.com"  # line 11
    rows[500][2] = "12"  # line 501
    rows[900][3] = "Atlantis"  # line 901
    return write_csv(tmp_path / "contacts.csv", rows)


def test_it_imports_997_of_1000_rows_and_reports_the_3_bad_ones(tmp_path):
    report = import_csv("contacts", thousand_rows_with_three_bad(tmp_path))

    assert report.created == 997
    assert Contact.objects.count() == 997
    assert [p.line for p in report.problems] == [11, 501, 901]
    assert "invalid email 'broken@@example.com'" in report.problems[0].reason
    assert "invalid phone number '12'" in report.problems[1].reason
    assert "unknown country 'Atlantis'" in report.problems[2].reason
    assert not report.ok
    assert "997 contacts created" in report.summary()


def test_it_imports_nothing_with_all_or_nothing(tmp_path):
    options = ImportOptions(all_or_nothing=True)
    report = import_csv("contacts", thousand_rows_with_three_bad(tmp_path), options)

    assert report.aborted and not report.ok
    assert len(report.problems) == 3
    assert Contact.objects.count() == 0
    assert report.summary().startswith("Nothing imported")


def test_it_normalises_and_maps_aliased_columns(tmp_path):
    User.objects.create(username="sofia", email="Sofia@Example.com")
    path = write_csv(
        tmp_path / "c.csv",
        [
            ["Full Name", "E-mail", "Mobile", "Company", "Country", "Town", "Tags", "Sales person"],
            [
                "Ann Peeters",
                " Ann@Example.COM ",
                "0470 12 34 56",
                "Acme",
                "Belgium",
                "Gent",
                "VIP; Customer",
                "sofia@example.com",
            ],
        ],
    )
    report = import_csv("contacts", path)

    assert report.ok, report.problems
    ann = Contact.objects.get()
    assert ann.email == "ann@example.com"
    assert ann.phone == "+32470123456"
    assert (ann.company_name, ann.country, ann.city) == ("Acme", "BE", "Gent")
    assert sorted(ann.tags.values_list("name", flat=True)) == ["Customer", "VIP"]
    assert ann.salesperson.username == "sofia"


def test_it_reads_semicolon_separated_files_with_a_bom(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes("\ufeffName;Email\nAnn;ann@example.com\n".encode())

    report = import_csv("contacts", path)

    assert report.ok and Contact.objects.get().email == "ann@example.com"


def test_it_reports_physical_line_numbers_after_multiline_cells(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('Name,Email,City\n"Ann\nPeeters",ann@example.com,Gent\nBob,bad,Gent\n')

    report = import_csv("contacts", path)

    assert [p.line for p in report.problems] == [4]
    assert report.created == 1


def test_it_reports_a_missing_name_and_an_unknown_salesperson(tmp_path):
    path = write_csv(
        tmp_path / "c.csv",
        [["Name", "Email", "Salesperson"], ["", "a@example.com", ""], ["Bob", "", "nobody"]],
    )
    report = import_csv("contacts", path)

    assert [(p.line, p.reason) for p in report.problems] == [
        (2, "missing name"),
        (3, "unknown salesperson 'nobody' (use a username or user email)"),
    ]
    assert Contact.objects.count() == 0


def test_it_skips_and_reports_existing_emails_without_update_existing(tmp_path):
    Contact.objects.create(name="Old Ann", email="ann@example.com")
    path = write_csv(
        tmp_path / "c.csv",
        [
            ["Name", "Email"],
            ["Ann", "ANN@example.com"],
            ["Bob", "bob@example.com"],
            ["Bobby", "bob@example.com"],
        ],
    )
    report = import_csv("contacts", path)

    assert report.created == 1
    assert [p.line for p in report.problems] == [2, 4]
    assert "already exists (use --update-existing" in report.problems[0].reason
    assert report.problems[1].reason == "same email as line 3"
    assert Contact.objects.get(email="ann@example.com").name == "Old Ann"


def test_it_updates_existing_records_with_update_existing(
    tmp_path, changed, django_capture_on_commit_callbacks
):
    ann = Contact.objects.create(name="Old Ann", email="ann@example.com", city="Gent")
    path = write_csv(
        tmp_path / "c.csv",
        [
            ["Name", "Email", "Tags"],
            ["Ann Peeters", "Ann@Example.com", "VIP"],
            ["Bob", "bob@example.com", ""],
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = import_csv("contacts", path, ImportOptions(update_existing=True))

    assert (report.created, report.updated, report.ok) == (1, 1, True)
    ann.refresh_from_db()
    assert ann.name == "Ann Peeters"
    assert ann.city == "Gent"  # columns absent from the file are left alone
    assert list(ann.tags.values_list("name", flat=True)) == ["VIP"]
    assert Contact.objects.count() == 2
    bob = Contact.objects.get(email="bob@example.com")
    assert [(label, sorted(ids)) for label, ids in changed] == [
        ("contacts.contact", sorted([ann.pk, bob.pk]))
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Name,Email\nJos\xe9,j@example.com\n", "not UTF-8 text (byte 0xe9 on line 2)"),
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"Name,Email\n", "a header but no rows"),
        (b"Ann,ann@example.com\n", "line 1: unknown columns 'Ann', 'ann@example.com'"),
        (b"Email,City\nann@example.com,Gent\n", "the header has no Name column"),
        (b"Name,Email,E-mail\nAnn,a@example.com,b@example.com\n", "both give the email"),
        (b'Name,Email\n"Ann,ann@example.com\n', "malformed"),
    ],
)
def test_it_refuses_unreadable_files_and_writes_nothing(tmp_path, content, message):
    path = tmp_path / "c.csv"
    path.write_bytes(content)

    report = import_csv("contacts", path)

    assert message in report.error
    assert not report.ok
    assert report.summary().endswith("Nothing was imported.")
    assert Contact.objects.count() == 0


def test_it_refuses_a_missing_file(tmp_path):
    report = import_csv("contacts", tmp_path / "nope.csv")
    assert "no such file" in report.error


def test_it_subscribes_mailing_contacts_to_the_given_list(tmp_path):
    existing = MailingContact.objects.create(name="Old", email="old@example.com")
    news = MailingList.objects.create(name="Newsletter")
    Subscription.objects.create(contact=existing, list=news, opt_out=True)
    path = write_csv(
        tmp_path / "m.csv",
        [
            ["Email", "Name", "List"],
            ["new@example.com", "New", "Customers"],
            ["OLD@example.com", "Renamed", ""],
        ],
    )
    report = import_csv("mailing-contacts", path, ImportOptions(list_name="Newsletter"))

    assert report.ok, report.problems
    assert (report.created, report.unchanged) == (1, 1)
    new = MailingContact.objects.get(email="new@example.com")
    assert sorted(new.lists.values_list("name", flat=True)) == ["Customers", "Newsletter"]
    existing.refresh_from_db()
    assert existing.name == "Old"  # without --update-existing its fields stay
    assert Subscription.objects.get(contact=existing, list=news).opt_out  # opt-out kept


def test_it_refuses_list_for_other_kinds(tmp_path):
    path = write_csv(tmp_path / "c.csv", [["Name"], ["Ann"]])
    report = import_csv("contacts", path, ImportOptions(list_name="Newsletter"))
    assert "--list applies to mailing-contacts only" in report.error


def test_it_imports_leads_with_stage_priority_revenue_and_contact_link(tmp_path):
    ann = Contact.objects.create(name="Ann", email="ann@example.com")
    path = write_csv(
        tmp_path / "l.csv",
        [
            ["Title", "Contact name", "Email", "Priority", "Stage", "Expected revenue"],
            ["Big deal", "Ann", "ann@example.com", "Very high", "Qualified", "1200.50"],
            ["Small deal", "", "x@example.com", "", "", ""],
            ["Bad deal", "", "", "7", "Lost", "lots"],
        ],
    )
    report = import_csv("leads", path)

    assert report.created == 2
    big = Lead.objects.get(title="Big deal")
    assert (big.priority, big.stage.name, str(big.expected_revenue)) == (3, "Qualified", "1200.50")
    assert big.contact == ann
    assert Lead.objects.get(title="Small deal").stage.name == "New"
    assert [p.line for p in report.problems] == [4]
    reason = report.problems[0].reason
    assert "priority must be 0-3" in reason and "unknown stage 'Lost'" in reason
    assert "expected revenue must be a number" in reason


def test_it_imports_registrations_by_event_name(tmp_path):
    event = Event.objects.create(
        name="Summit", date_begin="2026-01-01T09:00Z", date_end="2026-01-01T17:00Z"
    )
    path = write_csv(
        tmp_path / "r.csv",
        [
            ["Event", "Attendee", "Email", "Status"],
            ["summit", "Ann", "ann@example.com", "Attended"],
            ["Nope", "Bob", "", ""],
            ["Summit", "Cy", "", "lost"],
        ],
    )
    report = import_csv("registrations", path)

    registration = Registration.objects.get()
    assert (registration.event, registration.state) == (event, "attended")
    assert [(p.line, p.reason.split(" (")[0]) for p in report.problems] == [
        (3, "unknown event 'Nope'"),
        (4, "state must be one of draft, confirmed, attended, cancelled, got 'lost'"),
    ]


def test_it_reports_progress_to_a_callback(tmp_path):
    rows = [["Name"]] + [[f"P{i}"] for i in range(12_000)]
    seen = []
    options = ImportOptions(on_progress=lambda *args: seen.append(args))

    report = import_csv("contacts", write_csv(tmp_path / "c.csv", rows), options)

    assert report.created == 12_000
    assert ("checking", 10_000, 12_000) in seen
    assert seen[-1] == ("importing", 12_000, 12_000)


def test_it_updates_leads_and_keeps_the_stage_when_the_cell_is_empty(tmp_path):
    first = write_csv(
        tmp_path / "l1.csv",
        [
            ["Title", "Email", "Stage", "Priority", "Salesperson"],
            ["Deal", "a@example.com", "Won", "1", ""],
        ],
    )
    import_csv("leads", first)
    User.objects.create(username="sofia")
    second = write_csv(
        tmp_path / "l2.csv",
        [
            ["Title", "Email", "Stage", "Priority", "Salesperson", "Expected revenue"],
            ["deal", "A@example.com", "", "High", "sofia", "99.9"],
        ],
    )

    report = import_csv("leads", second, ImportOptions(update_existing=True))

    assert (report.created, report.updated) == (0, 1)
    lead = Lead.objects.get()
    assert (lead.title, lead.stage.name, lead.priority) == ("deal", "Won", 2)
    assert (lead.salesperson.username, str(lead.expected_revenue)) == ("sofia", "99.90")


# --- blacklists (docs/product.md#blacklists) ------------------------------------------------------


def test_it_imports_blacklisted_emails_normalised_and_reports_bad_lines(tmp_path):
    from drumbeat.mailing.models import EmailBlacklist

    rows = [
        ["E-mail", "Reason"],
        ["  Ann@Example.ORG ", "complained"],
        ["not-an-address", "typo"],  # line 3
        ["", "no address"],  # line 4
        ["bob@example.org", ""],
        ["ANN@example.org", "again"],  # line 6: same as line 2
    ]
    report = import_csv("blacklist-emails", write_csv(tmp_path / "bl.csv", rows))

    entries = dict(EmailBlacklist.objects.values_list("email", "reason"))
    assert entries == {"ann@example.org": "complained", "bob@example.org": "imported from bl.csv"}
    assert report.created == 2
    assert [p.line for p in report.problems] == [3, 4, 6]
    assert "invalid email" in report.problems[0].reason
    assert "missing email" in report.problems[1].reason
    assert "same email as line 2" in report.problems[2].reason
    assert "2 blacklisted emails created" in report.summary()


def test_it_reactivates_lifted_entries_and_keeps_active_ones(tmp_path):
    from drumbeat.mailing.models import EmailBlacklist

    EmailBlacklist.objects.create(email="old@example.org", reason="lifted", active=False)
    EmailBlacklist.objects.create(email="kept@example.org", reason="bounced")
    rows = [["email", "reason"], ["old@example.org", "asked again"], ["kept@example.org", "new"]]
    report = import_csv("blacklist-emails", write_csv(tmp_path / "bl.csv", rows))

    assert (report.created, report.updated, report.reactivated, report.unchanged) == (0, 1, 1, 1)
    entries = {e.email: (e.active, e.reason) for e in EmailBlacklist.objects.all()}
    assert entries == {
        "old@example.org": (True, "asked again"),
        "kept@example.org": (True, "bounced"),
    }
    assert "1 reactivated" in report.summary() and "1 already blacklisted" in report.summary()

    report = import_csv(
        "blacklist-emails",
        write_csv(tmp_path / "bl.csv", rows),
        ImportOptions(update_existing=True),
    )
    assert report.updated == 2
    assert EmailBlacklist.objects.get(email="kept@example.org").reason == "new"


def test_it_imports_blacklisted_phones_in_e164(tmp_path):
    from drumbeat.mailing.models import PhoneBlacklist

    PhoneBlacklist.objects.create(number="+32470000003", reason="lifted", active=False)
    rows = [
        ["Number", "Country", "Reason"],
        ["+32 470 00 00 01", "", "STOP by SMS"],
        ["0470 00 00 02", "BE", ""],
        ["12", "", "too short"],  # line 4
        ["0470000003", "Belgium", "back"],
        ["0470000004", "Atlantis", ""],  # line 6
    ]
    report = import_csv("blacklist-phones", write_csv(tmp_path / "phones.csv", rows))

    assert dict(PhoneBlacklist.objects.values_list("number", "active")) == {
        "+32470000001": True,
        "+32470000002": True,
        "+32470000003": True,
    }
    assert (report.created, report.reactivated) == (2, 1)
    assert [p.line for p in report.problems] == [4, 6]
    assert "invalid phone number '12'" in report.problems[0].reason
    assert "unknown country 'Atlantis'" in report.problems[1].reason


def test_a_blacklist_import_writes_nothing_when_all_or_nothing_and_a_row_is_bad(tmp_path):
    from drumbeat.mailing.models import EmailBlacklist

    rows = [["email"], ["ok@example.org"], ["bad@"]]
    report = import_csv(
        "blacklist-emails",
        write_csv(tmp_path / "bl.csv", rows),
        ImportOptions(all_or_nothing=True),
    )
    assert report.aborted and not EmailBlacklist.objects.exists()


def test_a_blacklist_import_refuses_unknown_columns(tmp_path):
    report = import_csv(
        "blacklist-emails", write_csv(tmp_path / "bl.csv", [["email", "name"], ["a@b.org", "A"]])
    )
    assert report.error and "unknown column 'name'" in report.error


def test_it_imports_a_time_zone_column_and_derives_the_missing_ones(tmp_path):
    path = write_csv(
        tmp_path / "people.csv",
        [
            ["Name", "Email", "Phone", "Country", "Time zone"],
            ["Ann", "ann@example.com", "+33612345678", "", ""],
            ["Bo", "bo@example.com", "", "Japan", ""],
            ["Cy", "cy@example.com", "+33612345678", "FR", "America/Chicago"],
            ["Di", "di@example.com", "", "", "Moon/Base"],
        ],
    )
    report = import_csv("contacts", path)
    assert report.created == 3
    assert [(p.line, p.reason) for p in report.problems] == [
        (5, "unknown time zone 'Moon/Base' (use an IANA name such as Europe/Paris)")
    ]
    zones = dict(Contact.objects.values_list("name", "time_zone"))
    assert zones == {"Ann": "Europe/Paris", "Bo": "Asia/Tokyo", "Cy": "America/Chicago"}
