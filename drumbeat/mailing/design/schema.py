"""The design JSON of a designed email template (`Template.design`) and its validation.

`validate_design(data)` checks a design as sent by the editor or the API and returns a
`Design` holding its normal form: optional fields filled with their defaults, the text blocks'
HTML sanitised with `nh3` (only the tags and attributes of `TEXT_TAGS` / `TEXT_ATTRIBUTES`
survive; a `span` keeps only a `color: #rrggbb` style). Anything wrong raises `DesignError`,
whose `problems` each name a JSON path (`sections[0].columns[1].blocks[2].alt`) and say what
is wrong, all problems at once.

URL rules: links (`href`) are http(s), `mailto:` or `tel:` URLs, or start with a placeholder
(`{{ record.website }}`, `{{ unsubscribe_url }}`); image sources are http(s) URLs or start with
a placeholder. Placeholders may appear anywhere in a URL. An empty link is allowed while
editing (the pre-send checks report it).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import nh3

from drumbeat.brand.kit import FONT_STACKS, SOCIAL_NETWORKS

VERSION = 1
LAYOUTS: tuple[tuple[int, ...], ...] = ((100,), (50, 50), (33, 67), (67, 33), (33, 33, 34))
ALIGNS = ("left", "center", "right")
BLOCK_TYPES = ("heading", "text", "image", "button", "divider", "spacer", "social", "footer")
SETTINGS_KEYS = ("background", "content_background", "font", "text_color", "link_color")
TEXT_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "a", "ul", "ol", "li", "span"}
TEXT_ATTRIBUTES = {"a": {"href"}, "span": {"style"}}
LINK_SCHEMES = ("http", "https", "mailto", "tel")
IMAGE_SCHEMES = ("http", "https")
MAX_SECTIONS = 60
MAX_BLOCKS = 300
MAX_TEXT_HTML = 20_000
MAX_SOCIAL_LINKS = 20  # as many as the brand kit holds

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
PLACEHOLDER_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_SPAN_COLOR_RE = re.compile(r"(?:^|;)\s*color\s*:\s*(#[0-9a-fA-F]{6})\s*(?:;|$)")
_HREF_RE = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*"([^"]*)\"""", re.I)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class DesignError(ValueError):
    """A design that does not validate; `problems` lists each fault with its JSON path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Design:
    """A validated design; `data` is its normal form (what is stored)."""

    data: dict[str, Any]

    @property
    def settings(self) -> dict[str, Any]:
        return self.data["settings"]

    @property
    def sections(self) -> list[dict[str, Any]]:
        return self.data["sections"]

    def blocks(self) -> Iterator[tuple[str, dict[str, Any], int]]:
        """(JSON path, block, width of its column in percent) for every block, in order."""
        for s, section in enumerate(self.sections):
            for c, column in enumerate(section["columns"]):
                for b, block in enumerate(column["blocks"]):
                    path = f"sections[{s}].columns[{c}].blocks[{b}]"
                    yield path, block, section["layout"][c]


# --- field readers -----------------------------------------------------------------------------


class _Reader:
    """Collects problems while reading one object's fields."""

    def __init__(self, problems: list[Problem], path: str, obj: Any, what: str) -> None:
        self.problems = problems
        self.path = path
        self.ok = isinstance(obj, dict)
        self.obj = obj if self.ok else {}
        if not self.ok:
            self.problem("", f"must be an object ({what})")

    def at(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.at(name) if name else self.path, message))

    def unknown(self, allowed: set[str]) -> None:
        for key in self.obj:
            if key not in allowed:
                self.problem(str(key), "unknown field")

    def text(self, name: str, default: str = "", max_length: int = 1000) -> str:
        value = self.obj.get(name, default)
        if value is None:
            value = default
        if not isinstance(value, str):
            self.problem(name, "must be a string")
            return default
        if "\x00" in value:
            self.problem(name, "must not contain NUL characters")
            return default
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.problem(name, "must be valid Unicode text")
            return default
        if len(value) > max_length:
            self.problem(name, f"must be at most {max_length} characters")
        return value

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        value = self.obj.get(name, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                self.problem(name, "must be a whole number")
                return default
        if not low <= value <= high:
            self.problem(name, f"must be between {low} and {high}")
            return default
        return value

    def choice(self, name: str, choices: tuple, default: Any) -> Any:
        value = self.obj.get(name, default)
        if value is None:
            return default
        if value not in choices:
            self.problem(name, f"must be one of {', '.join(map(str, choices))}")
            return default
        return value

    def color(self, name: str, nullable: bool = True, default: str | None = None) -> str | None:
        value = self.obj.get(name, default)
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not COLOR_RE.match(value):
            self.problem(name, "must be a colour written #rrggbb")
            return default
        return value.lower()

    def url(self, name: str, schemes: tuple[str, ...], attribute: bool = True) -> str:
        value = self.text(name, max_length=2000).strip()
        message = url_problem(value, schemes, attribute)
        if message:
            self.problem(name, message)
        return value


def url_problem(value: str, schemes: tuple[str, ...], attribute: bool = True) -> str:
    """Why `value` is not an acceptable URL ('' when it is, or when it is empty)."""
    if not value:
        return ""
    if attribute:
        for placeholder in PLACEHOLDER_RE.findall(value):
            if '"' in placeholder and "'" in placeholder:
                return "a placeholder in a URL cannot use both kinds of quotes"
    if value.startswith(("{{", "{%")):
        return ""
    if any(c.isspace() for c in PLACEHOLDER_RE.sub("x", value)):
        return "must not contain spaces"
    bare = PLACEHOLDER_RE.sub("x", value)
    scheme = urlsplit(bare).scheme.lower() if ":" in bare else ""
    if scheme not in schemes:
        wanted = ", ".join(f"{s}:" for s in schemes)
        return f"must be a full URL starting with {wanted} or a placeholder"
    if scheme in ("http", "https") and not urlsplit(bare).netloc:
        return "must name a host, as in https://example.com/"
    return ""


def _span_style(tag: str, attribute: str, value: str) -> str | None:
    if tag == "span" and attribute == "style":
        match = _SPAN_COLOR_RE.search(value)
        return f"color: {match.group(1).lower()}" if match else None
    return value


def sanitize_html(source: str) -> str:
    """The text block's HTML reduced to the allowed tags and attributes."""
    return nh3.clean(
        source,
        tags=TEXT_TAGS,
        attributes=TEXT_ATTRIBUTES,
        clean_content_tags={"script", "style"},
        link_rel=None,
        url_schemes=set(LINK_SCHEMES),
        attribute_filter=_span_style,
        strip_comments=True,
    ).strip()


# --- blocks ------------------------------------------------------------------------------------

_COMMON = {"id", "type"}


def _heading(r: _Reader) -> dict[str, Any]:
    return {
        "text": r.text("text", max_length=500),
        "level": r.integer("level", 1, 1, 3),
        "align": r.choice("align", ALIGNS, "left"),
        "color": r.color("color"),
    }


def _text(r: _Reader) -> dict[str, Any]:
    source = r.text("html", max_length=MAX_TEXT_HTML)
    clean = sanitize_html(source)
    for href in _HREF_RE.findall(clean):
        message = url_problem(html.unescape(href).strip(), LINK_SCHEMES)
        if message:
            r.problem("html", f"link {html.unescape(href)!r}: {message}")
    return {"html": clean, "align": r.choice("align", ALIGNS, "left")}


def _image(r: _Reader) -> dict[str, Any]:
    return {
        "src": r.url("src", IMAGE_SCHEMES),
        "alt": r.text("alt", max_length=300),
        "href": r.url("href", LINK_SCHEMES),
        "width": r.integer("width", None, 16, 600),
        "align": r.choice("align", ALIGNS, "center"),
    }


def _button(r: _Reader) -> dict[str, Any]:
    return {
        "label": r.text("label", max_length=200),
        "href": r.url("href", LINK_SCHEMES),
        "background": r.color("background"),
        "color": r.color("color"),
        "align": r.choice("align", ALIGNS, "center"),
    }


def _divider(r: _Reader) -> dict[str, Any]:
    return {"color": r.color("color"), "thickness": r.integer("thickness", 1, 1, 8)}


def _spacer(r: _Reader) -> dict[str, Any]:
    return {"height": r.integer("height", 24, 4, 120)}


def _social(r: _Reader) -> dict[str, Any]:
    links_value = r.obj.get("links", [])
    links: list[dict[str, str]] = []
    if not isinstance(links_value, list):
        r.problem("links", "must be a list")
    elif len(links_value) > MAX_SOCIAL_LINKS:
        r.problem("links", f"must hold at most {MAX_SOCIAL_LINKS} links")
    else:
        for i, item in enumerate(links_value):
            link = _Reader(r.problems, r.at(f"links[{i}]"), item, "network and url")
            if not link.ok:
                continue
            link.unknown({"network", "url"})
            network = link.choice("network", SOCIAL_NETWORKS, None)
            if "network" not in link.obj:
                link.problem("network", "is required")
            url = link.url("url", ("http", "https"))
            links.append({"network": network or "", "url": url})
    return {"align": r.choice("align", ALIGNS, "center"), "links": links}


def _footer(r: _Reader) -> dict[str, Any]:
    return {"text": r.text("text", max_length=1000)}


_BLOCKS = {
    "heading": _heading,
    "text": _text,
    "image": _image,
    "button": _button,
    "divider": _divider,
    "spacer": _spacer,
    "social": _social,
    "footer": _footer,
}
BLOCK_FIELDS = {
    "heading": ("text", "level", "align", "color"),
    "text": ("html", "align"),
    "image": ("src", "alt", "href", "width", "align"),
    "button": ("label", "href", "background", "color", "align"),
    "divider": ("color", "thickness"),
    "spacer": ("height",),
    "social": ("align", "links"),
    "footer": ("text",),
}


def _id(r: _Reader, seen: set[str]) -> str:
    value = r.obj.get("id")
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        r.problem("id", "must be a non-empty string of at most 64 characters")
        return ""
    if value in seen:
        r.problem("id", f"'{value}' is used twice: ids must be unique within the design")
    seen.add(value)
    return value


def _block(problems: list[Problem], path: str, value: Any, seen: set[str]) -> dict | None:
    r = _Reader(problems, path, value, "a block")
    if not r.ok:
        return None
    block_id = _id(r, seen)
    kind = r.obj.get("type")
    if kind not in _BLOCKS:
        r.problem("type", f"must be one of {', '.join(BLOCK_TYPES)}")
        return None
    r.unknown(_COMMON | set(BLOCK_FIELDS[kind]))
    return {"id": block_id, "type": kind, **_BLOCKS[kind](r)}


def _settings(problems: list[Problem], value: Any) -> dict[str, Any]:
    r = _Reader(problems, "settings", value if value is not None else {}, "the design settings")
    r.unknown(set(SETTINGS_KEYS))
    out: dict[str, Any] = {}
    for name in ("background", "content_background", "text_color", "link_color"):
        if r.obj.get(name) is not None:
            out[name] = r.color(name)
    if r.obj.get("font") is not None:
        out["font"] = r.choice("font", tuple(FONT_STACKS), None)
    return out


def validate_design(data: Any) -> Design:
    """The design `data` in normal form; raises `DesignError` naming every problem's path."""
    problems: list[Problem] = []
    top = _Reader(problems, "", data, "a design")
    if not top.ok:
        raise DesignError(problems)
    top.unknown({"version", "settings", "sections"})
    if top.obj.get("version") != VERSION:
        top.problem("version", f"must be {VERSION}")
    settings = _settings(problems, top.obj.get("settings"))
    raw_sections = top.obj.get("sections", [])
    if not isinstance(raw_sections, list):
        top.problem("sections", "must be a list")
        raw_sections = []
    if len(raw_sections) > MAX_SECTIONS:
        top.problem("sections", f"must hold at most {MAX_SECTIONS} sections")
        raw_sections = raw_sections[:MAX_SECTIONS]
    seen: set[str] = set()
    sections = []
    footers: list[str] = []
    count = 0
    for s, raw in enumerate(raw_sections):
        r = _Reader(problems, f"sections[{s}]", raw, "a section")
        if not r.ok:
            continue
        r.unknown({"id", "layout", "background", "padding", "columns"})
        section_id = _id(r, seen)
        layout = r.obj.get("layout", [100])
        if not isinstance(layout, list) or tuple(layout) not in LAYOUTS:
            r.problem("layout", f"must be one of {', '.join(str(list(x)) for x in LAYOUTS)}")
            layout = [100]
        raw_columns = r.obj.get("columns", [])
        if not isinstance(raw_columns, list) or len(raw_columns) != len(layout):
            r.problem("columns", f"must be a list of {len(layout)} column(s), one per layout entry")
            raw_columns = raw_columns if isinstance(raw_columns, list) else []
        columns = []
        for c, raw_column in enumerate(raw_columns[: len(layout)]):
            cr = _Reader(problems, f"sections[{s}].columns[{c}]", raw_column, "a column")
            cr.unknown({"blocks"})
            raw_blocks = cr.obj.get("blocks", [])
            if not isinstance(raw_blocks, list):
                cr.problem("blocks", "must be a list")
                raw_blocks = []
            blocks = []
            for b, raw_block in enumerate(raw_blocks):
                count += 1
                path = f"sections[{s}].columns[{c}].blocks[{b}]"
                block = _block(problems, path, raw_block, seen)
                if block is not None:
                    blocks.append(block)
                    if block["type"] == "footer":
                        footers.append(path)
            columns.append({"blocks": blocks})
        while len(columns) < len(layout):
            columns.append({"blocks": []})
        sections.append(
            {
                "id": section_id,
                "layout": list(layout),
                "background": r.color("background"),
                "padding": r.integer("padding", 16, 0, 64),
                "columns": columns,
            }
        )
    if count > MAX_BLOCKS:
        top.problem("sections", f"must hold at most {MAX_BLOCKS} blocks in all")
    for path in footers[1:]:
        problems.append(Problem(path, "a design has at most one footer block"))
    if problems:
        raise DesignError(problems)
    return Design({"version": VERSION, "settings": settings, "sections": sections})


# --- JSON Schema (documentation: the API's OpenAPI document) ---------------------------------


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_COLOR = {"type": "string", "pattern": COLOR_RE.pattern, "examples": ["#4338ca"]}
_ALIGN = {"type": "string", "enum": list(ALIGNS)}
_URL = {
    "type": "string",
    "maxLength": 2000,
    "description": "http(s) URL (links also mailto: and tel:), or starting with a placeholder; "
    "placeholders may appear anywhere in it",
}


def _block_schema(kind: str, properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": f"{kind} block",
        "description": description,
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 64},
            "type": {"type": "string", "enum": [kind]},
            **properties,
        },
        "required": ["id", "type"],
        "additionalProperties": False,
    }


