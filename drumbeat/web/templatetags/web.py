"""Template tags of the web UI: navigation, icons, pagination links, small formatters."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.http import urlencode

from drumbeat.web.navigation import build_navigation

register = template.Library()

ICON_ALIASES = {"email": "mail", "server_action": "action"}


@register.simple_tag(takes_context=True)
def navigation(context):
    request = context["request"]
    user = request.user
    return build_navigation(request.path, bool(getattr(user, "is_administrator", False)))


@register.simple_tag
def icon(name: str, label: str = ""):
    """An inline SVG icon from the sprite in base.html; decorative unless `label` is given."""
    name = ICON_ALIASES.get(name, name)
    if label:
        return format_html(
            '<svg class="icon" role="img" aria-label="{}"><use href="#i-{}"></use></svg>',
            label,
            name,
        )
    return format_html('<svg class="icon" aria-hidden="true"><use href="#i-{}"></use></svg>', name)


@register.simple_tag(takes_context=True)
def query(context, **changes):
    """The current query string with `changes` applied (None removes a key)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + urlencode(sorted(params.lists()), doseq=True) if params else "?"


@register.filter
def percent(value, total):
    """`value` as a whole percentage of `total` ('0%' when total is 0)."""
    try:
        return f"{round(100 * float(value) / float(total))}%" if total else "0%"
    except (TypeError, ValueError):
        return "–"


@register.filter
def initials(user) -> str:
    name = getattr(user, "display_name", "") or str(user)
    parts = name.split()
    return "".join(p[0] for p in parts[:2]) or "?"


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.inclusion_tag("web/filters/_builder.html", takes_context=True)
def filter_builder(
    context,
    target_key: str,
    name: str = "domain",
    value=None,
    fb_id: str = "fb",
    archived_selector: str = "",
    include_archived: bool = False,
    base_domain=None,
    errors=None,
    apply_url: str = "",
):
    """The filter builder component for `target_key`, writing its JSON into field `name`.

    `base_domain` (a list) is AND-ed into the count (an activity's inherited filter)."""
    import json

    from drumbeat.automation.targets import get_target
    from drumbeat.web.views_filters import count_context, favorite_rows

    request = context["request"]
    if value is None or value == "":
        text = "[]"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value)
    vals = {"field": name}
    if base_domain:
        vals["base_domain"] = json.dumps(base_domain)
    return {
        "request": request,
        "target_key": target_key,
        "name": name,
        "value": text,
        "fb_id": fb_id,
        "archived_selector": archived_selector,
        "hx_vals": json.dumps(vals),
        "favorites": favorite_rows(request, target_key),
        "count": count_context(get_target(target_key), text, include_archived, base_domain),
        "errors": errors,
        "apply_url": apply_url,
    }
