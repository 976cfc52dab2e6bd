"""Rendering of user-authored email and SMS templates in a Jinja2 sandbox.

The template sees `record` (the target record) and a few URLs (`unsubscribe_url`,
`view_online_url`, `stop_url`), nothing else: no globals, no imports, and the record only
through `RecordView`, which hands out the fields the caller allows (`render_fields`: model label
-> field names; the engine passes `automation.targets.FILTERABLE`). Relations lead to views of
the related records (lists for to-many relations), again limited to their allowed fields.

Templates are compiled once per source (cached) into a `CompiledEmail`/`CompiledSms`: tracked
links are replaced by markers filled per message, the unsubscribe / view-online footer and the
sender's name and postal address (the brand kit's, drumbeat/brand) are added when the author
left them out, and the plain-text part is derived from the HTML source. An SMS
template may ask for the opt-out footer (`sms_optout_footer`), added under its text.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any, NamedTuple

import css_inline
from django.conf import settings
from django.db import models
from django.db.models import ForeignObjectRel, prefetch_related_objects
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from drumbeat.brand.kit import current_brand

from . import shortlinks, sms_text
from .tokens import TOKEN_LENGTH

RenderFields = dict[str, list[str]]

# Names a template may use besides `record` and its own loop / set variables.
CONTEXT_NAMES = ("unsubscribe_url", "view_online_url", "stop_url")

LINK_MARKER = "%%drumbeat-link-{}%%"
TOKEN_MARKER = "%%drumbeat-token%%"
_MARKER_RE = re.compile(r"%%drumbeat-(?:link-(\d+)|token)%%")
_HREF_RE = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2([^>]*>)(.*?)</a>""", re.I | re.S)
_SMS_URL_RE = re.compile(r"https?://[^\s{}<>\"']+", re.I)
_TAG_RE = re.compile(r"<[^>]+>")
_BODY_END_RE = re.compile(r"</body\s*>", re.I)
_BODY_START_RE = re.compile(r"<body\b[^>]*>", re.I)
_CACHE_SIZE = 128


class TemplateProblem(NamedTuple):
    line: int
    reason: str


class FieldNotAllowed(SecurityError):
    """A template asked for a field the caller did not allow."""


class RenderError(Exception):
    """A template could not be rendered for a record (reason in the message)."""


# --- The record as templates see it --------------------------------------------------------


class _FieldAccess:
    """How to read each allowed field, resolved once per (model, field) for a `render_fields`
    mapping (rendering asks for the same few fields hundreds of thousands of times)."""

    def __init__(self, render_fields: RenderFields) -> None:
        self.render_fields = render_fields
        self.allowed = {label: frozenset(names) for label, names in render_fields.items()}
        self.resolved: dict[tuple[type, str], tuple[str, str, type | None]] = {}

    def resolve(self, model: type[models.Model], name: str) -> tuple[str, str, type | None]:
        """(kind, attribute, related model): kind is 'value', 'one' or 'many'."""
        key = (model, name)
        found = self.resolved.get(key)
        if found is not None:
            return found
        if name not in self.allowed.get(model._meta.label_lower, ()):
            raise FieldNotAllowed(f"unknown field '{name}' on {model._meta.verbose_name}")
        f = model._meta.get_field(name)
        if f.is_relation:
            accessor = f.get_accessor_name() if isinstance(f, ForeignObjectRel) else f.name
            kind = "many" if f.many_to_many or f.one_to_many else "one"
            found = (kind, accessor, f.related_model)
        else:
            found = ("value", f.attname, None)
        self.resolved[key] = found
        return found


_accesses: dict[int, _FieldAccess] = {}


def _access_for(render_fields: RenderFields) -> _FieldAccess:
    access = _accesses.get(id(render_fields))
    if access is None or access.render_fields is not render_fields:
        access = _FieldAccess(render_fields)
        if len(_accesses) > 32:
            _accesses.clear()
        _accesses[id(render_fields)] = access
    return access


