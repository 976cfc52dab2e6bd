"""The six campaign templates (docs/product.md#campaign-templates): the cards of the dashboard and
what they create.

`list_templates()` gives the cards (key, title, description, target, icon), in dashboard order.
`instantiate(key, user)` creates a New campaign as docs/product.md#campaign-templates describes —
target, unique field, filter, activities with their triggers and delays — together with the email
templates, server actions, tags and lists it uses. Those shared pieces are created once and reused:
they are found again by name (email templates by name and target, server actions by name, target and
kind, tags and lists by name) and re-created when deleted. A reused server action whose
configuration no longer validates (its tag or list was deleted) is repaired. Unknown keys raise
`UnknownTemplate` (a KeyError).

Prioritize Hot leads has an optional experiment (`instantiate(..., split=True)`, the cards'
`split` text): its goal is a won lead (within 30 days, then the lead leaves the workflow) and a
split sends 40 % of the leads the welcome email, 40 % a shorter one and keeps 20 % as a holdout
that receives nothing, each email with the card's open / not-opened priorities.

The emails are email-designer designs (`campaign_designs`), made from the brand kit
(`drumbeat.brand.kit.current_brand()`) when their template is created, and compiled to
responsive HTML by the template services like any designed template.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from drumbeat.brand.kit import current_brand
from drumbeat.contacts.models import Tag
from drumbeat.mailing import services as mailing_services
from drumbeat.mailing.models import MailingList, Template

from . import services
from .campaign_designs import design_for
from .models import Activity, Campaign, ServerAction
from .targets import FILTERABLE

CONTACT = "contacts.contact"
LEAD = "crm.lead"
MAILING_CONTACT = "mailing.mailingcontact"
HOT_TAG = "Hot"
NEWSLETTER = "Newsletter"
CONFIRMED = "Confirmed contacts"
LIST_DESCRIPTIONS = {
    NEWSLETTER: "Monthly product news and articles",
    CONFIRMED: "Subscribers who confirmed their address (double opt-in)",
}
EMAIL_SET = [["email", "!=", False]]
EMAIL_SET_NOT_BLACKLISTED = [*EMAIL_SET, ["is_blacklisted", "=", False]]
WHY = {
    CONTACT: "You receive this email because you are one of our contacts.",
    LEAD: "You receive this email because you asked us about our offer.",
    MAILING_CONTACT: "You receive this email because you subscribed to our mailing list.",
}


class UnknownTemplate(KeyError):
    """No campaign template has this key."""


@dataclass(frozen=True)
class CampaignTemplate:
    """A card of the dashboard (and of `GET /api/v1/campaign-templates`)."""

    key: str
    title: str
    description: str
    target: str  # target registry key
    icon: str  # icon name of the web UI
    split: str = ""  # what the optional split compares ("" = the template has none)


@dataclass(frozen=True)
class EmailDesign:
    name: str  # the template's name, its identity for reuse
    key: str  # its design in campaign_designs.EMAILS
    subject: str
    preview_text: str


# --- shared pieces, created once and reused -------------------------------------------------


def design_json(design: EmailDesign, target: str) -> dict[str, Any]:
    """The design of `design`'s email, made from the current brand."""
    return design_for(design.key, current_brand(), WHY[target])


def ensure_tag(name: str) -> Tag:
    return Tag.objects.get_or_create(name=name)[0]


def ensure_list(name: str) -> MailingList:
    return MailingList.objects.get_or_create(
        name=name, defaults={"description": LIST_DESCRIPTIONS.get(name, "")}
    )[0]


def ensure_email_template(design: EmailDesign, target: str) -> Template:
    found = (
        Template.objects.filter(name=design.name, target=target, kind=Template.Kind.EMAIL)
        .order_by("id")
        .first()
    )
    if found is not None:
        return found
    return mailing_services.create_template(
        FILTERABLE,
        name=design.name,
        kind=Template.Kind.EMAIL,
        target=target,
        subject=design.subject,
        preview_text=design.preview_text,
        design=design_json(design, target),
    )


def _is_valid(action: ServerAction) -> bool:
    try:
        action.clean()
    except ValidationError:
        return False
    return True


def ensure_action(
    name: str, target: str, kind: str, params: dict[str, Any] | None = None
) -> ServerAction:
    """The server action `name`, created with `params` if missing, repaired if invalid."""
    found = (
        ServerAction.objects.filter(name=name, target=target, kind=kind, parent=None)
        .order_by("id")
        .first()
    )
    if found is None:
        return ServerAction.objects.create(name=name, target=target, kind=kind, params=params or {})
    if not _is_valid(found):
        found.params = params or {}
        found.save()
    return found