BLOCK_SCHEMAS = [
    _block_schema(
        "heading",
        {
            "text": {"type": "string", "maxLength": 500},
            "level": {"type": "integer", "minimum": 1, "maximum": 3},
            "align": _ALIGN,
            "color": _nullable(_COLOR),
        },
        "Plain text (placeholders allowed); level 1–3.",
    ),
    _block_schema(
        "text",
        {"html": {"type": "string", "maxLength": MAX_TEXT_HTML}, "align": _ALIGN},
        "HTML limited to p, br, strong, b, em, i, u, a[href], ul, ol, li and "
        "span[style=color: #rrggbb]; anything else is removed on save.",
    ),
    _block_schema(
        "image",
        {
            "src": _URL,
            "alt": {"type": "string", "maxLength": 300},
            "href": _URL,
            "width": _nullable({"type": "integer", "minimum": 16, "maximum": 600}),
            "align": _ALIGN,
        },
        "Width in px (null: the column's width), never wider than its column; fluid on phones.",
    ),
    _block_schema(
        "button",
        {
            "label": {"type": "string", "maxLength": 200},
            "href": _URL,
            "background": _nullable(_COLOR),
            "color": _nullable(_COLOR),
            "align": _ALIGN,
        },
        "A link styled as a button (background null: the brand's primary colour).",
    ),
    _block_schema(
        "divider",
        {
            "color": _nullable(_COLOR),
            "thickness": {"type": "integer", "minimum": 1, "maximum": 8},
        },
        "A horizontal rule.",
    ),
    _block_schema(
        "spacer",
        {"height": {"type": "integer", "minimum": 4, "maximum": 120}},
        "Empty space, in px.",
    ),
    _block_schema(
        "social",
        {
            "align": _ALIGN,
            "links": {
                "type": "array",
                "maxItems": MAX_SOCIAL_LINKS,
                "items": {
                    "type": "object",
                    "properties": {
                        "network": {"type": "string", "enum": list(SOCIAL_NETWORKS)},
                        "url": _URL,
                    },
                    "required": ["network"],
                    "additionalProperties": False,
                },
            },
        },
        "Links to the sender's social profiles, shown as text links.",
    ),
    _block_schema(
        "footer",
        {"text": {"type": "string", "maxLength": 1000}},
        "Your text, then the brand's sender name and postal address and the view-online and "
        "unsubscribe links. At most one; marketing email must have one.",
    ),
]

