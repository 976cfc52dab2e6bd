import pytest

from drumbeat.contacts.models import Contact
from drumbeat.mailing.models import Template
from drumbeat.mailing.rendering import html_to_text, preview, validate_template

from .conftest import RENDER_FIELDS


def template(body="", subject="Hi", kind="email", text=""):
    return Template(
        name="t", kind=kind, target="contacts.contact", subject=subject, body_html=body,
        body_text=text,
    )  # fmt: skip


def problems(body, **kwargs):
    return validate_template(template(body, **kwargs), RENDER_FIELDS)


def test_it_accepts_allowed_fields_defaults_and_loops():
    assert problems('<p>{{ record.name or "there" }}</p>') == []
    assert problems("{% for t in record.tags %}{{ t.name|upper }}{% endfor %}") == []
    assert problems("{% set n = record.name %}{{ n }} {{ unsubscribe_url }}") == []


@pytest.mark.parametrize(
    "body, reason",
    [
        ("{{ record.__class__ }}", "internal attribute"),
        ("{{ ''.__class__.__mro__ }}", "internal attribute"),
        ("{{ record.salesperson }}", "unknown field 'salesperson'"),
        ("{{ record.tags.name }}", "is a list"),
        ("{% for t in record.tags %}{{ t.color }}{% endfor %}", "unknown field 'color' on tag"),
        ("{{ cycler.__init__.__globals__ }}", "unknown variable 'cycler'"),
        ("{{ range(10) }}", "unknown variable 'range'"),
        ("{{ record['_meta'] }}", "internal attribute"),
        ("{{ record[name] }}", "fields must be named"),
        ("{% import 'os' as os %}", "imports are not available"),
        ("{% include 'x.html' %}", "includes are not available"),
        ("{% macro m() %}x{% endmacro %}", "macros are not available"),
        ("{{ record.name|attr('__class__') }}", "No filter named 'attr'"),
        ("{{ record.name|nosuchfilter }}", "No filter named 'nosuchfilter'"),
    ],
)
def test_it_refuses_escapes_and_unknown_names(body, reason):
    found = problems(body)
    assert found, body
    assert any(reason in p.reason for p in found), found


def test_it_reports_syntax_errors_with_their_line():
    found = problems("<p>ok</p>\n<p>{{ record.name </p>\n")
    assert found[0].line == 2
    assert found[0].reason.startswith("body:")


def test_it_refuses_import_without_as():
    assert problems("{% import os %}")


def test_it_checks_the_subject_too():
    found = problems("<p>x</p>", subject="{{ record.password }}")
    assert found[0].reason == "subject: unknown field 'password' on contact"


def test_it_requires_a_subject_and_a_body():
    assert [p.reason for p in problems("", subject="")] == [
        "subject: a subject is required",
        "body: the body is empty",
    ]


@pytest.mark.postgres
@pytest.mark.django_db
def test_it_previews_a_record_with_real_links_and_footer(alice):
    result = preview(
        template('<p>Hi {{ record.name }}</p><a href="https://x.org/a?b=1&amp;c=2">A</a>'),
        alice,
        RENDER_FIELDS,
    )

    assert result.problems == [] and result.error == ""
    assert "Hi Alice" in result.html
    assert 'href="https://x.org/a?b=1&amp;c=2"' in result.html
    assert 'href="#unsubscribe"' in result.html and "View in your browser" in result.html
    assert "Hi Alice" in result.text and "A (https://x.org/a?b=1&c=2)" in result.text


@pytest.mark.postgres
@pytest.mark.django_db
def test_it_escapes_record_values_in_html(db):
    mallory = Contact.objects.create(name="<script>alert(1)</script>", email="m@x.org")

    result = preview(template("<p>{{ record.name }}</p>"), mallory, RENDER_FIELDS)

    assert "<script>" not in result.html
    assert "&lt;script&gt;" in result.html


@pytest.mark.postgres
@pytest.mark.django_db
def test_it_refuses_unknown_fields_at_render_time_too(alice):
    limited = {"contacts.contact": ["name", "tags"], "contacts.tag": []}
    body = "{% for t in record.tags %}{{ t|string }}{{ t.name }}{% endfor %}"

    result = preview(template(body), alice, limited)

    assert result.problems and "unknown field 'name' on tag" in result.problems[0].reason


@pytest.mark.postgres
@pytest.mark.django_db
def test_it_renders_a_null_relation_as_empty(db):
    fields = {
        **RENDER_FIELDS,
        "contacts.contact": ["name", "salesperson"],
        "accounts.user": ["username"],
    }
    nobody = Contact.objects.create(name="Nobody")

    result = preview(template('{{ record.salesperson.username or "our team" }}'), nobody, fields)

    assert "our team" in result.html


@pytest.mark.django_db  # compiling reads the brand kit (sender address footer)
def test_it_keeps_author_placed_unsubscribe_links():
    body = (
        '<p><a href="{{ unsubscribe_url }}">Leave</a> <a href="{{ view_online_url }}">Web</a></p>'
    )
    from drumbeat.mailing.rendering import compile_email

    compiled = compile_email(template(body), RENDER_FIELDS)

    assert "Unsubscribe</a>" not in compiled.html.render(
        record=None, unsubscribe_url="u", view_online_url="v", stop_url="", open_pixel_url="p",
        preview_text="",
    )  # fmt: skip


def test_it_derives_readable_text_from_html():
    text = html_to_text(
        "<html><head><style>p{}</style></head><body><h1>Title</h1><p>Para &amp; more</p>"
        '<ul><li>one</li><li>two</li></ul><a href="https://x.org">site</a></body></html>'
    )
    assert text == "Title\n\nPara & more\n\n- one\n- two\nsite (https://x.org)\n"
