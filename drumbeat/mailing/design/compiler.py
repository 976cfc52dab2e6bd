"""Compile a design (see `schema`) to email HTML: design JSON -> MJML -> HTML.

Why MJML, and why `mrml`: MJML is the maintained, widely used language for responsive email
(tables for Outlook, media queries for phones, columns that stack under 480 px). `mrml` is its
maintained Rust port with Python bindings: it compiles in-process in about a millisecond, needs
no Node.js runtime or subprocess, and does not fetch anything over the network (includes are
refused by its default loader).

Responsive rules: the body is at most 600 px wide and fluid below; columns stack on phones;
an image is never wider than its column, and an image wider than 240 px becomes fluid on
phones (`fluid-on-mobile`), so nothing a user can place makes the email wider than a 320 px
screen; every image also gets `max-width: 100%`.

Placeholders (`{{ … }}` and `{% … %}`) are swapped for inert tokens before MJML sees them and
put back afterwards, so they reach the sandboxed renderer (mailing/rendering.py) exactly as
written; inside a placeholder double quotes become single quotes (the same Jinja string) so a
placeholder in an attribute (`href`, `src`, `alt`) cannot end the attribute early.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from typing import Any

import mrml

from drumbeat.brand.kit import FONT_STACKS, NETWORK_LABELS, Brand

from .schema import PLACEHOLDER_RE, Design, validate_design

BODY_WIDTH = 600
BLOCK_PADDING = 24  # px left and right of every block
FLUID_ABOVE = 240  # images wider than this fill the screen on phones
MUTED = "#6b7280"
HEADING_SIZES = {1: (26, 34), 2: (21, 29), 3: (18, 26)}
_RENDER_OPTIONS = mrml.RenderOptions(disable_comments=True)


@dataclass(frozen=True)
class CompiledDesign:
    html: str
    mjml: str


class _Placeholders:
    """Swaps placeholders for tokens MJML leaves alone, and back."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(4)
        self.items: list[str] = []
        self.token_re = re.compile(rf"dbph{self.nonce}n(\d+)x")

    def protect(self, text: str, unescape: bool = False) -> str:
        def swap(match: re.Match) -> str:
            source = html.unescape(match.group(0)) if unescape else match.group(0)
            if '"' in source and "'" not in source:
                source = source.replace('"', "'")
            self.items.append(source)
            return f"dbph{self.nonce}n{len(self.items) - 1}x"

        return PLACEHOLDER_RE.sub(swap, text)

    def restore(self, text: str) -> str:
        return self.token_re.sub(lambda m: self.items[int(m.group(1))], text)


def _attr(value: Any) -> str:
    return html.escape(str(value), quote=False).replace('"', "&quot;")