DESIGN_EXAMPLE: dict[str, Any] = {
    "version": 1,
    "settings": {"background": "#f3f4f6", "font": "helvetica"},
    "sections": [
        {
            "id": "s1",
            "layout": [100],
            "background": None,
            "padding": 16,
            "columns": [
                {
                    "blocks": [
                        {
                            "id": "b1",
                            "type": "heading",
                            "text": "Hello {{ record.name }}",
                            "level": 1,
                            "align": "left",
                            "color": None,
                        },
                        {
                            "id": "b2",
                            "type": "text",
                            "html": "<p>Welcome <strong>back</strong></p>",
                            "align": "left",
                        },
                    ]
                }
            ],
        },
        {
            "id": "s2",
            "layout": [50, 50],
            "background": None,
            "padding": 16,
            "columns": [
                {
                    "blocks": [
                        {
                            "id": "b3",
                            "type": "image",
                            "src": "https://media.example.com/shop.png",
                            "alt": "Our shop",
                            "href": "",
                            "width": 252,
                            "align": "center",
                        }
                    ]
                },
                {
                    "blocks": [
                        {
                            "id": "b4",
                            "type": "button",
                            "label": "Shop now",
                            "href": "https://shop.example.com/",
                            "background": None,
                            "color": None,
                            "align": "center",
                        }
                    ]
                },
            ],
        },
        {
            "id": "s3",
            "layout": [100],
            "background": None,
            "padding": 16,
            "columns": [
                {
                    "blocks": [
                        {"id": "b5", "type": "footer", "text": "You subscribed on our website."}
                    ]
                }
            ],
        },
    ],
}

