"""Hostile input, generated (hypothesis): the filter language through the API, template
rendering in the sending path, CSV import and inbound mail parsing. No unexpected exception,
never a 500, nothing partially written.

A few dozen cases per target in CI; HYPOTHESIS_PROFILE=nightly runs 10,000 per target
(DRUMBEAT_FUZZ_EXAMPLES overrides). With DRUMBEAT_FUZZ_REPORT set, the number of cases run per
target is appended there as JSON lines."""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter

import pytest
from django.apps import apps
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drumbeat.accounts.models import ApiToken
from drumbeat.automation.domains import DomainError, filter_records
from drumbeat.automation.targets import FILTERABLE
from drumbeat.contacts.models import Contact, Tag
from drumbeat.importer import ImportOptions, import_csv
from drumbeat.mailing import inbound
from drumbeat.mailing.models import Message, Template
from drumbeat.mailing.sending import Recipient, send_emails
from drumbeat.mailing.tokens import make_token

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NIGHTLY = os.environ.get("HYPOTHESIS_PROFILE") == "nightly"
EXAMPLES = int(os.environ.get("DRUMBEAT_FUZZ_EXAMPLES", "10000" if NIGHTLY else "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
RUN: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def fuzz_report():
    yield
    path = os.environ.get("DRUMBEAT_FUZZ_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"examples_setting": EXAMPLES, "cases": dict(RUN)}) + "\n")


def row_counts() -> dict[str, int]:
    return {
        m._meta.label: m._default_manager.count()
        for m in apps.get_models()
        if m._meta.app_label not in {"sessions", "axes", "admin", "contenttypes", "auth"}
        and m._meta.label != "accounts.ApiToken"  # last_used_at only
    }


# --- the filter language, through the API ----------------------------------------------------

FIELDS = [
    "name", "email", "tags", "tags.name", "salesperson.username", "country", "created_at", "id",
    "active", "is_blacklisted", "leads.priority", "registrations.event.name", "", "__class__",
    "name.__len__", "tags.id.x.y.z", "salesperson.password", "company_name",
]  # fmt: skip
OPERATORS = [
    "=", "!=", "in", "not_in", "ilike", "not_ilike", "like", ">", "<=", "any", "not_any",
    "set", "child_of", "; DROP TABLE x", "", "=like", "between",
]  # fmt: skip
HOSTILE_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20
) | st.sampled_from(["\x00", "a\x00b", "' OR 1=1 --", "%", "_", "\\", "𝔘𝔫𝔦", "\u202e", "9" * 40])
SCALARS = (
    HOSTILE_TEXT
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | st.fixed_dictionaries({"now": HOSTILE_TEXT | st.sampled_from(["-7d", "+3m", "-1w", "0h"])})
)
TERMS = st.lists(st.sampled_from(FIELDS) | HOSTILE_TEXT, min_size=0, max_size=1).flatmap(
    lambda f: st.tuples(
        st.sampled_from(FIELDS), st.sampled_from(OPERATORS), SCALARS | st.lists(SCALARS, max_size=3)
    ).map(list)
)
DOMAINS = (
    st.recursive(
        st.lists(TERMS | st.sampled_from(["&", "|", "!"]), max_size=5),
        lambda inner: st.lists(inner | TERMS | st.sampled_from(["&", "|", "!"]), max_size=4),
        max_leaves=12,
    )
    | SCALARS
    | st.dictionaries(HOSTILE_TEXT, SCALARS, max_size=2)
)


@pytest.fixture
def api(alice):
    Contact.objects.create(name="Ann", email="ann@example.com").tags.add(
        Tag.objects.create(name="vip")
    )
    _, raw = ApiToken.issue(alice, "fuzz")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}", raise_request_exception=False)


@FUZZ
@given(domain=DOMAINS)
def test_the_filter_language_never_fails_with_a_500(api, domain):
    RUN["filter"] += 1
    before = row_counts()
    raw = json.dumps(domain, allow_nan=True)

    listed = api.get("/api/v1/contacts", {"domain": raw})
    counted = (
        api.post(
            "/api/v1/targets/contacts.contact/count",
            {"domain": domain},
            content_type="application/json",
        )
        if "NaN" not in raw and "Infinity" not in raw
        else listed
    )

    assert listed.status_code in {200, 400, 422}, (raw, listed.content[:300])
    assert counted.status_code in {200, 400, 422}, (raw, counted.content[:300])
    with contextlib.suppress(DomainError):
        list(filter_records("contacts.contact", domain)[:3])
    assert row_counts() == before


# --- templates, in the sending path -----------------------------------------------------------

PIECES = [
    "{{ record.name }}", "{{ record.email|upper }}", "{{ record.__class__ }}", "{{ x }}",
    "{% for t in record.tags %}{{ t.name }}", "{% endfor %}", "{% if record.name %}", "{% endif %}",
    "{{ record.tags[0].name }}", "{{ record.salesperson.first_name or 'us' }}", "{{ 1/0 }}",
    "{{ record.name|truncate(3) }}", "{{ '%s'|format(record.name) }}", "{{ record.name * 3 }}",
    "{{ unsubscribe_url }}", "<a href=\"https://example.com/{{ record.id }}\">x</a>", "{{",
    "<a href=\"https://example.com/x\">x</a>", "</body>", "<style>p{color:red}</style>", "%%",
    "%%drumbeat-link-0%%", "%%drumbeat-token%%", "{% raw %}", "{% endraw %}", "é✓",
    "{{ record.tags|map(attribute='name')|join(',') }}", "{{ record.tags|length }}",
]  # fmt: skip
# NUL cannot be stored (PostgreSQL text; forms refuse it): not an input of the sending path.
NO_NUL = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
SOURCES = st.lists(st.sampled_from(PIECES) | NO_NUL, max_size=8).map("".join)


@FUZZ
@given(subject=SOURCES, body=SOURCES)
def test_a_template_never_breaks_the_batch(mail_settings, carol, dave, subject, body):
    RUN["template"] += 1
    Message.objects.all().delete()
    template = Template.objects.create(
        name="fuzz", kind="email", target="contacts.contact", subject=subject, body_html=body
    )
    results = send_emails(
        template,
        [Recipient(1, carol, carol.email), Recipient(2, dave, dave.email)],
        campaign_id=1,
        activity_id=template.pk,
        render_fields=FILTERABLE,
    )

    assert set(results) == {1, 2}
    for trace_id, result in results.items():
        assert result.status in {"sent", "error"}
        if result.status == "error":
            assert result.reason
        sent = Message.objects.filter(trace_id=trace_id, state="sent").exists()
        assert sent == (result.status == "sent")


# --- CSV import -------------------------------------------------------------------------------

HEADERS = [
    "Name", "Email", "E-mail", "Phone", "Mobile", "Company", "Country", "Tags", "City", "Title",
    "Priority", "Event", "State", "", "Name", "\ufeffName", "x" * 300, "Ñame",
]  # fmt: skip
CELLS = st.text(max_size=12) | st.sampled_from(
    ["a@b.co", "BAD@", "+15555550123", "BE", "ZZ", "=1+1", '"', "a,b", "x\ny", "\x00", "3", "-1"]
)


@st.composite
def csv_files(draw):
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=0, max_size=6))
    rows = draw(st.lists(st.lists(CELLS, max_size=len(header) + 2), max_size=6))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))

    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if draw(st.booleans()) else v

    text = "\n".join(delimiter.join(cell(v) for v in row) for row in [header, *rows])
    data = text.encode(
        draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"])), "replace"
    )
    if draw(st.booleans()):
        data += draw(st.binary(max_size=20))
    return data


