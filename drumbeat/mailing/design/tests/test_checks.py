"""check_template: each pre-send check code, on designs (JSON paths) and HTML templates."""

from __future__ import annotations

import pytest

from drumbeat.mailing.design import check_template, compile_design
from drumbeat.mailing.design.checks import MAX_HTML_BYTES, is_localhost
from drumbeat.mailing.models import Template
from drumbeat.mailing.tests.conftest import RENDER_FIELDS

from .helpers import BRAND, block, design, footer, full_design, section

P = "sections[0].columns[0].blocks[0]"


def designed(data: dict, subject: str = "Hello {{ record.name }}", **fields) -> Template:
    return Template(
        kind="email",
        target="contacts.contact",
        subject=subject,
        design=data,
        body_html=compile_design(data, BRAND).html,
        **fields,
    )


def html_template(body: str, subject: str = "Hello") -> Template:
    return Template(kind="email", target="contacts.contact", subject=subject, body_html=body)


def codes(template: Template) -> list[tuple[str, str, str]]:
    return [(c.code, c.severity, c.path) for c in check_template(template, RENDER_FIELDS)]


def with_block(**fields) -> Template:
    return designed(design(section("s1", [fields, footer()])))


def test_a_complete_design_passes():
    assert codes(designed(full_design())) == []


def test_image_alt():
    template = with_block(id="i", type="image", src="https://m.example/a.png", alt="  ")
    assert codes(template) == [("image_alt", "error", f"{P}.alt")]
    html = html_template('<p><img src="https://m.example/a.png"><img src="x.png" alt="Logo"></p>')
    assert codes(html) == [("image_alt", "error", "body_html")]


@pytest.mark.parametrize(
    "fields, path",
    [
        ({"id": "b", "type": "button", "label": "Go", "href": ""}, f"{P}.href"),
        ({"id": "i", "type": "image", "src": "", "alt": "A"}, f"{P}.src"),
        ({"id": "t", "type": "text", "html": "<p><a>no url</a></p>"}, f"{P}.html"),
        (
            {"id": "s", "type": "social", "links": [{"network": "x", "url": ""}]},
            f"{P}.links[0].url",
        ),
    ],
)
def test_link_missing(fields, path):
    assert codes(with_block(**fields)) == [("link_missing", "error", path)]


def test_link_missing_in_html():
    assert codes(html_template('<a href=" ">x</a>')) == [("link_missing", "error", "body_html")]


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/offer",
        "https://127.0.0.1/a",
        "http://[::1]/a",
        "http://shop.localhost/a",
        "http://0.0.0.0/",
    ],
)
def test_link_localhost(url, settings):
    settings.BASE_URL = "https://news.example.com"  # a public instance
    assert is_localhost(url)
    button = with_block(id="b", type="button", label="Go", href=url)
    assert codes(button) == [("link_localhost", "error", f"{P}.href")]
    image = with_block(id="i", type="image", src=url, alt="A")
    assert codes(image) == [("link_localhost", "error", f"{P}.src")]
    assert codes(html_template(f'<a href="{url}">x</a>')) == [
        ("link_localhost", "error", "body_html")
    ]


def test_link_localhost_is_a_warning_on_an_instance_served_from_localhost(settings):
    # A trial (make demo): its tracking links and media library are on localhost too.
    settings.BASE_URL = "http://127.0.0.1:8000"
    image = with_block(id="i", type="image", src="http://127.0.0.1:8000/media/a.png", alt="A")
    assert codes(image) == [("link_localhost", "warning", f"{P}.src")]


def test_hosts_that_only_look_local_are_fine():
    for url in ("https://localhost.example.com/", "https://example.com/localhost", "mailto:a@b"):
        assert not is_localhost(url), url


def test_unsubscribe_missing():
    template = designed(design(section("s1", [block("heading", "h", text="Hi")])))
    assert codes(template) == [("unsubscribe_missing", "error", "sections")]
    # An HTML template gets the links from the renderer when it has none: no check.
    assert codes(html_template("<p>Hi</p>")) == []


def test_subject_empty_and_long():
    assert codes(designed(full_design(), subject=" ")) == [("subject_empty", "error", "subject")]
    long = "A" * 79
    assert codes(designed(full_design(), subject=long)) == [("subject_long", "warning", "subject")]
    assert codes(designed(full_design(), subject="A" * 78)) == []


def test_html_too_big_measures_the_compiled_html():
    paragraph = "<p>" + "Lorem ipsum dolor sit amet. " * 40 + "</p>"
    blocks = [block("text", f"t{i}", html=paragraph) for i in range(90)]
    template = designed(design(section("s1", [*blocks, footer()])))
    size = len(template.body_html.encode())
    assert size > MAX_HTML_BYTES
    [check] = check_template(template, RENDER_FIELDS)
    assert (check.code, check.severity, check.path) == ("html_too_big", "error", "body_html")
    assert f"{size / 1024:.0f} KB" in check.message
    smaller = designed(design(section("s1", [*blocks[:60], footer()])))
    assert len(smaller.body_html.encode()) < MAX_HTML_BYTES
    assert codes(smaller) == []


def test_placeholder_unknown_names_the_field():
    data = design(
        section(
            "s1",
            [
                block("heading", "h", text="Hi {{ record.shoe_size }}"),
                block("text", "t", html="<p>{{ record.name }} {{ secret }}</p>"),
                block("button", "b", label="Go", href="https://x.example/{{ record.password }}"),
                block("image", "i", src="https://m.example/a.png", alt="{{ record.name"),
                footer(),
            ],
        )
    )
    found = check_template(designed(data, subject="{{ record.nope }}"), RENDER_FIELDS)
    assert [(c.code, c.path) for c in found] == [
        ("placeholder_unknown", "subject"),
        ("placeholder_unknown", f"{P}.text"),
        ("placeholder_unknown", "sections[0].columns[0].blocks[1].html"),
        ("placeholder_unknown", "sections[0].columns[0].blocks[2].href"),
        ("placeholder_unknown", "sections[0].columns[0].blocks[3].alt"),
    ]
    assert "unknown field 'shoe_size'" in found[1].message
    assert "unknown variable 'secret'" in found[2].message
    html = html_template("<p>{{ record.shoe_size }}</p>")
    assert codes(html) == [("placeholder_unknown", "error", "body_html")]


def test_sms_templates_have_no_email_checks():
    sms = Template(kind="sms", target="contacts.contact", body_text="Hi {{ record.name }}")
    assert check_template(sms, RENDER_FIELDS) == []