DESIGN_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Design",
    "description": "An email built with the email designer: sections of one to three columns "
    "holding blocks. Fields left out take their defaults; ids are unique in the design.",
    "properties": {
        "version": {"type": "integer", "enum": [VERSION]},
        "settings": {
            "type": "object",
            "description": "Missing keys come from the brand kit.",
            "properties": {
                "background": _nullable(_COLOR),
                "content_background": _nullable(_COLOR),
                "text_color": _nullable(_COLOR),
                "link_color": _nullable(_COLOR),
                "font": _nullable({"type": "string", "enum": list(FONT_STACKS)}),
            },
            "additionalProperties": False,
        },
        "sections": {
            "type": "array",
            "maxItems": MAX_SECTIONS,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "minLength": 1, "maxLength": 64},
                    "layout": {
                        "description": "Column widths in percent",
                        "enum": [list(x) for x in LAYOUTS],
                    },
                    "background": _nullable(_COLOR),
                    "padding": {"type": "integer", "minimum": 0, "maximum": 64},
                    "columns": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 3,
                        "description": "One per layout entry",
                        "items": {
                            "type": "object",
                            "properties": {
                                "blocks": {"type": "array", "items": {"anyOf": BLOCK_SCHEMAS}}
                            },
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["id", "columns"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["version"],
    "additionalProperties": False,
    "examples": [DESIGN_EXAMPLE],
}