def ensure_multi_action(
    name: str, target: str, steps: list[tuple[str, str, dict[str, Any]]]
) -> ServerAction:
    """A "run several actions" action with `steps` (name, kind, params) as its children; the
    children are re-created when one is missing or no longer valid."""
    parent = ensure_action(name, target, ServerAction.Kind.MULTI)
    children = list(parent.children.order_by("sequence", "id"))
    if [c.name for c in children] == [s[0] for s in steps] and all(map(_is_valid, children)):
        return parent
    parent.children.all().delete()
    for sequence, (child_name, kind, params) in enumerate(steps, start=1):
        ServerAction.objects.create(
            name=child_name,
            target=target,
            kind=kind,
            params=params,
            parent=parent,
            sequence=sequence * 10,
        )
    return parent


# --- building workflows ---------------------------------------------------------------------


def _email(
    campaign: Campaign,
    name: str,
    design: EmailDesign,
    trigger: str = Activity.Trigger.BEGIN,
    delay: tuple[int, str] = (0, "hours"),
    parent: Activity | None = None,
    branch: str = "",
) -> Activity:
    return services.create_activity(
        campaign,
        name=name,
        kind=Activity.Kind.EMAIL,
        template=ensure_email_template(design, campaign.target),
        trigger=trigger,
        parent=parent,
        branch=branch,
        delay_amount=delay[0],
        delay_unit=delay[1],
    )


def _action(
    campaign: Campaign,
    name: str,
    action: ServerAction,
    trigger: str = Activity.Trigger.BEGIN,
    delay: tuple[int, str] = (0, "hours"),
    parent: Activity | None = None,
) -> Activity:
    return services.create_activity(
        campaign,
        name=name,
        kind=Activity.Kind.ACTION,
        server_action=action,
        trigger=trigger,
        parent=parent,
        delay_amount=delay[0],
        delay_unit=delay[1],
    )


def _task(kind: str, summary: str, note: str = "") -> dict[str, Any]:
    """Params of a create-activity action: due in 2 days, for the record's salesperson."""
    return {
        "activity_type": kind,
        "summary": summary,
        "note": note,
        "due_amount": 2,
        "due_unit": "days",
        "user_field": "salesperson",
    }


T = Activity.Trigger
K = ServerAction.Kind

WELCOME_CONTACT = EmailDesign(
    "Tag Hot Contacts: welcome email",
    "welcome_contact",
    'Welcome, {{ record.name or "there" }}!',
    "Good to have you with us: here is where to start.",
)
WELCOME_DISCOUNT = EmailDesign(
    "Welcome Flow: 10% welcome discount",
    "welcome_discount",
    "Your 10% welcome discount is inside",
    "Use code WELCOME10 on your first order.",
)
CONFIRMATION = EmailDesign(
    "Double Opt-in: confirmation",
    "confirm_subscription",
    "Please confirm your subscription",
    "One click and you are in.",
)
CATALOG_OFFER = EmailDesign(
    "Commercial prospection: free catalog",
    "catalog_offer",
    "Your free copy of our new catalog",
    "64 pages of products, prices and examples, free.",
)
PARTNERSHIP = EmailDesign(
    "Commercial prospection: join partnership",
    "partnership",
    'Become a partner, {{ record.name or "there" }}',
    "Partner prices, a dedicated contact and free training.",
)
CATALOG_REMINDER = EmailDesign(
    "Commercial prospection: catalog reminder",
    "catalog_reminder",
    "Did you see our catalog?",
    "Your free copy is still waiting for you.",
)
LEAD_WELCOME = EmailDesign(
    "Prioritize Hot leads: welcome email",
    "lead_welcome",
    'Thanks for reaching out, {{ record.contact_name or "there" }}',
    "Pick a time for a short call with your adviser.",
)


def build_tag_hot_contacts(campaign: Campaign) -> None:
    hot = ensure_tag(HOT_TAG)
    email = _email(campaign, "Send welcome email", WELCOME_CONTACT, delay=(2, "hours"))
    tag = ensure_action(
        'Add tag "Hot"',
        CONTACT,
        K.UPDATE_RECORD,
        {"field": "tags", "operation": "add", "value": [hot.pk]},
    )
    _action(campaign, 'Add tag "Hot"', tag, T.MAIL_CLICK, (2, "hours"), email)
    check = ensure_action(
        "Check email address",
        CONTACT,
        K.CREATE_ACTIVITY,
        _task("todo", "Check email address", "The welcome email to this contact bounced."),
    )
    _action(campaign, "Check email address", check, T.MAIL_BOUNCE, (2, "hours"), email)