class RecordView:
    """A read-only view of a record exposing only allowed fields (see module docstring).

    A missing related record (NULL foreign key) is an empty view: false, prints as '', and its
    fields are None, so `{{ record.salesperson.first_name or "us" }}` works."""

    __slots__ = ("_access", "_model", "_record")

    def __init__(
        self,
        record: models.Model | None,
        model: type[models.Model],
        render_fields: RenderFields | _FieldAccess,
    ) -> None:
        self._record = record
        self._model = model
        self._access = (
            render_fields if isinstance(render_fields, _FieldAccess) else _access_for(render_fields)
        )

    def _field(self, name: str) -> Any:
        kind, attribute, related = self._access.resolve(self._model, name)
        record = self._record
        if kind == "value":
            return None if record is None else getattr(record, attribute)
        if kind == "many":
            if record is None:
                return []
            manager = getattr(record, attribute)
            return [RecordView(o, related, self._access) for o in manager.all()]
        value = None
        if record is not None:
            try:
                value = getattr(record, attribute)
            except models.ObjectDoesNotExist:
                value = None
        return RecordView(value, related, self._access)

    def __bool__(self) -> bool:
        return self._record is not None

    def __str__(self) -> str:
        allowed = self._access.allowed.get(self._model._meta.label_lower, ())
        for name in ("name", "title", "username", "email"):
            if name in allowed and self._record is not None:
                return str(getattr(self._record, name) or "")
        return ""

    def __repr__(self) -> str:
        return f"<{self._model._meta.label_lower}>"


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with every attribute access on a record going through `RecordView`."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, RecordView):
            return obj._field(attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, RecordView):
            if isinstance(argument, str):
                return obj._field(argument)
            raise SecurityError("record fields must be named")
        return super().getitem(obj, argument)

    # Arithmetic that could build a huge value ('x' * 10**10, 9**9**9, '%999999999s' % x) is
    # checked before it runs: a template author must not be able to exhaust a worker's memory.
    intercepted_binops = frozenset(["*", "**", "%"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and (
            _magnitude(right) > 64
            or (isinstance(left, int) and left.bit_length() * _magnitude(right) > 400_000)
        ):
            raise SecurityError("exponent too large")
        if operator == "*" and isinstance(left, str | list | tuple) | isinstance(
            right, str | list | tuple
        ):
            size = _magnitude(left) * _magnitude(right)
            if size > MAX_TEXT:
                raise SecurityError("repeated text too long")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise SecurityError("format width too large")
        return super().call_binop(context, operator, left, right)


MAX_TEXT = 100_000  # characters a single operation may produce
_WIDE_FORMAT = re.compile(r"%[-+ #0]*(\*|\d{6,})")


def _magnitude(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(abs(value)) if abs(value) < 1e18 else 10**18
    try:
        return len(value)
    except TypeError:
        return 0


def _bounded(name: str, filter_: Any, width_arg: int) -> Any:
    """`filter_` refusing a width (its argument number `width_arg`) above MAX_TEXT."""

    def checked(*args: Any, **kwargs: Any) -> Any:
        width = kwargs.get("width", args[width_arg] if len(args) > width_arg else 0)
        if _magnitude(width) > MAX_TEXT:
            raise SecurityError(f"{name}: width too large")
        return filter_(*args, **kwargs)

    return checked


def _make_env(autoescape: bool) -> _Environment:
    env = _Environment(
        autoescape=autoescape,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        finalize=lambda value: "" if value is None else value,
    )
    env.globals.clear()
    env.filters.pop("attr", None)  # by-name attribute access bypasses the static check
    for name in ("center", "indent"):  # (value, width, ...): output grows with the width
        env.filters[name] = _bounded(name, env.filters[name], 1)
    env.filters["format"] = _bounded_format(env.filters["format"])
    return env


def _bounded_format(filter_: Any) -> Any:
    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and _WIDE_FORMAT.search(value):
            raise SecurityError("format width too large")
        return filter_(value, *args, **kwargs)

    return checked


HTML_ENV = _make_env(autoescape=True)
TEXT_ENV = _make_env(autoescape=False)


# --- Static validation ----------------------------------------------------------------------

_REFUSED_NODES: dict[type, str] = {
    nodes.Import: "imports are not available",
    nodes.FromImport: "imports are not available",
    nodes.Include: "includes are not available",
    nodes.Extends: "template inheritance is not available",
    nodes.Block: "blocks are not available",
    nodes.Macro: "macros are not available",
    nodes.CallBlock: "macros are not available",
}

_Type = tuple[str | None, str, str]  # (kind: "model" | "list" | None, model label, path)
_SCALAR: _Type = (None, "", "")


class _Checker:
    def __init__(self, root_label: str, render_fields: RenderFields) -> None:
        self.root_label = root_label
        self.render_fields = render_fields
        self.problems: list[TemplateProblem] = []
        self.prefetch: set[str] = set()

    def problem(self, node: nodes.Node, reason: str) -> None:
        self.problems.append(TemplateProblem(getattr(node, "lineno", 1) or 1, reason))

    def visit(self, node: nodes.Node, scope: dict[str, _Type]) -> None:
        for refused, reason in _REFUSED_NODES.items():
            if isinstance(node, refused):
                self.problem(node, reason)
                return
        if isinstance(node, nodes.For):
            iter_type = self.type_of(node.iter, scope)
            inner = dict(scope, loop=_SCALAR)
            element = ("model", iter_type[1], iter_type[2]) if iter_type[0] == "list" else _SCALAR
            self.bind(node.target, element, inner)
            if node.test is not None:
                self.visit(node.test, inner)
            for child in node.body:
                self.visit(child, inner)
            for child in node.else_:
                self.visit(child, scope)
        elif isinstance(node, nodes.Assign):
            self.bind(node.target, self.type_of(node.node, scope), scope)
        elif isinstance(node, nodes.AssignBlock):
            for child in node.body:
                self.visit(child, scope)
            self.bind(node.target, _SCALAR, scope)
        elif isinstance(node, nodes.With):
            inner = dict(scope)
            for target, value in zip(node.targets, node.values, strict=False):
                self.bind(target, self.type_of(value, scope), inner)
            for child in node.body:
                self.visit(child, inner)
        elif isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            self.type_of(node, scope)
        else:
            for child in node.iter_child_nodes():
                self.visit(child, scope)

    def bind(self, target: nodes.Node, value: _Type, scope: dict[str, _Type]) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = value
        elif isinstance(target, nodes.Tuple):
            for item in target.items:
                self.bind(item, _SCALAR, scope)
        else:
            self.problem(target, "only plain names can be assigned")

    def type_of(self, node: nodes.Node, scope: dict[str, _Type]) -> _Type:
        if isinstance(node, nodes.Name):
            if node.name == "record":
                return ("model", self.root_label, "")
            if node.name in scope:
                return scope[node.name]
            if node.name not in CONTEXT_NAMES:
                self.problem(node, f"unknown variable '{node.name}'")
            return _SCALAR
        if isinstance(node, nodes.Getattr):
            return self.attribute(node, self.type_of(node.node, scope), node.attr)
        if isinstance(node, nodes.Getitem):
            base = self.type_of(node.node, scope)
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                return self.attribute(node, base, arg.value)
            if base[0] == "list" and isinstance(arg, nodes.Const) and isinstance(arg.value, int):
                return ("model", base[1], base[2])
            if base[0] == "model":
                self.problem(node, "record fields must be named, as in record.name")
            self.visit(arg, scope)
            return _SCALAR
        self.visit(node, scope)
        return _SCALAR

    def attribute(self, node: nodes.Node, base: _Type, name: str) -> _Type:
        if name.startswith("_"):
            self.problem(node, f"'{name}' is not available (internal attribute)")
            return _SCALAR
        if name in ("format", "format_map"):  # format strings reach attributes by name
            self.problem(node, f"'{name}' is not available: join text with ~ instead")
            return _SCALAR
        kind, label, path = base
        if kind == "list":
            self.problem(node, f"'{path}' is a list: loop over it with {{% for item in ... %}}")
            return _SCALAR
        if kind != "model":
            return _SCALAR
        from django.apps import apps

        model = apps.get_model(label)
        if name not in self.render_fields.get(label, ()):
            self.problem(node, f"unknown field '{name}' on {model._meta.verbose_name}")
            return _SCALAR
        f = model._meta.get_field(name)
        if not f.is_relation:
            return _SCALAR
        sub = f"{path}__{name}" if path else name
        self.prefetch.add(sub)
        related = f.related_model._meta.label_lower
        return ("list" if f.many_to_many or f.one_to_many else "model", related, sub)


def _check_source(
    source: str, env: _Environment, root_label: str, render_fields: RenderFields, what: str
) -> tuple[list[TemplateProblem], set[str]]:
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno or 1, f"{what}: {exc.message}")], set()
    checker = _Checker(root_label, render_fields)
    checker.visit(tree, {})
    problems = [TemplateProblem(p.line, f"{what}: {p.reason}") for p in checker.problems]
    if not problems:
        try:
            env.from_string(source)
        except TemplateError as exc:  # unknown filters and tests are found at compile time
            line = getattr(exc, "lineno", 1) or 1
            problems.append(TemplateProblem(line, f"{what}: {exc.message or exc}"))
    return problems, checker.prefetch


def _template_parts(template: Any) -> list[tuple[str, str, _Environment]]:
    if template.kind == "sms":
        return [("text", template.body_text or "", TEXT_ENV)]
    parts = [
        ("subject", template.subject or "", TEXT_ENV),
        ("preview text", template.preview_text or "", TEXT_ENV),
        ("body", template.body_html or "", HTML_ENV),
    ]
    if (template.body_text or "").strip():
        parts.append(("text part", template.body_text, TEXT_ENV))
    return parts


def validate_template(template: Any, render_fields: RenderFields) -> list[TemplateProblem]:
    """Problems that make `template` unusable (empty list when it is fine): syntax errors,
    unknown variables or fields, sandbox escapes. Each names its line and the part concerned."""
    from django.apps import apps

    problems: list[TemplateProblem] = []
    try:
        apps.get_model(template.target)
    except (LookupError, ValueError):
        return [TemplateProblem(1, f"unknown target '{template.target}'")]
    if template.kind == "email":
        if not (template.subject or "").strip():
            problems.append(TemplateProblem(1, "subject: a subject is required"))
        if not (template.body_html or "").strip():
            problems.append(TemplateProblem(1, "body: the body is empty"))
    elif not (template.body_text or "").strip():
        problems.append(TemplateProblem(1, "text: the text is empty"))
    for what, source, env in _template_parts(template):
        found, _ = _check_source(source, env, template.target, render_fields, what)
        problems.extend(found)
    return problems


def validate_source(
    source: str, target: str, render_fields: RenderFields, html: bool = True
) -> list[TemplateProblem]:
    """Problems of one piece of template text (a design block's field, a subject): syntax,
    unknown variables, fields the target does not allow. `html`: autoescaped like a body."""
    problems, _ = _check_source(source, HTML_ENV if html else TEXT_ENV, target, render_fields, "-")
    return [TemplateProblem(p.line, p.reason.removeprefix("-: ")) for p in problems]


# --- Compilation ----------------------------------------------------------------------------


@dataclass
class CompiledEmail:
    subject: Any
    preview_text: Any | None
    html: Any
    text: Any | None  # None: derive from each rendered HTML
    links: list[tuple[str, str]]  # (url, title) by marker index
    prefetch: list[str]
    inline_css: bool


@dataclass
class CompiledSms:
    text: Any
    links: list[tuple[str, str]]
    prefetch: list[str]
    footer: str = ""  # the opt-out line added under the text


_cache: OrderedDict[tuple, CompiledEmail | CompiledSms] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_key(template: Any, render_fields: RenderFields) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    for part in (
        template.kind,
        template.target,
        template.subject,
        template.preview_text,
        template.body_html,
        template.body_text,
    ):
        digest.update((part or "").encode())
        digest.update(b"\0")
    fields = tuple(sorted((k, tuple(v)) for k, v in render_fields.items()))
    return (template.pk, digest.hexdigest(), hash(fields))


def _cached(key: tuple, build: Any) -> Any:
    with _cache_lock:  # web threads share the cache
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    try:
        value = build()
    except TemplateError as exc:  # valid alone, broken by the added footer (an open raw block)
        raise RenderError(f"line {getattr(exc, 'lineno', 1) or 1}: {exc}") from exc
    with _cache_lock:
        _cache[key] = value
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def _is_trackable(url: str) -> bool:
    return url.lower().startswith(("http://", "https://")) and "{" not in url and "%%" not in url


def _mark_links(source: str) -> tuple[str, list[tuple[str, str]]]:
    """Replace static http(s) hrefs by numbered markers; returns the source and (url, title)."""
    links: list[tuple[str, str]] = []
    index: dict[str, int] = {}

    def replace(match: re.Match) -> str:
        start, quote, url, rest, inner = match.groups()
        url_text = html.unescape(url).strip()
        if not _is_trackable(url_text):
            return match.group(0)
        if url_text not in index:
            title = " ".join(html.unescape(_TAG_RE.sub(" ", inner)).split())[:255]
            index[url_text] = len(links)
            links.append((url_text, title))
        marker = LINK_MARKER.format(index[url_text])
        return f"{start}{quote}{marker}{quote}{rest}{inner}</a>"

    return _HREF_RE.sub(replace, source), links


def _missing_sender(source: str, sender: tuple[str, str]) -> str:
    """The sender's name and postal address on one line ("Name, street, city"), or "" when no
    address is configured or `source` already carries every line of it (as text or escaped in
    any way: `&#39;`, `&#x27;`, `&amp;`…)."""
    name, address = sender[0].strip(), sender[1]
    lines = [line.strip() for line in address.splitlines() if line.strip()]
    unescaped = html.unescape(source)
    if not any(line not in source and line not in unescaped for line in lines):
        return ""
    return ", ".join(([name] if name and name not in lines[0] else []) + lines)


def _literal(text: str) -> str:
    """`text` as the Jinja compiler must read it: literally (a raw block no text can close)."""
    return "{% raw %}" + text.replace("{%", "{ %") + "{% endraw %}"


def _footer(source: str, sender: tuple[str, str] = ("", "")) -> str:
    """The footer added to an email's HTML: the unsubscribe and view-online links the author
    left out, and the sender's name and postal address (the brand kit's; every marketing email
    must show it) when the HTML does not carry it already."""
    wanted = []
    if "unsubscribe_url" not in source:
        wanted.append('<a href="{{ unsubscribe_url }}">Unsubscribe</a>')
    if "view_online_url" not in source:
        wanted.append('<a href="{{ view_online_url }}">View in your browser</a>')
    sender_line = _missing_sender(source, sender)
    address = ""
    if sender_line:
        address = (
            '\n<p style="font-size:12px;color:#6b7280;text-align:center;margin:8px 0 24px">'
            + _literal(html.escape(sender_line))
            + "</p>\n"
        )
    if not wanted:
        return address
    margin = "24px 0 0" if address else "24px 0"
    return (
        f'\n<p style="font-size:12px;color:#6b7280;text-align:center;margin:{margin}">'
        + " &middot; ".join(wanted)
        + "</p>"
        + (address or "\n")
    )


def _text_footer(source: str, sender: tuple[str, str]) -> str:
    """The postal address under a plain-text part that lacks it."""
    sender_line = _missing_sender(source, sender)
    return f"\n\n--\n{_literal(sender_line)}\n" if sender_line else ""


def _before_body_end(source: str, addition: str) -> str:
    matches = list(_BODY_END_RE.finditer(source))
    if not matches:
        return source + addition
    at = matches[-1].start()
    return source[:at] + addition + source[at:]


def _after_body_start(source: str, addition: str) -> str:
    match = _BODY_START_RE.search(source)
    if not match:
        return addition + source
    return source[: match.end()] + addition + source[match.end() :]


class _TextExtractor(HTMLParser):
    """HTML to readable plain text: blocks become lines, links become 'text (url)'."""

    BLOCKS = {
        "p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol",
        "blockquote", "hr", "section", "article", "header", "footer",
    }  # fmt: skip
    SKIP = {"style", "script", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.href: str | None = None
        self.link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag in {"p", "h1", "h2", "h3", "table"} else "\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag == "a":
            self.href = dict(attrs).get("href")
            self.link_text = []
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "a" and self.href:
            text = "".join(self.link_text).strip()
            if self.href != text and not self.href.startswith("#"):
                self.parts.append(f" ({self.href})")
            self.href = None
        elif tag in self.BLOCKS and tag != "li":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        text = re.sub(r"\s+", " ", data)
        self.parts.append(text)
        if self.href is not None:
            self.link_text.append(text)

    def text(self) -> str:
        lines = [line.strip() for line in "".join(self.parts).splitlines()]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def html_to_text(source: str) -> str:
    parser = _TextExtractor()
    parser.feed(source)
    parser.close()
    return parser.text()


def compile_email(template: Any, render_fields: RenderFields) -> CompiledEmail:
    """The compiled form of an email template (cached per source). Raises RenderError when the
    template does not validate."""

    def build() -> CompiledEmail:
        problems = validate_template(template, render_fields)
        if problems:
            raise RenderError("; ".join(f"line {p.line}: {p.reason}" for p in problems))
        prefetch: set[str] = set()
        for _, source, env in _template_parts(template):
            prefetch |= _check_source(source, env, template.target, render_fields, "")[1]
        body, links = _mark_links(template.body_html)
        with_links = _before_body_end(body, _footer(body))
        body = _before_body_end(body, _footer(body, sender))
        text = None
        if (template.body_text or "").strip():
            text_source = _mark_links_text(template.body_text, links)
        else:  # from the HTML without the address line: the text gets it under a "--" line
            text_source = html_to_text(with_links)
        text_source += _text_footer(text_source, sender)
        try:
            text = TEXT_ENV.from_string(text_source)
        except TemplateError:
            text = None  # derived text not valid Jinja (rare): derive from each rendered HTML
        pixel = (
            '<img src="{{ open_pixel_url }}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0">'
        )
        body = _before_body_end(body, pixel)
        if (template.preview_text or "").strip():
            hidden = (
                '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
                "{{ preview_text }}</div>"
            )
            body = _after_body_start(body, hidden)
        return CompiledEmail(
            subject=TEXT_ENV.from_string(template.subject or ""),
            preview_text=(
                TEXT_ENV.from_string(template.preview_text)
                if (template.preview_text or "").strip()
                else None
            ),
            html=HTML_ENV.from_string(body),
            text=text,
            links=links,
            prefetch=sorted(prefetch),
            inline_css=bool(re.search(r"<style\b", body, re.I)),
        )

    brand = current_brand()
    sender = (brand.sender_name, brand.postal_address)
    return _cached(("email", sender, *_cache_key(template, render_fields)), build)


def _mark_links_text(source: str, links: list[tuple[str, str]]) -> str:
    """Replace static URLs of a plain text by markers, extending `links`."""
    index = {url: i for i, (url, _) in enumerate(links)}

    def replace(match: re.Match) -> str:
        if source[match.end() : match.end() + 1] == "{":  # ends in a placeholder: not static
            return match.group(0)
        url = match.group(0).rstrip(".,;:!?)")
        trailing = match.group(0)[len(url) :]
        if url not in index:
            index[url] = len(links)
            links.append((url, ""))
        return LINK_MARKER.format(index[url]) + trailing

    return _SMS_URL_RE.sub(replace, source)


def compile_sms(template: Any, render_fields: RenderFields) -> CompiledSms:
    def build() -> CompiledSms:
        problems = validate_template(template, render_fields)
        if problems:
            raise RenderError("; ".join(f"line {p.line}: {p.reason}" for p in problems))
        source = template.body_text
        _, prefetch = _check_source(source, TEXT_ENV, template.target, render_fields, "")
        links: list[tuple[str, str]] = []
        source = _mark_links_text(template.body_text, links)
        return CompiledSms(TEXT_ENV.from_string(source), links, sorted(prefetch), footer)

    footer = _sms_footer(template)
    return _cached(("sms", footer, *_cache_key(template, render_fields)), build)


def _sms_footer(template: Any) -> str:
    return sms_text.optout_footer() if getattr(template, "sms_optout_footer", False) else ""


def sms_as_sent(template: Any) -> str:
    """The text of SMS `template` as it is sent, its placeholders left as written: static
    links in their sent form (shortened when tracked), the opt-out footer added. What the
    editor and the API count before a record fills the placeholders."""
    links: list[tuple[str, str]] = []
    source = _mark_links_text(template.body_text, links)
    sent = [shortlinks.sent_form(url) for url, _ in links]
    text = _MARKER_RE.sub(lambda m: sent[int(m.group(1))] if m.group(1) else "", source)
    return sms_text.with_footer(text.strip(), _sms_footer(template))


# --- Rendering ------------------------------------------------------------------------------

_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class MessageUrls:
    """The per-message URLs put into a rendering (tracked link URLs by marker index)."""

    token: str
    link_urls: list[str]
    unsubscribe_url: str
    view_online_url: str
    open_pixel_url: str
    stop_url: str = ""


@dataclass
class RenderedEmail:
    subject: str
    html: str
    text: str
    preview_text: str = ""


@dataclass
class Preview:
    subject: str
    html: str
    text: str
    problems: list[TemplateProblem] = field(default_factory=list)
    error: str = ""


def _fill_markers(rendered: str, urls: MessageUrls, in_html: bool = False) -> str:
    def replace(match: re.Match) -> str:
        if match.group(1) is None:
            return urls.token
        i = int(match.group(1))
        url = urls.link_urls[i] if i < len(urls.link_urls) else ""
        return html.escape(url) if in_html else url

    return _MARKER_RE.sub(replace, rendered)


def prefetch_records(records: list[models.Model], prefetch: list[str]) -> None:
    """Load the relations a template uses for all records at once (no per-record queries)."""
    if records and prefetch:
        prefetch_related_objects(records, *prefetch)


def record_view(record: models.Model, render_fields: RenderFields) -> RecordView:
    return RecordView(record, type(record), render_fields)


def render_email(
    compiled: CompiledEmail, record: models.Model, render_fields: RenderFields, urls: MessageUrls
) -> RenderedEmail:
    """Render one email for `record`; raises RenderError with the reason on failure."""
    context = {
        "record": record_view(record, render_fields),
        "unsubscribe_url": urls.unsubscribe_url,
        "view_online_url": urls.view_online_url,
        "stop_url": urls.stop_url,
    }
    try:
        subject = " ".join(compiled.subject.render(context).split())
        preview_text = (
            " ".join(compiled.preview_text.render(context).split()) if compiled.preview_text else ""
        )
        body = compiled.html.render(
            context, open_pixel_url=urls.open_pixel_url, preview_text=preview_text
        )
        text = compiled.text.render(context) if compiled.text is not None else None
    except Exception as exc:  # a record that fails errors its own message, not the batch
        raise RenderError(_describe(exc)) from exc
    body = _fill_markers(body, urls, in_html=True)
    if compiled.inline_css:
        try:
            body = _INLINER.inline(body)
        except ValueError as exc:
            raise RenderError(f"CSS could not be inlined: {exc}") from exc
    text = _fill_markers(text, urls) if text is not None else html_to_text(body)
    return RenderedEmail(subject[:255], body, text, preview_text)


def render_sms(
    compiled: CompiledSms, record: models.Model, render_fields: RenderFields, urls: MessageUrls
) -> str:
    context = {"record": record_view(record, render_fields), "stop_url": urls.stop_url}
    try:
        text = compiled.text.render(context)
    except Exception as exc:
        raise RenderError(_describe(exc)) from exc
    return sms_text.with_footer(_fill_markers(text, urls).strip(), compiled.footer)


def _describe(exc: Exception) -> str:
    line = getattr(exc, "lineno", None)
    where = f"line {line}: " if line else ""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"render failed: {where}{message}"


def preview(template: Any, record: models.Model, render_fields: RenderFields) -> Preview:
    """The template rendered for `record`, links pointing at their real targets (for the
    editor). Problems or a render error are reported in the result, never raised."""
    problems = validate_template(template, render_fields)
    if problems:
        return Preview("", "", "", problems=problems)
    urls = MessageUrls(
        token="preview",
        link_urls=[],
        unsubscribe_url="#unsubscribe",
        view_online_url="#view-online",
        open_pixel_url="data:image/gif;base64,R0lGODlhAQABAAAAACw=",
        stop_url="#stop",
    )
    try:
        if template.kind == "sms":  # as sent: links shortened, the stop URL at its length
            compiled_sms = compile_sms(template, render_fields)
            urls = replace(
                urls,
                link_urls=[shortlinks.sent_form(u) for u, _ in compiled_sms.links],
                stop_url=f"{settings.BASE_URL}/sms/stop/{'X' * TOKEN_LENGTH}",
            )
            text = render_sms(compiled_sms, record, render_fields, urls)
            return Preview("", "", text)
        compiled = compile_email(template, render_fields)
        urls = _with_links(urls, [u for u, _ in compiled.links])
        rendered = render_email(compiled, record, render_fields, urls)
    except RenderError as exc:
        return Preview("", "", "", error=str(exc))
    return Preview(rendered.subject, rendered.html, rendered.text)


def _with_links(urls: MessageUrls, link_urls: list[str]) -> MessageUrls:
    return MessageUrls(
        urls.token,
        link_urls,
        urls.unsubscribe_url,
        urls.view_online_url,
        urls.open_pixel_url,
        urls.stop_url,
    )


# Registered by the layer that knows which fields templates may use (automation registers
# targets.FILTERABLE in its AppConfig.ready); used where no caller passes them (view online).
_registered_render_fields: RenderFields = {}


def register_render_fields(render_fields: RenderFields) -> None:
    _registered_render_fields.clear()
    _registered_render_fields.update(render_fields)


def registered_render_fields() -> RenderFields:
    return _registered_render_fields
