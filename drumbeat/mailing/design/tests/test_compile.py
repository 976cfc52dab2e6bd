"""compile_design: MJML compiled by mrml into responsive HTML; placeholders reach the
sandboxed renderer intact; the footer carries the brand and the links; nothing is wider than
a 320 px screen (structure here, Chromium in test_compile_browser)."""

from __future__ import annotations

import re

import css_inline
import pytest

from drumbeat.brand.kit import Brand
from drumbeat.mailing import rendering
from drumbeat.mailing.design import DesignError, compile_design
from drumbeat.mailing.models import Template
from drumbeat.mailing.tests.conftest import RENDER_FIELDS

from .helpers import BRAND, block, design, footer, full_design, section


def test_it_compiles_every_block_into_an_html_document():
    compiled = compile_design(full_design(), BRAND, title="Spring")
    html = compiled.html
    assert html.startswith("<!doctype html>")
    assert "<title>Spring</title>" in html
    assert "<mj-" not in html and "<mj-" in compiled.mjml
    assert "Hello {{ record.name }}" in html
    assert 'src="https://media.example.com/shop.png"' in html and 'alt="Our shop"' in html
    assert re.search(r'<a href="https://shop.example.com/"[^>]*>\s*Shop now\s*</a>', html)
    assert '<a href="https://fb.com/a">Facebook</a>' in html
    # columns stack below 480 px: MJML's media query gives them their share only above it
    assert "@media only screen and (min-width:480px)" in html
    assert ".mj-column-per-50 { width:50% !important; max-width:50%; }" in html


def test_placeholders_survive_compilation_exactly():
    data = design(
        section(
            "s1",
            [
                block("heading", "b1", text='Hi {{ record.name or "there" }} & <friends>'),
                block(
                    "text", "b2", html="<p>{% if record.name %}Dear {{ record.name }}{% endif %}"
                ),
                block(
                    "image",
                    "b3",
                    src="https://media.example.com/{{ record.id }}.png",
                    alt='Photo of {{ record.name or "you" }}',
                    href="{{ record.email }}",
                ),
                block(
                    "button",
                    "b4",
                    label="Go {{ record.name }}",
                    href="https://x.example/?a=1&b={{ record.id }}",
                ),  # noqa: E501
                footer(),
            ],
        )
    )
    html = compile_design(data, BRAND).html
    assert "Hi {{ record.name or 'there' }} &amp; &lt;friends&gt;" in html
    assert "{% if record.name %}Dear {{ record.name }}{% endif %}" in html
    assert 'src="https://media.example.com/{{ record.id }}.png"' in html
    assert "alt=\"Photo of {{ record.name or 'you' }}\"" in html
    assert 'href="{{ record.email }}"' in html
    assert "Go {{ record.name }}" in html
    assert 'href="https://x.example/?a=1&amp;b={{ record.id }}"' in html
    assert '<a href="{{ unsubscribe_url }}"' in html and '<a href="{{ view_online_url }}"' in html


@pytest.mark.django_db
def test_the_sandboxed_renderer_fills_the_compiled_placeholders(alice):
    data = design(
        section(
            "s1",
            [
                block("heading", "b1", text='Hi {{ record.name or "there" }}'),
                block("image", "b3", src="https://m.example/a.png", alt="For {{ record.name }}"),
                block(
                    "button", "b4", label="Mail {{ record.name }}", href="mailto:{{ record.email }}"
                ),  # noqa: E501
                footer(),
            ],
        )
    )
    template = Template(
        kind="email",
        target="contacts.contact",
        subject="Hello {{ record.name }}",
        body_html=compile_design(data, BRAND).html,
    )
    assert rendering.validate_template(template, RENDER_FIELDS) == []
    result = rendering.preview(template, alice, RENDER_FIELDS)
    assert result.error == "" and result.problems == []
    assert "Hi Alice" in result.html
    assert 'alt="For Alice"' in result.html
    assert 'href="mailto:Alice@Example.com"' in result.html
    assert "Mail Alice" in result.html
    assert "{{" not in result.html and "{%" not in result.html
    assert "Hi Alice" in result.text