def build_welcome_flow(campaign: Campaign) -> None:
    email = _email(campaign, "Send 10% welcome discount", WELCOME_DISCOUNT, delay=(2, "hours"))
    blacklist = ensure_action(
        "Blacklist bounced address",
        MAILING_CONTACT,
        K.BLACKLIST_EMAIL,
        {"reason": "Bounced on the welcome email"},
    )
    _action(campaign, "Blacklist bounced address", blacklist, T.MAIL_BOUNCE, (2, "hours"), email)


def build_double_optin(campaign: Campaign) -> None:
    confirmed = ensure_list(CONFIRMED)
    email = _email(campaign, "Confirmation", CONFIRMATION, delay=(1, "hours"))
    add = ensure_action(
        f'Add to list "{CONFIRMED}"',
        MAILING_CONTACT,
        K.ADD_TO_LIST,
        {"list_id": confirmed.pk},
    )
    _action(campaign, f'Add to list "{CONFIRMED}"', add, T.MAIL_CLICK, (0, "hours"), email)


def build_commercial_prospection(campaign: Campaign) -> None:
    offer = _email(campaign, "Offer free catalog", CATALOG_OFFER, delay=(1, "hours"))
    _email(campaign, "Join partnership", PARTNERSHIP, T.MAIL_CLICK, (3, "days"), offer)
    _email(campaign, "Catalog reminder", CATALOG_REMINDER, T.MAIL_NOT_OPEN, (7, "days"), offer)
    alert = ensure_multi_action(
        "Alert salesperson",
        CONTACT,
        [
            ("Post note: interested", K.POST_NOTE, {"body": "{{ record.name }} is interested"}),
            (
                "Call activity for the salesperson",
                K.CREATE_ACTIVITY,
                _task("call", "Call back: replied to the catalog offer"),
            ),
        ],
    )
    _action(campaign, "Alert salesperson", alert, T.MAIL_REPLY, (1, "hours"), offer)


def build_schedule_calls(campaign: Campaign) -> None:
    call = ensure_action(
        "Schedule call",
        LEAD,
        K.CREATE_ACTIVITY,
        _task("call", "Call about this new lead", "A lead was created for an existing contact."),
    )
    _action(campaign, "Schedule call", call, delay=(2, "hours"))


LEAD_WELCOME_SHORT = EmailDesign(
    "Prioritize Hot leads: short welcome email",
    "lead_welcome_short",
    '20 minutes this week, {{ record.contact_name or "there" }}?',
    "No slides, just your questions.",
)
WON = [["stage.is_won", "=", True]]
SPLIT_BRANCHES = [
    {"name": "Welcome email", "weight": 40},
    {"name": "Short email", "weight": 40},
    {"name": "Holdout", "weight": 20},
]


def build_prioritize_hot_leads(campaign: Campaign, split: bool = False) -> None:
    if not split:
        _welcome_lead(campaign, LEAD_WELCOME, "Send welcome email", delay=(1, "hours"))
        return
    services.update_campaign(
        campaign,
        domain=[*campaign.domain, ["stage.is_won", "=", False]],  # won ones have converted
        goal_domain=WON,
        goal_window_days=30,
        exit_on_goal=True,
    )
    test = services.create_activity(
        campaign,
        name="Welcome email test",
        kind=Activity.Kind.SPLIT,
        branches=SPLIT_BRANCHES,
        trigger=T.BEGIN,
        delay_amount=1,
        delay_unit="hours",
    )
    _welcome_lead(campaign, LEAD_WELCOME, "Send welcome email", parent=test, branch="Welcome email")
    _welcome_lead(
        campaign, LEAD_WELCOME_SHORT, "Send short welcome", parent=test, branch="Short email"
    )


def _welcome_lead(
    campaign: Campaign,
    design: EmailDesign,
    name: str,
    delay: tuple[int, str] = (0, "hours"),
    parent: Activity | None = None,
    branch: str = "",
) -> None:
    """The welcome email of a lead, then its priority: Very high on open, Low if not opened."""
    trigger = T.BEGIN if parent is None else T.ACTIVITY
    email = _email(campaign, name, design, trigger, delay, parent, branch)
    high = ensure_action(
        "Set priority Very high",
        LEAD,
        K.UPDATE_RECORD,
        {"field": "priority", "operation": "set", "value": 3},
    )
    _action(campaign, "Set priority Very high", high, T.MAIL_OPEN, (0, "hours"), email)
    low = ensure_action(
        "Set priority Low",
        LEAD,
        K.UPDATE_RECORD,
        {"field": "priority", "operation": "set", "value": 0},
    )
    _action(campaign, "Set priority Low", low, T.MAIL_NOT_OPEN, (6, "hours"), email)


