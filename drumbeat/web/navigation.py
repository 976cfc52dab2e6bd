"""The application's navigation: four sections, each with the pages listed in its sub-nav.

Entries whose route does not exist (yet) are left out, admin-only entries are hidden from
marketing users (and their views refuse them with 403, see access.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class Item:
    label: str
    url_name: str
    kwargs: dict = field(default_factory=dict)
    admin_only: bool = False
    also_matches: tuple[str, ...] = ()  # extra path prefixes that make this entry current


@dataclass(frozen=True)
class Section:
    label: str
    items: tuple[Item, ...]


SECTIONS = (
    Section("Campaigns", (Item("Campaigns", "campaign_list"),)),
    Section(
        "Records",
        (
            Item("Contacts", "record_list", {"kind": "contacts"}),
            Item("Leads", "record_list", {"kind": "leads"}),
            Item("Events", "record_list", {"kind": "events"}),
            Item("Registrations", "record_list", {"kind": "registrations"}),
            Item("Mailing lists", "record_list", {"kind": "mailing-lists"}),
            Item("Mailing contacts", "record_list", {"kind": "mailing-contacts"}),
            Item(
                "Blacklists",
                "record_list",
                {"kind": "email-blacklist"},
                admin_only=True,
                also_matches=("/records/phone-blacklist/",),
            ),
        ),
    ),
    Section(
        "Reporting",
        (
            Item("Participants", "participant_report"),
            Item("Traces", "trace_report"),
            Item("Link tracker", "link_report"),
            Item("Outbox", "outbox"),
        ),
    ),
    Section(
        "Configuration",
        (
            Item("Templates", "template_list"),
            Item("Brand kit", "brand_kit"),
            Item("Media library", "media_library"),
            Item("Server actions", "server_action_list"),
            Item("Users", "user_list", admin_only=True),
            Item("API tokens", "token_list", admin_only=True),
            Item(
                "Webhooks",
                "webhook_list",
                admin_only=True,
                also_matches=("/configuration/webhook-deliveries/",),
            ),
            Item("Contact pressure", "pressure_settings", admin_only=True),
            Item("Settings", "settings_overview", admin_only=True),
        ),
    ),
)


@dataclass
class Link:
    label: str
    url: str
    current: bool = False


@dataclass
class NavSection:
    label: str
    url: str
    links: list[Link]
    current: bool = False


def build_navigation(path: str, is_admin: bool) -> list[NavSection]:
    """The sections and links visible to this user, with the current ones marked."""
    result = []
    for section in SECTIONS:
        links = []
        for item in section.items:
            if item.admin_only and not is_admin:
                continue
            try:
                url = reverse(item.url_name, kwargs=item.kwargs)
            except NoReverseMatch:
                continue
            current = any(path.startswith(p) for p in (url, *item.also_matches))
            links.append(Link(item.label, url, current))
        if links:
            current = any(link.current for link in links)
            result.append(NavSection(section.label, links[0].url, links, current))
    return result