def test_the_footer_carries_the_brand_and_the_links():
    html = compile_design(design(section("s1", [footer()])), BRAND).html
    assert "You receive this because you subscribed." in html
    assert "Acme Tools &middot; 12 Rue de la Paix, 75002 Paris" in html
    assert re.search(r'<a href="\{\{ view_online_url \}\}"[^>]*>View in your browser</a>', html)
    assert re.search(r'<a href="\{\{ unsubscribe_url \}\}"[^>]*>Unsubscribe</a>', html)
    bare = compile_design(design(section("s1", [footer()])), Brand()).html
    assert "&middot; 12 Rue" not in bare and "Unsubscribe</a>" in bare


def test_the_brand_fills_what_the_design_leaves_out():
    brand = Brand(primary_color="#aa0011", font="georgia", background_color="#123456")
    data = design(section("s1", [block("button", "b1", label="Go", href="https://x.example/")]))
    html = compile_design(data, brand).html
    assert "background:#aa0011" in html
    assert "Georgia, 'Times New Roman', serif" in html
    assert "background-color:#123456" in html.replace(" ", "") or "#123456" in html
    own = design(
        section("s1", [block("heading", "b1", text="Hi")]), background="#fafafa", font="courier"
    )
    html = compile_design(own, brand).html
    assert "#fafafa" in html and "'Courier New', Courier, monospace" in html
    assert "#123456" not in html


def test_an_invalid_design_is_refused():
    with pytest.raises(DesignError) as caught:
        compile_design({"version": 1, "sections": "x"}, BRAND)
    assert caught.value.problems[0].path == "sections"


def _widths(html: str) -> list[int]:
    """Every fixed pixel width of the HTML a phone applies (Outlook-only blocks left out)."""
    phone = re.sub(r"<!--\[if mso \| IE\]>.*?<!\[endif\]-->", "", html, flags=re.S)
    phone = re.sub(
        r"@media only screen and \(min-width:480px\) \{.*?\}\s*\}", "", phone, flags=re.S
    )
    found = [int(w) for w in re.findall(r"(?<![-\w])width:\s*(\d+)px", phone)]
    return found


@pytest.mark.parametrize("layout", [[100], [50, 50], [33, 67], [67, 33], [33, 33, 34]])
def test_nothing_is_wider_than_a_320_px_screen_on_a_phone(layout):
    columns = [
        [block("image", f"i{i}", src="https://m.example/a.png", alt="a", width=600)]
        for i in range(len(layout))
    ]
    columns[0].append(footer())
    html = compile_design(design(section("s1", *columns, layout=layout)), BRAND).html
    inlined = css_inline.CSSInliner(keep_at_rules=True).inline(html)
    # an image is never wider than its column on a 600 px screen...
    for width, tag in zip(layout, re.findall(r"<img[^>]*>", inlined), strict=True):
        assert int(re.search(r'width="(\d+)"', tag).group(1)) <= 600 * width // 100 - 48
        # ... and shrinks with its container
        style = tag.replace(" ", "")
        assert "max-width:100%" in style and ";width:100%" in style
    # Wide images become full-width on phones (MJML's fluid-on-mobile class and rule).
    assert "mj-full-width-mobile" in html
    assert re.search(r"td\.mj-full-width-mobile \{ width: auto !important; \}", html)
    # What is left fixed is at most the 320 px of the smallest screen: the images' cells are
    # the only wider widths, and the phone rule above overrides them.
    fixed = [w for w in _widths(html) if w > 320]
    overridden = re.findall(r'<td class="mj-full-width-mobile" style="width:(\d+)px', html)
    assert sorted(fixed) == sorted(int(w) for w in overridden if int(w) > 320), fixed