@FUZZ
@given(
    data=csv_files(),
    kind=st.sampled_from(["contacts", "leads", "registrations", "mailing-contacts"]),
    all_or_nothing=st.booleans(),
)
def test_csv_import_never_raises_and_writes_all_or_nothing(
    tmp_path, db, data, kind, all_or_nothing
):
    RUN["csv"] += 1
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    before = row_counts()

    report = import_csv(kind, path, ImportOptions(all_or_nothing=all_or_nothing))

    after = row_counts()
    if report.error or report.aborted:
        assert after == before
    label = {
        "contacts": "contacts.Contact",
        "leads": "crm.Lead",
        "registrations": "events.Registration",
        "mailing-contacts": "mailing.MailingContact",
    }[kind]
    assert after[label] - before[label] == report.created
    if all_or_nothing and report.problems:
        assert after == before


# --- inbound mail -----------------------------------------------------------------------------

DSN = (
    "From: MAILER-DAEMON@mx.example\r\nTo: {to}\r\nSubject: Undelivered\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B\r\n"
    "Content-Type: text/plain\r\n\r\n{junk}\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; {rcpt}\r\nAction: {action}\r\n"
    "Status: {status}\r\n\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n"
    "Message-ID: {mid}\r\n\r\n--B--\r\n"
)


@st.composite
def inbound_mail(draw, token: str, message_id: str):
    if draw(st.booleans()):
        return draw(st.binary(max_size=400))
    text = DSN.format(
        to=draw(st.sampled_from([f"bounce+{token}@in.example.org", "x@y", ""])),
        junk=draw(st.text(max_size=40)),
        rcpt=draw(st.sampled_from(["carol@example.com", "", "<>", "x" * 300])),
        action=draw(st.sampled_from(["failed", "delayed", "", "\x00"])),
        status=draw(st.sampled_from(["5.1.1", "4.2.2", "9.9.9", "", "x"])),
        mid=draw(st.sampled_from([message_id, "<nope@x>", "", "<<>>"])),
    )
    data = text.encode("utf-8", "surrogateescape")
    cut = draw(st.integers(min_value=0, max_value=len(data)))
    return data[:cut] if draw(st.booleans()) else data


@pytest.fixture
def two_sent(mail_settings, carol, dave):
    template = Template.objects.create(
        name="t", kind="email", target="contacts.contact", subject="Hi", body_html="<p>Hi</p>"
    )
    send_emails(
        template,
        [Recipient(1, carol, carol.email), Recipient(2, dave, dave.email)],
        campaign_id=1,
        activity_id=1,
        render_fields=FILTERABLE,
    )
    return Message.objects.get(trace_id=1), Message.objects.get(trace_id=2)


@FUZZ
@given(data=st.data())
def test_inbound_mail_never_raises_and_touches_only_the_message_it_names(two_sent, data):
    RUN["inbound"] += 1
    carol_message, dave_message = two_sent
    dave_before = Message.objects.filter(pk=dave_message.pk).values().get()
    raw = data.draw(inbound_mail(carol_message.token, carol_message.message_id))
    rcpts = data.draw(
        st.lists(
            st.sampled_from(
                [
                    f"bounce+{carol_message.token}@in.example.org",
                    f"reply+{carol_message.token}@in.example.org",
                    f"bounce+{make_token()}@in.example.org",
                    "bounce+" + "0" * 32 + "@in.example.org",
                    "junk@in.example.org",
                ]
            ),
            max_size=3,
        )
    )

    result = inbound.process_inbound(rcpts, raw)

    assert result.kind in {
        "bounce",
        "delay",
        "delivered",
        "complaint",
        "auto_reply",
        "reply",
        "unsubscribe",
        "unknown",
        "dropped",
    }
    assert set(result.message_ids) <= {carol_message.pk}
    assert Message.objects.filter(pk=dave_message.pk).values().get() == dave_before