class _Builder:
    def __init__(self, design: Design, brand: Brand) -> None:
        self.design = design
        self.brand = brand
        settings = design.settings
        self.background = settings.get("background") or brand.background_color
        self.content_background = (
            settings.get("content_background") or brand.content_background_color
        )
        self.text_color = settings.get("text_color") or brand.text_color
        self.link_color = settings.get("link_color") or brand.link_color
        font = settings.get("font")
        self.font = FONT_STACKS.get(font, brand.font_stack)
        self.heading_font = FONT_STACKS.get(font, brand.heading_font_stack)
        self.placeholders = _Placeholders()

    def text(self, value: str) -> str:
        """Plain text (with placeholders) as MJML/HTML content."""
        return html.escape(self.placeholders.protect(value), quote=False)

    def attr(self, value: str) -> str:
        return _attr(self.placeholders.protect(value))

    def mjml(self, title: str) -> str:
        head = [
            f"<mj-title>{self.text(title)}</mj-title>" if title else "",
            '<mj-breakpoint width="480px" />',
            "<mj-attributes>",
            f'<mj-all font-family="{_attr(self.font)}" />',
            f'<mj-text color="{self.text_color}" font-size="16px" line-height="1.6" '
            f'padding="8px {BLOCK_PADDING}px" />',
            f'<mj-image padding="8px {BLOCK_PADDING}px" />',
            f'<mj-button padding="8px {BLOCK_PADDING}px" font-size="16px" font-weight="bold" '
            'border-radius="6px" inner-padding="12px 28px" />',
            f'<mj-divider padding="12px {BLOCK_PADDING}px" />',
            "</mj-attributes>",
            "<mj-style>",
            f"a {{ color: {self.link_color}; }}",
            ".db-text p { margin: 0 0 12px 0; } .db-text ul, .db-text ol { margin: 0 0 12px 0; "
            "padding-left: 24px; }",
            "img { max-width: 100%; height: auto; }",
            "</mj-style>",
        ]
        sections = [self.section(s) for s in self.design.sections]
        return (
            '<mjml lang="en" dir="ltr"><mj-head>'
            + "".join(head)
            + f'</mj-head><mj-body background-color="{self.background}" width="{BODY_WIDTH}px">'
            + '<mj-wrapper padding="16px 0">'
            + "".join(sections)
            + "</mj-wrapper></mj-body></mjml>"
        )

    def section(self, section: dict[str, Any]) -> str:
        background = section["background"] or self.content_background
        columns = []
        for width, column in zip(section["layout"], section["columns"], strict=True):
            inner = BODY_WIDTH * width // 100 - 2 * BLOCK_PADDING
            blocks = "".join(self.block(b, inner) for b in column["blocks"])
            columns.append(f'<mj-column width="{width}%">{blocks}</mj-column>')
        return (
            f'<mj-section background-color="{background}" '
            f'padding="{section["padding"]}px 0">' + "".join(columns) + "</mj-section>"
        )

    def block(self, block: dict[str, Any], inner: int) -> str:
        return getattr(self, f"block_{block['type']}")(block, inner)

    def block_heading(self, block: dict[str, Any], inner: int) -> str:
        level = block["level"]
        size, line = HEADING_SIZES[level]
        color = block["color"] or self.text_color
        return (
            f'<mj-text align="{block["align"]}" color="{color}" '
            f'font-family="{_attr(self.heading_font)}">'
            f'<h{level} style="margin:0;font-size:{size}px;line-height:{line}px;'
            f'font-weight:bold">{self.text(block["text"])}</h{level}></mj-text>'
        )

    def block_text(self, block: dict[str, Any], inner: int) -> str:
        body = self.placeholders.protect(block["html"], unescape=True)
        return f'<mj-text align="{block["align"]}" css-class="db-text">{body}</mj-text>'

    def block_image(self, block: dict[str, Any], inner: int) -> str:
        if not block["src"]:
            return ""
        width = min(block["width"] or inner, inner)
        parts = [
            f'src="{self.attr(block["src"])}"',
            f'alt="{self.attr(block["alt"])}"',
            f'width="{width}px"',
            f'align="{block["align"]}"',
        ]
        if block["href"]:
            parts.append(f'href="{self.attr(block["href"])}"')
        if width > FLUID_ABOVE:
            parts.append('fluid-on-mobile="true"')
        return f"<mj-image {' '.join(parts)} />"

    def block_button(self, block: dict[str, Any], inner: int) -> str:
        background = block["background"] or self.brand.primary_color
        color = block["color"] or "#ffffff"
        href = f' href="{self.attr(block["href"])}"' if block["href"] else ""
        return (
            f'<mj-button align="{block["align"]}" background-color="{background}" '
            f'color="{color}"{href}>{self.text(block["label"])}</mj-button>'
        )

    def block_divider(self, block: dict[str, Any], inner: int) -> str:
        color = block["color"] or "#e5e7eb"
        return f'<mj-divider border-color="{color}" border-width="{block["thickness"]}px" />'

    def block_spacer(self, block: dict[str, Any], inner: int) -> str:
        return f'<mj-spacer height="{block["height"]}px" />'

    def block_social(self, block: dict[str, Any], inner: int) -> str:
        links = [
            f'<a href="{self.attr(link["url"])}">{NETWORK_LABELS.get(link["network"], "Link")}</a>'
            for link in block["links"]
            if link["url"]
        ]
        if not links:
            return ""
        return (
            f'<mj-text align="{block["align"]}" font-size="14px">'
            + " &middot; ".join(links)
            + "</mj-text>"
        )

    def block_footer(self, block: dict[str, Any], inner: int) -> str:
        lines = []
        if block["text"].strip():
            lines.append(self.text(block["text"].strip()))
        sender = [self.text(self.brand.sender_name.strip())] if self.brand.sender_name else []
        address = ", ".join(
            line.strip() for line in self.brand.postal_address.splitlines() if line.strip()
        )
        if address:
            sender.append(self.text(address))
        if sender:
            lines.append(" &middot; ".join(sender))
        link = f'style="color:{MUTED};text-decoration:underline"'
        view = self.placeholders.protect("{{ view_online_url }}")
        unsubscribe = self.placeholders.protect("{{ unsubscribe_url }}")
        lines.append(
            f'<a href="{view}" {link}>View in your browser</a> &middot; '
            f'<a href="{unsubscribe}" {link}>Unsubscribe</a>'
        )
        return (
            f'<mj-text align="center" font-size="12px" line-height="18px" color="{MUTED}">'
            + "<br><br>".join(lines)
            + "</mj-text>"
        )


def compile_design(
    design: Design | dict[str, Any], brand: Brand, title: str = ""
) -> CompiledDesign:
    """The email HTML of `design` (validated first when given as JSON: raises `DesignError`)
    with `brand` supplying what the design leaves out (colours, font, sender, address)."""
    if not isinstance(design, Design):
        design = validate_design(design)
    builder = _Builder(design, brand)
    source = builder.mjml(title)
    output = mrml.to_html(source, render_options=_RENDER_OPTIONS)
    restore = builder.placeholders.restore
    return CompiledDesign(html=restore(output.content), mjml=restore(source))
