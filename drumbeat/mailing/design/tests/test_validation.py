"""validate_design: each rule refuses with the JSON path of the fault; the normal form fills
defaults and sanitises text HTML."""

from __future__ import annotations

import pytest

from drumbeat.mailing.design import DesignError, validate_design

from .helpers import block, design, footer, full_design, section


def problems(data) -> dict[str, str]:
    with pytest.raises(DesignError) as caught:
        validate_design(data)
    return {p.path: p.message for p in caught.value.problems}


def one_block(**fields) -> dict:
    return design(section("s1", [fields, footer()]))


def test_a_full_design_validates_and_keeps_its_content():
    data = full_design()
    normal = validate_design(data).data
    blocks = [b for s in normal["sections"] for c in s["columns"] for b in c["blocks"]]
    assert [b["type"] for b in blocks] == [
        "heading", "text", "image", "button", "divider", "spacer", "social", "footer",
    ]  # fmt: skip
    assert blocks[0]["text"] == "Hello {{ record.name }}"
    assert blocks[2]["src"] == "https://media.example.com/shop.png"
    # defaults filled in
    assert blocks[0]["align"] == "left" and blocks[0]["color"] is None
    assert blocks[4] == {"id": "b5", "type": "divider", "color": None, "thickness": 1}
    assert normal["sections"][0]["padding"] == 16 and normal["sections"][0]["background"] is None
    # the normal form is a fixed point
    assert validate_design(normal).data == normal


@pytest.mark.parametrize(
    "data, path, words",
    [
        ([], "", "must be an object"),
        ({"version": 2, "sections": []}, "version", "must be 1"),
        ({"version": 1, "sections": {}}, "sections", "must be a list"),
        ({"version": 1, "sections": [], "extra": 1}, "extra", "unknown field"),
        (
            {"version": 1, "settings": {"background": "red"}, "sections": []},
            "settings.background",
            "#rrggbb",
        ),  # noqa: E501
        ({"version": 1, "settings": {"font": "comic"}, "sections": []}, "settings.font", "one of"),
        (design(section("s1", [], layout=[40, 60])), "sections[0].layout", "one of"),
        (design(section("s1", [], layout=[50, 50])), "sections[0].columns", "2 column"),
        (
            design({"id": "s1", "layout": [100], "columns": [{"blocks": []}], "padding": 99}),
            "sections[0].padding",
            "between 0 and 64",
        ),  # noqa: E501
    ],
)
def test_design_level_rules_name_their_path(data, path, words):
    found = problems(data)
    assert path in found, found
    assert words in found[path]


@pytest.mark.parametrize(
    "fields, path, words",
    [
        ({"id": "b1", "type": "video"}, "type", "must be one of"),
        ({"id": "", "type": "spacer"}, "id", "non-empty"),
        ({"id": "b1", "type": "spacer", "height": 2}, "height", "between 4 and 120"),
        ({"id": "b1", "type": "spacer", "height": "tall"}, "height", "whole number"),
        ({"id": "b1", "type": "heading", "text": "Hi", "level": 4}, "level", "between 1 and 3"),
        ({"id": "b1", "type": "heading", "text": 5}, "text", "must be a string"),
        ({"id": "b1", "type": "heading", "text": "x" * 501}, "text", "at most 500"),
        ({"id": "b1", "type": "heading", "text": "a\x00b"}, "text", "NUL"),
        ({"id": "b1", "type": "heading", "align": "justify"}, "align", "one of left"),
        ({"id": "b1", "type": "heading", "color": "#fff"}, "color", "#rrggbb"),
        ({"id": "b1", "type": "heading", "font_size": 40}, "font_size", "unknown field"),
        ({"id": "b1", "type": "image", "src": "ftp://x.example/a.png"}, "src", "full URL"),
        ({"id": "b1", "type": "image", "src": "javascript:alert(1)"}, "src", "full URL"),
        ({"id": "b1", "type": "image", "src": "https:///a.png"}, "src", "name a host"),
        ({"id": "b1", "type": "image", "src": "https://x.example/a b.png"}, "src", "spaces"),
        ({"id": "b1", "type": "image", "width": 601}, "width", "between 16 and 600"),
        ({"id": "b1", "type": "image", "alt": "x" * 301}, "alt", "at most 300"),
        ({"id": "b1", "type": "button", "href": "javascript:alert(1)"}, "href", "full URL"),
        ({"id": "b1", "type": "button", "href": "/relative"}, "href", "full URL"),
        (
            {"id": "b1", "type": "button", "href": '{{ record.a or "it\'s" }}'},
            "href",
            "both kinds of quotes",
        ),
        ({"id": "b1", "type": "divider", "thickness": 9}, "thickness", "between 1 and 8"),
        ({"id": "b1", "type": "social", "links": "fb"}, "links", "must be a list"),
        (
            {"id": "b1", "type": "social", "links": [{"network": "myspace", "url": ""}]},
            "links[0].network",
            "one of",
        ),
        (
            {"id": "b1", "type": "social", "links": [{"network": "x", "url": "x.com"}]},
            "links[0].url",
            "full URL",
        ),
        ({"id": "b1", "type": "text", "html": '<p><a href="/news">x</a></p>'}, "html", "full URL"),
        ({"id": "b1", "type": "footer", "text": ["x"]}, "text", "must be a string"),
    ],
)
def test_block_rules_name_the_json_path(fields, path, words):
    found = problems(one_block(**fields))
    where = f"sections[0].columns[0].blocks[0].{path}"
    assert where in found, found
    assert words in found[where]


