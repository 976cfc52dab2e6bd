"""CSV import from the page: the job runs in a thread and its page reports progress, then the
importer's report with the bad lines."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from drumbeat.contacts.models import Contact
from drumbeat.web import views_import

pytestmark = pytest.mark.django_db(transaction=True)

CSV = (
    "Name,Email,Country\n"
    "Ann,ann@example.com,BE\n"
    "Bad Email,not-an-email,BE\n"
    "Carl,carl@example.com,France\n"
    ",nameless@example.com,BE\n"
)


def wait_done(client, url: str) -> str:
    for _ in range(100):
        html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        if "data-import-done" in html:
            return html
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


def test_it_imports_and_reports_bad_lines(marketer_client):
    upload = SimpleUploadedFile("people.csv", CSV.encode(), content_type="text/csv")
    response = marketer_client.post("/records/contacts/import/", {"file": upload})
    assert response.status_code == 302
    html = wait_done(marketer_client, response["Location"])
    assert sorted(Contact.objects.values_list("name", flat=True)) == ["Ann", "Carl"]
    assert "Lines with problems" in html
    assert ">3<" in html and ">5<" in html  # line numbers of the two bad rows


def test_it_reports_a_fatal_error(marketer_client):
    upload = SimpleUploadedFile("bad.csv", b"Shoe size\n42\n", content_type="text/csv")
    response = marketer_client.post("/records/contacts/import/", {"file": upload})
    html = wait_done(marketer_client, response["Location"])
    assert "Nothing was imported" in html
    assert not Contact.objects.exists()


def test_it_refuses_a_file_that_is_not_csv(marketer_client):
    upload = SimpleUploadedFile("photo.png", b"\x89PNG", content_type="image/png")
    response = marketer_client.post("/records/contacts/import/", {"file": upload})
    assert response.status_code == 200
    assert "Please choose a .csv file." in response.content.decode()


def test_it_hides_another_users_import(marketer_client, admin_client):
    upload = SimpleUploadedFile("people.csv", CSV.encode(), content_type="text/csv")
    url = marketer_client.post("/records/contacts/import/", {"file": upload})["Location"]
    wait_done(marketer_client, url)
    assert admin_client.get(url).status_code == 404


def test_it_has_no_import_for_mailing_lists(marketer_client):
    assert marketer_client.get("/records/mailing-lists/import/").status_code == 404


def test_it_reads_no_job_outside_its_folder():
    assert views_import.read_state("../../etc/passwd") is None


def test_an_administrator_imports_blacklisted_emails(admin_client):
    from drumbeat.mailing.models import EmailBlacklist

    EmailBlacklist.objects.create(email="old@example.com", reason="lifted", active=False)
    body = "Email,Reason\nAnn@Example.com,complained\nnope,typo\nold@example.com,asked again\n"
    upload = SimpleUploadedFile("blacklist.csv", body.encode(), content_type="text/csv")
    page = admin_client.get("/records/email-blacklist/import/").content.decode()
    assert "Reason" in page and "List name" not in page
    response = admin_client.post("/records/email-blacklist/import/", {"file": upload})
    html = wait_done(admin_client, response["Location"])
    entries = dict(EmailBlacklist.objects.values_list("email", "active"))
    assert entries == {"ann@example.com": True, "old@example.com": True}
    assert "1 reactivated" in html and ">3<" in html  # line of the bad address


def test_an_administrator_imports_blacklisted_phones(admin_client):
    from drumbeat.mailing.models import PhoneBlacklist

    upload = SimpleUploadedFile("phones.csv", b"Number,Country\n0470 12 34 56,BE\n")
    response = admin_client.post("/records/phone-blacklist/import/", {"file": upload})
    wait_done(admin_client, response["Location"])
    assert list(PhoneBlacklist.objects.values_list("number", flat=True)) == ["+32470123456"]


def test_a_marketer_cannot_import_blacklists(marketer_client):
    upload = SimpleUploadedFile("blacklist.csv", b"Email\nann@example.com\n")
    for kind in ("email-blacklist", "phone-blacklist"):
        assert marketer_client.get(f"/records/{kind}/import/").status_code == 403
        response = marketer_client.post(f"/records/{kind}/import/", {"file": upload})
        assert response.status_code == 403
    from drumbeat.mailing.models import EmailBlacklist

    assert not EmailBlacklist.objects.exists()