@dataclass(frozen=True)
class _Setup:
    template: CampaignTemplate
    domain: list  # the campaign's filter
    build: Callable[..., None]  # adds the activities (and what they use); split=True option
    lists: tuple[str, ...] = ()  # lists the filter refers to, ensured to exist


_SETUPS = [
    _Setup(
        CampaignTemplate(
            "tag_hot_contacts",
            "Tag Hot Contacts",
            "Send a welcome email to contacts and tag them if they click it.",
            CONTACT,
            "tag",
        ),
        # Not "not blacklisted": a hard bounce blacklists the address at once, and the
        # "Check email address" step must still reach the salesperson. Blacklisted addresses
        # are never emailed anyway (the sending rules cancel their message).
        EMAIL_SET,
        build_tag_hot_contacts,
    ),
    _Setup(
        CampaignTemplate(
            "welcome_flow",
            "Welcome Flow",
            "Send a welcome email to new subscribers, remove the address that bounced.",
            MAILING_CONTACT,
            "mail",
        ),
        EMAIL_SET_NOT_BLACKLISTED,
        build_welcome_flow,
    ),
    _Setup(
        CampaignTemplate(
            "double_optin",
            "Double Opt-in",
            "Send an email to new recipients to confirm their consent.",
            MAILING_CONTACT,
            "double-check",
        ),
        [
            *EMAIL_SET_NOT_BLACKLISTED,
            ["subscriptions", "any", [["list.name", "=", NEWSLETTER], ["opt_out", "=", False]]],
        ],
        build_double_optin,
        lists=(NEWSLETTER,),
    ),
    _Setup(
        CampaignTemplate(
            "commercial_prospection",
            "Commercial prospection",
            "Send a free catalog and follow-up according to reactions.",
            CONTACT,
            "megaphone",
        ),
        EMAIL_SET,
        build_commercial_prospection,
    ),
    _Setup(
        CampaignTemplate(
            "schedule_calls",
            "Schedule Calls",
            "If a lead is created for existing contact, schedule a call with their salesperson.",
            LEAD,
            "phone-call",
        ),
        [["contact", "!=", False], ["salesperson", "!=", False]],
        build_schedule_calls,
    ),
    _Setup(
        CampaignTemplate(
            "prioritize_hot_leads",
            "Prioritize Hot leads",
            "Send an email to new leads and assign them a high priority if they open it.",
            LEAD,
            "star",
            split="Test the welcome email: 40 % get it, 40 % a shorter one, 20 % nothing; "
            "goal: the lead is won.",
        ),
        [["salesperson", "!=", False]],
        build_prioritize_hot_leads,
    ),
]
_BY_KEY = {s.template.key: s for s in _SETUPS}
KEYS = tuple(_BY_KEY)


def list_templates() -> list[CampaignTemplate]:
    """The six cards, in their order on the dashboard."""
    return [s.template for s in _SETUPS]


def get_template(key: str) -> CampaignTemplate:
    try:
        return _BY_KEY[key].template
    except KeyError:
        raise UnknownTemplate(key) from None


def template_domain(key: str) -> list:
    """The filter a campaign of template `key` starts with (a fresh copy)."""
    get_template(key)
    return copy.deepcopy(_BY_KEY[key].domain)


def instantiate(
    key: str, user: Any = None, name: str | None = None, split: bool = False
) -> Campaign:
    """Create the New campaign of template `key` for `user` (its responsible), with its
    activities and the templates, actions, tags and lists they use. `split`: with the
    template's optional experiment (ValidationError for a template that has none)."""
    setup = _BY_KEY.get(key)
    if setup is None:
        raise UnknownTemplate(key)
    template = setup.template
    if split and not template.split:
        raise ValidationError({"split": f"The template {template.title!r} has no split."})
    with transaction.atomic():
        for list_name in setup.lists:
            ensure_list(list_name)
        campaign = services.create_campaign(
            name or template.title,
            template.target,
            owner=user,
            domain=template_domain(key),
            unique_field="email",
        )
        setup.build(campaign, split=True) if split else setup.build(campaign)
    return campaign
