"""The checks run before an email is sent (`check_template`), shown by the editor and
enforced when a campaign starts (errors refuse the Start).

Codes: `image_alt` (an image without alt text), `link_missing` (a button or link without
URL, an image block without picture), `link_localhost` (a link or image on localhost, which
no recipient can reach; a warning only when the instance itself is served from localhost),
`unsubscribe_missing` (a designed template without footer block),
`subject_empty`, `subject_long` (over 78 characters: a warning, mail clients cut it),
`html_too_big` (compiled HTML over 100 KB: Gmail clips messages at 102 KB, hiding the
footer), `placeholder_unknown` (a placeholder the target does not offer, or broken syntax).

A designed template is checked on its design (each check names the JSON path of the block
field at fault) and on its compiled HTML (`body_html`, kept compiled on save); an HTML
template on its `body_html` (path `body_html`). HTML templates need no unsubscribe check:
the renderer adds the links when the author left them out.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from .. import rendering
from .schema import PLACEHOLDER_RE, Design, validate_design

MAX_SUBJECT = 78
MAX_HTML_BYTES = 100 * 1024
ERROR = "error"
WARNING = "warning"
CODES = (
    "image_alt",
    "link_missing",
    "link_localhost",
    "unsubscribe_missing",
    "subject_empty",
    "subject_long",
    "html_too_big",
    "placeholder_unknown",
)


@dataclass(frozen=True)
class Check:
    code: str
    severity: str  # "error" (Start refuses) or "warning"
    message: str
    path: str  # JSON path in the design, or the template field ("subject", "body_html")

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def is_localhost(url: str) -> bool:
    """Whether `url` points at this machine (no recipient could open it)."""
    bare = PLACEHOLDER_RE.sub("x", url.strip())
    try:
        host = (urlsplit(bare).hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    return (
        host in ("localhost", "0.0.0.0", "::1")
        or host.endswith(".localhost")
        or host.startswith("127.")
    )


def _instance_is_local() -> bool:
    """Whether this instance's own public URL (DRUMBEAT_BASE_URL) is on this machine: a trial
    or demo, whose tracking links and media are local too."""
    return is_localhost(settings.BASE_URL)


def localhost_check(message: str, path: str) -> Check:
    """A link or image on localhost: an error (no recipient can open it), only a warning on an
    instance that is itself served from localhost (a trial: its own tracking links and media
    library are local as well, and nobody outside receives its mail)."""
    if _instance_is_local():
        note = " (fine for a trial on this machine: set DRUMBEAT_BASE_URL before real sends)"
        return Check("link_localhost", WARNING, message + note, path)
    return Check("link_localhost", ERROR, message, path)


class _Tags(HTMLParser):
    """The images (alt) and links (href) of an HTML text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag == "a":
            self.links.append(dict(attrs))


def _tags(source: str) -> _Tags:
    parser = _Tags()
    parser.feed(source)
    parser.close()
    return parser


def _placeholder_checks(
    source: str, path: str, target: str, render_fields: rendering.RenderFields, as_html: bool
) -> list[Check]:
    if "{" not in source:
        return []
    return [
        Check("placeholder_unknown", ERROR, f"{p.reason} (line {p.line})", path)
        for p in rendering.validate_source(source, target, render_fields, html=as_html)
    ]


def _html_link_checks(source: str, path: str, what: str) -> list[Check]:
    checks = []
    tags = _tags(source)
    for link in tags.links:
        href = (link.get("href") or "").strip()
        if not href:
            checks.append(Check("link_missing", ERROR, f"{what}: a link has no URL", path))
        elif is_localhost(href):
            checks.append(localhost_check(f"{what}: the link {href} points at localhost", path))
    return checks