def test_every_problem_is_reported_at_once():
    data = design(
        section(
            "s1",
            [block("image", "b1", src="ftp://x", width=5)],
            [block("button", "b1", href="javascript:x")],
            layout=[50, 50],
        )
    )
    found = problems(data)
    assert set(found) == {
        "sections[0].columns[0].blocks[0].src",
        "sections[0].columns[0].blocks[0].width",
        "sections[0].columns[1].blocks[0].id",  # b1 twice
        "sections[0].columns[1].blocks[0].href",
    }
    assert "used twice" in found["sections[0].columns[1].blocks[0].id"]


def test_a_design_has_at_most_one_footer():
    found = problems(design(section("s1", [footer("f1"), footer("f2")])))
    assert found == {"sections[0].columns[0].blocks[1]": "a design has at most one footer block"}


def test_urls_may_be_or_hold_placeholders():
    data = one_block(
        id="b1",
        type="button",
        label="Visit",
        href="https://shop.example.com/?who={{ record.id }}",
    )
    validate_design(data)
    for href in ("{{ record.website }}", "{{ view_online_url }}", "mailto:{{ record.email }}"):
        validate_design(one_block(id="b1", type="button", href=href))


def test_text_html_keeps_only_the_allowed_tags_and_attributes():
    source = (
        '<p class="x" onclick="steal()">Hi <strong>you</strong> <em>there</em> <u>u</u> '
        '<a href="https://x.example/" target="_blank" onmouseover="x()">link</a>'
        '<span style="font-size: 40px; color: #FF0000">red</span>'
        '<span style="background: url(x)">plain</span><br>'
        "<script>alert(1)</script><style>p{}</style><img src=x onerror=alert(1)>"
        '<iframe src="https://evil.example/"></iframe><a href="data:text/html,x">d</a></p>'
        "<div>block</div><ul><li>one</li></ul><ol><li>two</li></ol>"
    )
    data = validate_design(one_block(id="b1", type="text", html=source)).data
    clean = data["sections"][0]["columns"][0]["blocks"][0]["html"]
    assert clean == (
        '<p>Hi <strong>you</strong> <em>there</em> <u>u</u> <a href="https://x.example/">link</a>'
        '<span style="color: #ff0000">red</span><span>plain</span><br><a>d</a></p>'
        "block<ul><li>one</li></ul><ol><li>two</li></ol>"
    )


def test_text_html_keeps_placeholders():
    source = '<p>Hello {{ record.name or "there" }} <a href="{{ record.website }}">site</a></p>'
    data = validate_design(one_block(id="b1", type="text", html=source)).data
    assert data["sections"][0]["columns"][0]["blocks"][0]["html"] == source
