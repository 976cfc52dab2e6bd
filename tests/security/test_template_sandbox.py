"""Template sandbox escapes are refused when the template is saved (the check the editor and
the API run), with a line and a reason; whatever slips past the static check still cannot reach
internals at send time (docs/product.md#templates)."""

from __future__ import annotations

import pytest

from drumbeat.automation.targets import FILTERABLE
from drumbeat.mailing import rendering
from drumbeat.mailing.models import Message, Template
from drumbeat.mailing.sending import Recipient, send_emails

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ESCAPES = [
    "{{ record.__class__ }}",
    "{{ record._record }}",
    "{{ record._record.delete() }}",
    "{{ record['_record'] }}",
    "{{ record|attr('_record') }}",
    "{{ record.__init__.__globals__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ record.name.__class__.__mro__ }}",
    "{{ record.salesperson.password }}",
    "{{ record.salesperson.__dict__ }}",
    "{{ record.id.__class__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner }}{{ namespace }}{{ range(3) }}",
    "{{ self }}",
    "{{ self._TemplateReference__context }}",
    "{{ config }}{{ request }}{{ settings.SECRET_KEY }}",
    "{% set x = record.__class__ %}{{ x }}",
    "{% for c in ''.__class__.__mro__ %}{{ c }}{% endfor %}",
    "{{ '{0.__class__}'.format(record) }}",
    "{% import 'os' as os %}",
    "{% from 'x' import y %}",
    "{% include '/etc/passwd' %}",
    "{% extends 'web/base.html' %}",
    "{% macro m() %}{% endmacro %}",
    "{{ record.tags.all() }}",
    "{{ record.tags[0]._record }}",
]


def email(body: str) -> Template:
    return Template(name="x", kind="email", target="contacts.contact", subject="Hi", body_html=body)


@pytest.mark.parametrize("source", ESCAPES)
def test_it_refuses_a_sandbox_escape_on_save(source):
    problems = rendering.validate_template(email(f"<p>\n{source}</p>"), FILTERABLE)

    assert problems, source
    assert all(p.line >= 1 and p.reason for p in problems)


@pytest.mark.parametrize("source", ESCAPES)
def test_it_refuses_an_escape_in_the_subject_and_the_sms_text(source):
    subject = Template(
        name="x", kind="email", target="contacts.contact", subject=source, body_html="<p>ok</p>"
    )
    sms = Template(name="x", kind="sms", target="contacts.contact", body_text=source)

    assert rendering.validate_template(subject, FILTERABLE)
    assert rendering.validate_template(sms, FILTERABLE)


def test_it_accepts_the_allowed_fields():
    source = '{{ record.name or "there" }} {% for t in record.tags %}{{ t.name }}{% endfor %}'

    assert rendering.validate_template(email(source), FILTERABLE) == []


@pytest.mark.parametrize(
    "source",
    [
        "{{ record.name.__class__ }}",
        "{{ (record.name ~ '').__class__.__mro__ }}",
        "{{ '{0.__class__}'.format(record) }}",
    ],
)
def test_it_errors_the_trace_not_the_batch_if_an_escape_reaches_send_time(
    mail_settings, carol, dave, source
):
    # Saved behind the editor's back (a bulk import, the admin): the sending sandbox still holds.
    template = Template.objects.create(
        name="Sneaky", kind="email", target="contacts.contact", subject="Hi", body_html=source
    )
    results = send_emails(
        template,
        [Recipient(1, carol, carol.email), Recipient(2, dave, dave.email)],
        campaign_id=1,
        activity_id=1,
        render_fields=FILTERABLE,
    )

    assert {r.status for r in results.values()} == {"error"}
    assert not Message.objects.filter(state=Message.State.SENT).exists()


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 10**9 }}",
        "{{ ['x'] * 10**9 }}",
        "{{ 10**9999 }}",
        "{{ ((10**64)**64)**64 }}",
        "{{ '%999999999s' % record.name }}",
        "{{ '%*s' % (10**9, 'x') }}",
        "{{ '%999999999s'|format(record.name) }}",
        "{{ record.name|center(10**9) }}",
        "{{ record.name|indent(10**9) }}",
    ],
)
def test_it_refuses_to_build_a_huge_value_at_send_time(mail_settings, carol, dave, source):
    # a template author cannot exhaust a worker's memory; the trace errors, the batch goes on
    template = Template.objects.create(
        name="Huge", kind="email", target="contacts.contact", subject="Hi", body_html=source
    )
    fine = Template.objects.create(
        name="Fine", kind="email", target="contacts.contact", subject="Hi", body_html="<p>x</p>"
    )
    results = send_emails(
        template,
        [Recipient(1, carol, carol.email)],
        campaign_id=1,
        activity_id=1,
        render_fields=FILTERABLE,
    )
    later = send_emails(
        fine,
        [Recipient(2, dave, dave.email)],
        campaign_id=1,
        activity_id=2,
        render_fields=FILTERABLE,
    )

    assert results[1].status == "error"
    assert "too large" in results[1].reason or "too long" in results[1].reason
    assert later[2].status == "sent"


def test_ordinary_arithmetic_and_formatting_still_work(carol):
    source = "{{ 'ab' * 3 }} {{ 2**10 }} {{ '%s!' % record.name }} {{ record.name|center(9) }}"
    template = Template(
        name="x", kind="email", target="contacts.contact", subject="Hi", body_html=source
    )

    result = rendering.preview(template, carol, FILTERABLE)

    assert "ababab 1024 Carol!   Carol  " in result.html