def _design_checks(design: Design, template: Any, render_fields: rendering.RenderFields) -> list:
    checks: list[Check] = []
    footer = False
    target = template.target

    def placeholders(value: str, path: str, as_html: bool = True) -> None:
        checks.extend(_placeholder_checks(value, path, target, render_fields, as_html))

    def url(value: str, path: str, what: str) -> None:
        if value and is_localhost(value):
            checks.append(localhost_check(f"{what} {value} points at localhost", path))
        placeholders(html.escape(value), path)

    for path, block, _ in design.blocks():
        kind = block["type"]
        if kind == "heading":
            placeholders(html.escape(block["text"], quote=False), f"{path}.text")
        elif kind == "text":
            placeholders(block["html"], f"{path}.html")
            checks.extend(_html_link_checks(block["html"], f"{path}.html", "Text"))
        elif kind == "image":
            if not block["src"]:
                checks.append(
                    Check("link_missing", ERROR, "The image has no picture", f"{path}.src")
                )
            elif not block["alt"].strip():
                checks.append(
                    Check(
                        "image_alt",
                        ERROR,
                        "The image has no alt text (read aloud and shown when images are off)",
                        f"{path}.alt",
                    )
                )
            url(block["src"], f"{path}.src", "The image")
            url(block["href"], f"{path}.href", "The image's link")
            placeholders(html.escape(block["alt"]), f"{path}.alt")
        elif kind == "button":
            if not block["href"]:
                label = block["label"] or "button"
                checks.append(
                    Check("link_missing", ERROR, f"The button {label!r} has no URL", f"{path}.href")
                )
            url(block["href"], f"{path}.href", "The button's link")
            placeholders(html.escape(block["label"], quote=False), f"{path}.label")
        elif kind == "social":
            for i, link in enumerate(block["links"]):
                where = f"{path}.links[{i}].url"
                if not link["url"]:
                    checks.append(
                        Check(
                            "link_missing", ERROR, f"The {link['network']} link has no URL", where
                        )
                    )
                url(link["url"], where, f"The {link['network']} link")
        elif kind == "footer":
            footer = True
            placeholders(html.escape(block["text"], quote=False), f"{path}.text")
    if not footer:
        checks.append(
            Check(
                "unsubscribe_missing",
                ERROR,
                "The design has no footer block: marketing email must carry the unsubscribe "
                "link and the sender's postal address",
                "sections",
            )
        )
    return checks


def _html_checks(template: Any, render_fields: rendering.RenderFields) -> list[Check]:
    source = template.body_html or ""
    checks: list[Check] = []
    tags = _tags(source)
    for image in tags.images:
        if not (image.get("alt") or "").strip():
            src = image.get("src") or "?"
            checks.append(
                Check("image_alt", ERROR, f"The image {src} has no alt text", "body_html")
            )
        elif is_localhost(image.get("src") or ""):
            checks.append(localhost_check(f"The image {image['src']} is on localhost", "body_html"))
    checks.extend(_html_link_checks(source, "body_html", "Body"))
    checks.extend(_placeholder_checks(source, "body_html", template.target, render_fields, True))
    if (template.body_text or "").strip():
        checks.extend(
            _placeholder_checks(
                template.body_text, "body_text", template.target, render_fields, False
            )
        )
    return checks


def check_template(
    template: Any, render_fields: rendering.RenderFields | None = None
) -> list[Check]:
    """The pre-send checks of email `template` (an SMS template has none here). A designed
    template's `body_html` must hold its compiled HTML (the save service keeps it so). Raises
    `DesignError` for a design that does not validate. `render_fields`: the fields templates may
    use (default: those the automation layer registered)."""
    if template.kind != "email":
        return []
    fields = render_fields if render_fields is not None else rendering.registered_render_fields()
    checks: list[Check] = []
    subject = (template.subject or "").strip()
    if not subject:
        checks.append(Check("subject_empty", ERROR, "The subject is empty", "subject"))
    elif len(subject) > MAX_SUBJECT:
        checks.append(
            Check(
                "subject_long",
                WARNING,
                f"The subject has {len(subject)} characters; mail clients show about "
                f"{MAX_SUBJECT} at most",
                "subject",
            )
        )
    checks.extend(_placeholder_checks(subject, "subject", template.target, fields, False))
    checks.extend(
        _placeholder_checks(
            template.preview_text or "", "preview_text", template.target, fields, False
        )
    )
    design = getattr(template, "design", None)
    if design is not None:
        checks.extend(_design_checks(validate_design(design), template, fields))
    else:
        checks.extend(_html_checks(template, fields))
    size = len((template.body_html or "").encode("utf-8"))
    if size > MAX_HTML_BYTES:
        checks.append(
            Check(
                "html_too_big",
                ERROR,
                f"The HTML is {size / 1024:.0f} KB; Gmail clips messages over about 102 KB "
                f"(keep it under {MAX_HTML_BYTES // 1024} KB)",
                "body_html",
            )
        )
    return checks


def errors(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.severity == ERROR]
