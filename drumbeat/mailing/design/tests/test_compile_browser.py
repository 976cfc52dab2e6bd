"""Compiled designs in Chromium at phone and desktop widths: no horizontal scroll, images
inside the screen, columns stacked on phones. The HTML is what the renderer sends (CSS
inlined, placeholders filled); images are served as real 1200×400 PNGs."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from drumbeat.mailing import rendering
from drumbeat.mailing.design import compile_design
from drumbeat.mailing.models import Template
from drumbeat.mailing.tests.conftest import RENDER_FIELDS

from .helpers import BRAND, block, design, footer, full_design, section

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def _png(width: int = 1200, height: int = 400) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (67, 56, 202)).save(buffer, "PNG")
    return buffer.getvalue()


def stress_design() -> dict:
    """What a user could place to widen an email: wide images in every layout, a long word,
    a long URL as text, a long button label."""
    wide = {"src": "https://media.example.com/wide.png", "alt": "Wide", "width": 600}
    return design(
        section(
            "s1",
            [
                block("heading", "h1", text="Supercalifragilisticexpialidocious" * 2),
                block(
                    "text",
                    "t1",
                    html="<p>https://www.example.com/a/very/long/path/that/never/breaks/"
                    "on/its/own/because/it/has/no/spaces/at/all</p>",
                ),
                block("button", "btn", label="Unbelievably" * 4, href="https://x.example/"),
            ],
        ),
        *[
            section(
                f"s{len(layout)}{layout[0]}",
                *[
                    [block("image", f"i{len(layout)}{layout[0]}{i}", **wide)]
                    for i in range(len(layout))
                ],
                layout=layout,
            )  # noqa: E501
            for layout in ([100], [50, 50], [33, 67], [67, 33], [33, 33, 34])
        ],
        section("sf", [footer()]),
    )


def rendered(data: dict, record) -> str:
    template = Template(
        kind="email",
        target="contacts.contact",
        subject="Hello {{ record.name }}",
        body_html=compile_design(data, BRAND).html,
    )
    result = rendering.preview(template, record, RENDER_FIELDS)
    assert result.error == "" and result.problems == []
    return result.html


def layout_at(page, html: str, width: int) -> dict:
    page.set_viewport_size({"width": width, "height": 800})
    page.set_content(html, wait_until="load")
    return page.evaluate(
        """() => ({
            scroll: document.documentElement.scrollWidth,
            inner: window.innerWidth,
            images: [...document.images].filter(i => i.naturalWidth > 1).map(i => {
                const r = i.getBoundingClientRect();
                return {left: r.left, right: r.right, top: r.top, loaded: i.complete};
            }),
        })"""
    )


@pytest.mark.parametrize("which", ["full", "stress"])
def test_no_horizontal_scroll_at_phone_and_desktop_widths(page, alice, which):
    png = _png()
    page.route(
        "https://media.example.com/**",
        lambda route: route.fulfill(status=200, content_type="image/png", body=png),
    )
    html = rendered(full_design() if which == "full" else stress_design(), alice)
    for width in (320, 375, 600, 1024):
        found = layout_at(page, html, width)
        assert found["scroll"] <= found["inner"], (width, found["scroll"])
        assert found["images"], "the images loaded"
        for image in found["images"]:
            assert image["left"] >= 0 and image["right"] <= found["inner"], (width, image)


def test_columns_stack_on_a_phone_and_sit_side_by_side_on_a_desktop(page, alice):
    png = _png()
    page.route(
        "https://media.example.com/**",
        lambda route: route.fulfill(status=200, content_type="image/png", body=png),
    )
    pair = {"src": "https://media.example.com/p.png", "alt": "P", "width": 252}
    data = design(
        section(
            "s1", [block("image", "a", **pair)], [block("image", "b", **pair)], layout=[50, 50]
        ),
        section("s2", [footer()]),
    )
    html = rendered(data, alice)
    phone = layout_at(page, html, 375)["images"]
    assert phone[1]["top"] > phone[0]["top"]  # stacked
    assert phone[0]["right"] - phone[0]["left"] > 300  # fluid: the screen's width less padding
    desktop = layout_at(page, html, 1024)["images"]
    assert desktop[1]["top"] == desktop[0]["top"]  # side by side
    assert desktop[1]["left"] > desktop[0]["right"]
